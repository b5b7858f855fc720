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
import type { Capabilities } from "../../actors/types.ts";

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
  /** Latency percentiles of the tasks that completed in the interval, ms; absent when none did. */
  latencyP50Ms?: number;
  latencyP95Ms?: number;
  latencyP99Ms?: number;
}

/** One agent's figures over the run. */
export interface AgentFigures {
  id: string;
  /** Attempts it completed inside the window. */
  completed: number;
  /**
   * Attempts that failed on it inside the window — every failed attempt, including those the task
   * then retried and completed (so it is not the task table's `failed`, which counts tasks by how
   * they finally ended).
   */
  failed: number;
  /** Of `failed`, attempts that failed fast on an open dependency breaker (not the agent's fault). */
  fastFails?: number;
  /** What it can do (absent when the recorder was not told). */
  capabilities?: Capabilities;
  /** Attempts it runs at once. */
  concurrency?: number;
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
  /** `completed / accepted` of the cohort (1 when nothing was accepted). */
  successRate?: number;
  /** The same figures for each priority that had tasks, in rank order. */
  byPriority?: Record<string, GroupFigures>;
  /** The same figures for each task kind, in the scenario's (or first-seen) order. */
  byKind?: Record<string, GroupFigures>;
  /** Where the completed tasks' time went, mean ms per task: the parts add up to the mean latency. */
  timeBreakdown?: TimeBreakdown;
  /** Little's law over the window, with the terms that make it reconcile exactly. */
  littlesLaw?: LittlesLaw;
  /** Windows of injected faults (simulation), ms from the start of the run. */
  faultWindows?: FaultWindow[];
  /** Where the capacity runs out, and what would relieve it. */
  bottleneck?: Bottleneck;
  /** The run's targets (`--target`) and whether each was met. */
  targets?: TargetResult[];
}

/** Figures of one group of tasks (one priority, or one kind). Counts cover the cohort. */
export interface GroupFigures {
  /** The group's tasks accepted, and how they ended. */
  accepted: number;
  completed: number;
  failed: number;
  deadLettered: number;
  shed: number;
  cancelled: number;
  /** Refused at submit (never accepted); per kind only (a rejected task's priority is not reported). */
  rejected: number;
  /** Attempts retried. */
  retried: number;
  /** `completed / accepted`, 1 when nothing was accepted. */
  successRate: number;
  /** Completed per second inside the window. */
  throughputPerSec: number;
  latencyMs: LatencyFigures;
  waitMs: LatencyFigures;
  /** Where its completed tasks' time went. */
  timeBreakdown: TimeBreakdown;
  /** A kind's capability requirements (absent when the recorder was not told). */
  requires?: Capabilities;
}

/**
 * Mean ms per completed task spent in each phase, from submit to completion; the parts add up
 * to the mean latency (up to rounding).
 */
export interface TimeBreakdown {
  /** Tasks the means are over (completed ones). */
  count: number;
  /** Waiting for an agent's slot: queued, no eligible agent free (first attempt and retries). */
  waitSlotMs: number;
  /** Placed on an agent, waiting for a worker thread to start it (live runs; 0 in a simulation, whose attempts start when placed). */
  waitThreadMs: number;
  /** Running attempts: the one that completed and any that failed before it (slow failures, timeouts, crashes). */
  runMs: number;
  /** Waiting out retry backoff after a failed attempt. */
  backoffMs: number;
  /** Attempts that failed fast on an open dependency breaker. */
  fastFailMs: number;
  /** Attempts that failed fast on an open breaker, per completed task. */
  fastFailAttempts: number;
}

/**
 * Little's law, L = λ·W, over the measurement window of length T, made exact:
 * `meanInSystem = arrivalsPerSec × meanTimeInSystemMs / 1000 + carriedIn − spilledOut`.
 */
export interface LittlesLaw {
  /** L: tasks in the hive (accepted, not ended — any outcome), averaged over the window. */
  meanInSystem: number;
  /** λ: tasks accepted per second inside the window. */
  arrivalsPerSec: number;
  /** W: mean time from submit to end of those tasks, whatever their end (completed, failed, dead-lettered, shed, cancelled), ms. */
  meanTimeInSystemMs: number;
  /** λ·W. */
  lambdaW: number;
  /** Tasks accepted before the window (in the warm-up) that were still in the hive during it: their time inside the window ÷ T. */
  carriedIn: number;
  /** Tasks accepted inside the window that were still in the hive after it: their time after the window ÷ T. */
  spilledOut: number;
  /** Tasks accepted inside the window that had not ended when the report was made (their time counts up to then). */
  unfinished: number;
}

/** A window of an injected fault. */
export interface FaultWindow {
  what: "outage" | "latencySpike";
  /** The dependency, for an outage. */
  dependency?: string;
  fromMs: number;
  toMs: number;
}

/** How a statement of the bottleneck analysis was obtained. */
export type Method = "measured" | "erlang-c" | "closed-loop" | "re-simulation";

/** The agents that can serve one kind (meet its `requires`), and how busy they are. */
export interface PoolFigures {
  /** The kind. */
  kind: string;
  requires: Capabilities;
  /** Agents that meet every requirement, and their slots. */
  agents: number;
  slots: number;
  /** Busy slot-time of those agents ÷ their capacity over the window (whatever kinds they ran). */
  utilisation: number;
  /** Slots' worth of work the kind brought: completed per second × mean run time. */
  offeredSlots: number;
  /** The kind's wait for a slot, p95 and mean, ms. */
  waitP95Ms: number;
  waitMeanMs: number;
  /** Share of all time spent waiting for a slot (over every kind) that this kind's tasks spent. */
  shareOfWaiting: number;
}

/** The bottleneck analysis of a run. */
export interface Bottleneck {
  /** One entry per kind with requirements an agent can meet. */
  pools: PoolFigures[];
  /** Per capability: the agents that have it (at the lowest level any kind asks) and their utilisation. */
  capabilities: { capability: string; minLevel: number; agents: number; slots: number; utilisation: number }[];
  /** The resource that saturates first as the load grows, or null when nothing is busy. */
  saturatesFirst: { resource: string; utilisation: number; headroom: number; statement: string; method: Method } | null;
  /** What would relieve it. */
  relief: Relief[];
  /** Everything the analysis says, in plain words, each with how it was obtained. */
  findings: { text: string; method: Method }[];
}

/** One way to relieve the bottleneck, with its predicted (and, where re-simulated, measured) effect. */
export interface Relief {
  /** Plain words: "2 more agents with llm ≥ 0.7 (like agent-1)". */
  change: string;
  /** The scenario change, as `apiary plan` would vary it: dotted path → value. */
  vary?: Record<string, number>;
  /** The figure it moves, as a target would name it (`byKind.ask.waitMs.p95`). */
  figure: string;
  before: number;
  after: number;
  /** The level `after` was to reach: a target's, else a tenth of the kind's run time. */
  goal: number;
  method: Method;
  /** The figure measured in a re-simulation with the change (same seed), when one ran. */
  resimulated?: number;
  /** The full sentence. */
  statement: string;
}

/** One target (`waitMs.p95<2000`) and whether it was met. */
export interface TargetResult {
  /** The target as written. */
  target: string;
  figure: string;
  op: "<" | "<=" | ">" | ">=";
  value: number;
  /** The figure's value (a sweep row's: its mean); null when the report has no such figure. */
  actual: number | null;
  /** A sweep's 95% interval of the figure. */
  ci95?: [number, number];
  /** Met: the value (a sweep: its whole 95% interval) is on the right side. */
  passed: boolean;
  /** Why not, or how sure: plain words. */
  note?: string;
}

/** The report of a live load test: one run report per in-flight level. */
export interface LoadReport {
  mode: "load";
  scenario: string;
  levels: (RunReport & { inFlight: number; successRate: number })[];
  /** The targets every level was held to (each level's `targets` says how it did). */
  targets?: string[];
  /** Set when the hive ran on worker nodes over Redis: each node, its threads and its agents (their ids in the hive). */
  nodes?: { id: string; threads: number; agents: string[] }[];
}

/** A figure aggregated over replicas: mean and a 95% confidence interval (Student's t). */
export interface Estimate {
  n: number;
  mean: number;
  stddev: number;
  ci95: [number, number];
  /**
   * Set when the interval was widened to the resolution the values were measured with (a
   * histogram's percentiles, ±1.6%): the replicas agreed more closely than that can tell.
   */
  resolution?: number;
}

/** The report of `apiary sweep`: one row per parameter combination. */
export interface SweepReport {
  mode: "sweep";
  scenario: string;
  replicas: number;
  /** The parameters varied, by dotted key. */
  vary: Record<string, (string | number | boolean)[]>;
  rows: {
    params: Record<string, string | number | boolean>;
    figures: Record<string, Estimate>;
    /** How the row did against the sweep's targets. */
    targets?: TargetResult[];
    /** The bottleneck analysis of the row's first replica. */
    bottleneck?: Bottleneck;
  }[];
  threads: number;
  /** Set when the replicas ran on worker nodes over Redis: each node, its threads and the replicas it ran. */
  nodes?: { id: string; threads: number; replicas: number }[];
  wallMs?: number;
  /** The targets each row was held to. */
  targets?: string[];
}
