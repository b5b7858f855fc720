/**
 * What each figure of a report is called in plain words, its unit, and which way is better:
 * one home for the labels the terminal tables, the HTML report, targets and plans show. A
 * figure is named by its path in the report (`waitMs.p95`, `byKind.ask.latencyMs.p99`), the same
 * name a `--target` and a sweep use.
 *
 * @module
 */
import { formatFigure, formatMs, formatNumber, formatPercent } from "./format.ts";

/** How a figure's values read. */
export type FigureUnit = "ms" | "per-second" | "fraction" | "tasks" | "attempts" | "count";

/** A figure described. */
export interface FigureInfo {
  /** Plain words, with the group first where there is one: `wait before first attempt, p95`. */
  label: string;
  unit: FigureUnit;
  /** Which way is better, where one is. */
  better?: "lower" | "higher";
  /** Read from a histogram (percentiles): exact only to its resolution. */
  histogram?: boolean;
  /** One sentence on what it measures. */
  explain: string;
}

/** The relative resolution of the recorder's latency histograms: quantiles are within ±1.6% of a recorded value. */
export const HISTOGRAM_RESOLUTION = 0.016;

const LATENCY_STATS: Record<string, string> = { mean: "mean", p50: "p50 (median)", p90: "p90", p95: "p95", p99: "p99", max: "max" };

const BASE: Record<string, Omit<FigureInfo, "label"> & { label: string }> = {
  throughputPerSec: { label: "throughput", unit: "per-second", better: "higher", explain: "tasks completed per second inside the measurement window" },
  successRate: { label: "success", unit: "fraction", better: "higher", explain: "completed ÷ accepted, over the tasks submitted in the window" },
  utilisation: { label: "mean agent utilisation", unit: "fraction", explain: "busy slot-time ÷ capacity, averaged over agents" },
  restarts: { label: "agent restarts", unit: "count", better: "lower", explain: "agent restarts inside the window" },
  breakerTrips: { label: "agent breaker trips", unit: "count", better: "lower", explain: "times an agent's breaker opened inside the window" },
  "tasks.submitted": { label: "tasks submitted", unit: "tasks", explain: "tasks submitted in the window (accepted or rejected)" },
  "tasks.accepted": { label: "tasks accepted", unit: "tasks", explain: "tasks the hive took in the window" },
  "tasks.rejected": { label: "tasks rejected", unit: "tasks", better: "lower", explain: "tasks refused at submit (queue full, hive stopping): never accepted" },
  "tasks.completed": { label: "tasks completed", unit: "tasks", better: "higher", explain: "accepted tasks that ended completed" },
  "tasks.failed": { label: "tasks failed", unit: "tasks", better: "lower", explain: "accepted tasks that ended failed (a non-retriable error, or a deadline)" },
  "tasks.deadLettered": { label: "tasks dead-lettered", unit: "tasks", better: "lower", explain: "accepted tasks whose every attempt failed" },
  "tasks.shed": { label: "tasks shed", unit: "tasks", better: "lower", explain: "accepted tasks dropped from a full queue for more urgent ones" },
  "tasks.cancelled": { label: "tasks cancelled", unit: "tasks", explain: "accepted tasks cancelled (or cut off when the run's drain ended)" },
  "tasks.retried": { label: "retried attempts", unit: "attempts", better: "lower", explain: "failed attempts that were tried again" },
  accepted: { label: "tasks accepted", unit: "tasks", explain: "tasks of the group the hive took in the window" },
  completed: { label: "tasks completed", unit: "tasks", better: "higher", explain: "tasks of the group that ended completed" },
  "timeBreakdown.waitSlotMs": {
    label: "time waiting for an agent slot, mean",
    unit: "ms",
    better: "lower",
    explain: "per completed task: queued with no eligible agent free (first attempt and retries)",
  },
  "timeBreakdown.waitThreadMs": { label: "time waiting for a thread, mean", unit: "ms", better: "lower", explain: "per completed task: placed on an agent, waiting for a worker thread" },
  "timeBreakdown.runMs": { label: "time running, mean", unit: "ms", explain: "per completed task: its attempts' run time, failed ones included" },
  "timeBreakdown.backoffMs": { label: "time in retry backoff, mean", unit: "ms", better: "lower", explain: "per completed task: waiting out backoff after failed attempts" },
  "timeBreakdown.fastFailMs": { label: "time in fast failures, mean", unit: "ms", better: "lower", explain: "per completed task: attempts that failed at once on an open breaker" },
  "littlesLaw.meanInSystem": { label: "tasks in the hive, time average", unit: "tasks", explain: "L: accepted tasks not yet ended, averaged over the window" },
  "littlesLaw.arrivalsPerSec": { label: "arrival rate", unit: "per-second", explain: "λ: tasks accepted per second in the window" },
  "littlesLaw.meanTimeInSystemMs": { label: "time in the hive, mean (every outcome)", unit: "ms", explain: "W: submit to end of every task accepted in the window, failed ones included" },
};

for (const [field, what] of [["latencyMs", "latency (submit to completion)"], ["waitMs", "wait before first attempt"]] as const) {
  for (const [stat, name] of Object.entries(LATENCY_STATS)) {
    BASE[`${field}.${stat}`] = {
      label: `${what}, ${name}`,
      unit: "ms",
      better: "lower",
      ...(stat !== "mean" && stat !== "max" ? { histogram: true } : {}),
      explain: field === "latencyMs" ? "of completed tasks, from submit to completion" : "of completed tasks, from submit to the start of their first attempt",
    };
  }
}

/** The figures a group (a priority or a kind) has, by path inside the group. */
export const GROUP_FIGURES: readonly string[] = [
  "throughputPerSec",
  "successRate",
  "accepted",
  "completed",
  "latencyMs.mean",
  "latencyMs.p50",
  "latencyMs.p95",
  "latencyMs.p99",
  "waitMs.mean",
  "waitMs.p50",
  "waitMs.p95",
  "waitMs.p99",
];

/** The figures of a run as a whole that sweeps aggregate and targets name, in the order tables list them. */
export const RUN_FIGURES: readonly string[] = [
  "throughputPerSec",
  "successRate",
  "latencyMs.mean",
  "latencyMs.p50",
  "latencyMs.p95",
  "latencyMs.p99",
  "waitMs.mean",
  "waitMs.p50",
  "waitMs.p95",
  "waitMs.p99",
  "tasks.completed",
  "tasks.failed",
  "tasks.deadLettered",
  "tasks.shed",
  "tasks.rejected",
  "tasks.retried",
  "utilisation",
  "restarts",
  "breakerTrips",
  "timeBreakdown.waitSlotMs",
  "timeBreakdown.waitThreadMs",
  "timeBreakdown.runMs",
  "timeBreakdown.backoffMs",
  "timeBreakdown.fastFailMs",
  "littlesLaw.meanInSystem",
];

/** Splits `byKind.ask.waitMs.p95` into its group (`{ by: "kind", name: "ask" }`) and the figure inside it. */
export function splitFigure(path: string): { group?: { by: "priority" | "kind"; name: string }; figure: string } {
  const m = /^(byPriority|byKind)\.([^.]+)\.(.+)$/.exec(path);
  if (m === null) return { figure: path };
  return { group: { by: m[1] === "byPriority" ? "priority" : "kind", name: m[2]! }, figure: m[3]! };
}

/** The plain-words description of a figure path; undefined for a path that names no figure. */
export function describeFigure(path: string): FigureInfo | undefined {
  const { group, figure } = splitFigure(path);
  if (group !== undefined && !GROUP_FIGURES.includes(figure)) return undefined;
  const base = BASE[figure];
  if (base === undefined) return undefined;
  const info: FigureInfo = { ...base };
  if (group !== undefined) info.label = `${group.by} ${group.name}: ${base.label}`;
  return info;
}

/** The unit as a reader sees it after a value: `ms`, `/s`, `%`, or a noun. */
export function unitText(unit: FigureUnit): string {
  switch (unit) {
    case "ms":
      return "ms";
    case "per-second":
      return "/s";
    case "fraction":
      return "%";
    case "tasks":
      return "tasks";
    case "attempts":
      return "attempts";
    case "count":
      return "";
  }
}

/** A figure's label with its unit: `wait before first attempt, p95 (ms)`. */
export function labelWithUnit(path: string): string {
  const info = describeFigure(path);
  if (info === undefined) return path;
  const unit = unitText(info.unit);
  return unit === "" || unit === "tasks" || unit === "attempts" ? info.label : `${info.label} (${unit})`;
}

/** A figure's value with its unit: `1,234 ms`, `99.5%`, `12.3 /s`, `17 tasks`. */
export function formatFigureValue(path: string, value: number): string {
  const info = describeFigure(path);
  if (info === undefined) return formatFigure(value);
  switch (info.unit) {
    case "ms":
      return `${formatMs(value)} ms`;
    case "per-second":
      return `${formatFigure(value)} /s`;
    case "fraction":
      return formatPercent(value);
    case "tasks":
    case "attempts":
      return Number.isInteger(value) ? formatNumber(value) : formatFigure(value);
    case "count":
      return formatFigure(value);
  }
}

/** A figure's value without its unit, for a table whose header carries it. */
export function formatFigureBare(path: string, value: number): string {
  const info = describeFigure(path);
  if (info?.unit === "fraction") return formatPercent(value);
  if (info?.unit === "ms") return formatMs(value);
  return formatFigure(value);
}

/** The keys of a report's `extra`, in plain words (keys not listed show as they are). */
const EXTRA: Record<string, string> = {
  crashes: "agent crashes",
  restarts: "agent restarts (in the window)",
  agentBreakerTrips: "agent breaker trips (in the window)",
  dependencyBreakerTrips: "dependency breaker openings (in the window)",
  meanInSystem: "tasks in the hive, time average (L)",
  meanRunning: "attempts running, time average",
  meanQueued: "tasks waiting (queued or in retry backoff), time average",
  arrivalsPerSec: "tasks accepted per second (λ)",
  littleL: "λ × mean time in the hive of every task (λW)",
  cacheHits: "cache hits (answered without running)",
  cacheMisses: "cache misses",
  degraded: "the hive became degraded",
  degradedAtMs: "degraded at, ms from the start",
  marksDropped: "timeline marks not kept",
  agentCount: "agents",
  simulatedMs: "virtual time simulated, ms (warm-up and drain included)",
  timersFired: "virtual timers fired",
  workerDeaths: "worker threads that died under an attempt",
  drainCutoff: "drain cut off (unfinished tasks cancelled)",
  inFlight: "tasks kept in flight (closed loop)",
  closedLoop: "closed loop (a task submitted as each ends)",
  threads: "worker threads",
  backend: "execution backend",
  workloadSeed: "seed of the task stream",
  allSubmitted: "tasks submitted, warm-up included",
  allAccepted: "tasks accepted, warm-up included",
  allCompleted: "tasks completed, warm-up included",
  allUnfinished: "tasks unfinished at the end, warm-up included",
};

/** The plain-words label of an `extra` key of a report. */
export function extraLabel(key: string): string {
  return EXTRA[key] ?? key;
}

const SHORT: Record<string, string> = {
  throughputPerSec: "tasks/s",
  successRate: "success",
  utilisation: "agent utilisation",
  "timeBreakdown.waitSlotMs": "waiting for a slot",
  "timeBreakdown.waitThreadMs": "waiting for a thread",
  "timeBreakdown.runMs": "running",
  "timeBreakdown.backoffMs": "retry backoff",
  "timeBreakdown.fastFailMs": "fast failures",
  "littlesLaw.meanInSystem": "tasks in the hive (mean)",
};

/**
 * A column header for a figure in a table whose caption says what the figures are and their
 * unit: `p95` under "Latency (ms)", `latency p95 (ms)` elsewhere. The full label belongs in the
 * cell's tooltip.
 */
export function shortLabel(path: string, within?: "latencyMs" | "waitMs" | "timeBreakdown"): string {
  const { figure } = splitFigure(path);
  const m = /^(latencyMs|waitMs)\.(\w+)$/.exec(figure);
  if (m !== null) return m[1] === within ? m[2]! : `${m[1] === "latencyMs" ? "latency" : "wait"} ${m[2]} (ms)`;
  const short = SHORT[figure];
  if (short !== undefined) return figure.startsWith("timeBreakdown.") && within !== "timeBreakdown" ? `${short} (ms)` : short;
  const info = describeFigure(figure);
  return info === undefined ? figure : info.label.replace(/^tasks /, "");
}
