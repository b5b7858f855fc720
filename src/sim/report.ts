/**
 * The shape of a run report: what `simulate` (virtual time) and `apiary load` (live hive) both
 * produce, what `--json` prints and what the HTML report draws. Plain JSON only (no Maps, no
 * Errors, no functions), so a report round-trips through `JSON.stringify` unchanged and the same
 * scenario and seed give byte-identical output.
 *
 * Times are in ms on the hive clock, measured from the start of the run (virtual ms in a
 * simulation, wall ms in a live run).
 *
 * @module
 */
import type { TaskCounts } from "../../actors/queen.ts";

/** Latency figures, ms. */
export interface LatencyFigures {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/** One bucket of a latency histogram: `count` samples in (previous bucket's `upperMs`, `upperMs`]. */
export interface HistogramBucket {
  upperMs: number;
  count: number;
}

/** One sample of the run over time, taken every `sampleEveryMs`. */
export interface SeriesPoint {
  /** Time since the run started, ms. */
  t: number;
  /** Tasks completed in the interval that ends at `t`. */
  completed: number;
  /** Tasks that ended in any other terminal state in that interval. */
  failed: number;
  /** Completed per second over that interval. */
  throughputPerSec: number;
  /** Tasks waiting (queued or in retry backoff) at `t`. */
  queued: number;
  /** Attempts running at `t`. */
  running: number;
}

/** One agent's figures over the run. */
export interface AgentFigures {
  id: string;
  completed: number;
  failed: number;
  /** Busy slot-time ÷ (concurrency × run time), in [0, 1]. */
  utilisation: number;
  restarts: number;
  /** Times its breaker opened. */
  breakerTrips: number;
}

/** Something that happened to an agent, for the state timeline. */
export interface AgentMark {
  t: number;
  agentId: string;
  what: "crashed" | "restarting" | "restarted" | "failed" | "added" | "removed" | "breaker.open" | "breaker.halfOpen" | "breaker.closed";
}

/** Terminal-state counts (the hive's counters less the live ones); `accepted = completed + failed + cancelled + deadLettered + shed`. */
export type TaskTotals = Omit<TaskCounts, "queued" | "running">;

/** The report of one run. */
export interface RunReport {
  /** `simulation`: virtual time; `load`: one level of a live load test. */
  mode: "simulation" | "load";
  /** The scenario's name. */
  scenario: string;
  /** The seed (simulation), or null. */
  seed: number | null;
  /** Hive-clock time the run covered, ms (warm-up excluded). */
  durationMs: number;
  /** Warm-up left out of every figure but the series, ms. */
  warmupMs: number;
  /** Wall-clock time the run took, ms. Left out of `--json` output of simulations (not reproducible). */
  wallMs?: number;
  tasks: TaskTotals;
  /** Completed tasks per second of hive-clock time. */
  throughputPerSec: number;
  /** Submit-to-completion latency of completed tasks. */
  latencyMs: LatencyFigures;
  /** Time completed tasks waited before their first attempt started. */
  waitMs: LatencyFigures;
  /** Submit-to-completion latency histogram. */
  histogram: HistogramBucket[];
  series: SeriesPoint[];
  /** Interval between series points, ms. */
  sampleEveryMs: number;
  agents: AgentFigures[];
  marks: AgentMark[];
  /** Mode-specific figures (e.g. `inFlight` of a load level, Little's-law checks). */
  extra: Record<string, number | string | boolean>;
}

/** The report of a live load test: one run report per in-flight level. */
export interface LoadReport {
  mode: "load";
  scenario: string;
  levels: (RunReport & { inFlight: number; successRate: number })[];
}

/** A figure aggregated over replicas: mean and a 95% confidence interval (Student's t). */
export interface Estimate {
  n: number;
  mean: number;
  stddev: number;
  ci95: [number, number];
}

/** The report of `apiary sweep`: one row per parameter combination. */
export interface SweepReport {
  mode: "sweep";
  scenario: string;
  replicas: number;
  /** The parameters varied, by dotted key. */
  vary: Record<string, (string | number | boolean)[]>;
  rows: { params: Record<string, string | number | boolean>; figures: Record<string, Estimate> }[];
  threads: number;
  wallMs?: number;
}
