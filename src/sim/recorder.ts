/**
 * The run recorder: listens to a hive's public events and turns them into a {@link RunReport}.
 * `simulate` uses it on a hive in virtual time, `apiary load` on a live one; it touches nothing
 * but `hive.on` and `hive.stats`, and reads time only from the `now` it is given and the `at`
 * stamps events carry.
 *
 * What it counts, and over which time:
 * - The **measurement window** runs from `warmupMs` after the recorder was created until
 *   {@link Recorder.endWindow} (or {@link Recorder.finish}). Throughput, per-agent figures
 *   (attempts completed and failed, utilisation, restarts, breaker trips) and the time averages
 *   in `extra` cover the window only.
 * - The **cohort** is every task submitted inside the window (from `warmupMs` on, including
 *   after `endWindow`: submit nothing then if the cohort should end with the window). Task totals,
 *   latency and wait follow the cohort to its end, so `accepted = completed + failed + cancelled +
 *   deadLettered + shed` holds once {@link Recorder.pending} is 0.
 * - The **series** samples the whole run, warm-up included, every `sampleEveryMs` on `timers`.
 * - **Marks** record agent lifecycle and breaker transitions over the whole run. Dependency
 *   breakers have no agent: their marks carry `agentId` `"dependency:NAME"`.
 * - **`extra`** holds `crashes`, `restarts`, `agentBreakerTrips`, `dependencyBreakerTrips`, the
 *   window's time averages `meanInSystem`, `meanRunning`, `meanQueued`, `arrivalsPerSec` and
 *   `littleL` (λ·W, W over every task accepted in the window whatever its end; `littlesLaw` in
 *   the report has the edge terms that make it equal `meanInSystem`), `cacheHits` / `cacheMisses` (cached tasks
 *   answered without running never reach the Queen), and `degraded` / `degradedAtMs`.
 *
 * @module
 */
import { z } from "zod";
import { type Hive, type HiveEvent, type HiveEventType, observeTrusted } from "../hive/hive.ts";
import { LogHistogram } from "../metrics/histogram.ts";
import { realTimers, type TimerClock } from "../core/clock.ts";
import { nonNegativeInt, parseFor } from "../core/validation.ts";
import { createDetailRecorder, type DetailOptions } from "./detail-recorder.ts";
import type { AgentFigures, AgentMark, HistogramBucket, LatencyFigures, RunReport, SeriesPoint, TaskTotals } from "./report.ts";

/** Options of {@link createRecorder}. */
export interface RecorderOptions {
  /** The hive's clock, ms (`performance.now` for a live hive, the virtual clock's `now` in a simulation). */
  now: () => number;
  /** Interval between series points, ms of `now`. */
  sampleEveryMs: number;
  /** Time after creation left out of every figure but the series, ms. @default 0 */
  warmupMs?: number;
  /** `simulation` (virtual time) or `load` (a live hive). */
  mode: RunReport["mode"];
  /** The scenario's name. */
  scenario: string;
  /** The seed of a simulation, or null. */
  seed: number | null;
  /** Where the sampling timer runs: the hive's clock. @default the runtime's timers (unref'd) */
  timers?: TimerClock;
  /** Most marks kept; later ones are counted in `extra.marksDropped`. @default 10000 */
  maxMarks?: number;
  /** What the detailed figures (per priority and kind, time breakdown) may know of the swarm. @default {} */
  detail?: DetailOptions;
}

/** A recorder attached to a hive. */
export interface Recorder {
  /**
   * Ends the measurement window now (idempotent). Tasks of the cohort still running are followed
   * to their end for totals and latency; nothing after this counts towards throughput.
   */
  endWindow(): void;
  /** Tasks of the cohort that have not ended yet. */
  readonly pending: number;
  /**
   * Stops listening and sampling and returns the report (ending the window if still open).
   * `extra` is merged into the report's `extra`. Call it once.
   */
  finish(extra?: Record<string, number | string | boolean>): RunReport;
  /** Files task `taskId` under `kind` in the per-kind figures (a load test runs every scenario kind as `burn`). */
  relabel(taskId: string, kind: string): void;
}

const optionsSchema = z.strictObject({
  now: z.custom<() => number>((v) => typeof v === "function", { error: "must be a function returning the hive clock's time in ms" }),
  sampleEveryMs: z.number({ error: "must be a positive finite number" }).positive({ error: "must be a positive finite number" }).finite({ error: "must be a positive finite number" }),
  warmupMs: z.number({ error: "must be a non-negative finite number" }).min(0, { error: "must be a non-negative finite number" }).finite({ error: "must be a non-negative finite number" }).optional(),
  mode: z.enum(["simulation", "load"], { error: "must be one of simulation, load" }),
  scenario: z.string({ error: "must be a string" }),
  seed: z.union([z.number().int(), z.null()], { error: "must be an integer or null" }),
  timers: z
    .custom<TimerClock>((v) => typeof v === "object" && v !== null && typeof (v as TimerClock).setTimeout === "function" && typeof (v as TimerClock).clearTimeout === "function", {
      error: "must have setTimeout and clearTimeout methods",
    })
    .optional(),
  maxMarks: nonNegativeInt().optional(),
  detail: z.custom<DetailOptions>((v) => typeof v === "object" && v !== null, { error: "must be an object { kinds?, agents?, placements? }" }).optional(),
});

/** The event types a recorder listens to. */
const RECORDED = [
  "task.queued",
  "task.rejected",
  "task.started",
  "task.retrying",
  "task.completed",
  "task.failed",
  "task.deadLettered",
  "task.cancelled",
  "task.shed",
  "agent.restarting",
  "agent.failed",
  "agent.restarted",
  "agent.added",
  "agent.removed",
  "breaker.transition",
  "hive.degraded",
  "cache.hit",
  "cache.miss",
] as const satisfies readonly HiveEventType[];

/** Upper bounds of the report's latency histogram buckets, ms: 1-2-5 steps from 0.1 ms. */
const BUCKET_EDGES: readonly number[] = (() => {
  const edges: number[] = [];
  for (let decade = 0.1; decade < 1e10; decade *= 10) for (const m of [1, 2, 5]) edges.push(Math.round(decade * m * 1000) / 1000);
  return edges;
})();

/** Where one unfinished task stands. */
interface Track {
  /** Order in which tasks were first heard of. */
  seq: number;
  /** Submitted inside the window: counts towards totals and latency. */
  cohort: boolean;
  queuedAt: number;
  /** When its first attempt started, or -1. */
  firstStartAt: number;
  /** Agent of the running attempt, or undefined while not running. */
  agentId: string | undefined;
  /** Start of the running attempt's busy interval (clipped to the window later). */
  runSince: number;
}

/** One agent's counters inside the window. */
interface AgentTally {
  id: string;
  concurrency: number;
  completed: number;
  failed: number;
  busyMs: number;
  restarts: number;
  breakerTrips: number;
}

/** Rounds to µs so reports stay short and stable. */
function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function figures(h: LogHistogram): LatencyFigures {
  if (h.count === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 };
  return { count: h.count, mean: r3(h.sum / h.count), p50: r3(h.quantile(0.5)), p90: r3(h.quantile(0.9)), p95: r3(h.quantile(0.95)), p99: r3(h.quantile(0.99)), max: r3(h.quantile(1)) };
}

/** True when an agent event's reason says it went down with another (one-for-all, rest-for-one). */
function collateral(reason: string): boolean {
  return / restart after agent /.test(reason);
}

/**
 * Attaches a recorder to a started `hive`. Only public hive API is used, so it serves a live hive
 * as well as a simulated one. Time zero of the report is the moment of this call.
 *
 * @example
 * ```ts
 * const recorder = createRecorder(hive, { now: () => performance.now(), sampleEveryMs: 1_000, mode: "load", scenario: "smoke", seed: null });
 * // ... submit work, wait ...
 * recorder.endWindow();
 * await hive.drain();
 * const report = recorder.finish();
 * ```
 * @throws InvalidOptionsError naming the option and the value received
 */
export function createRecorder(hive: Hive, options: RecorderOptions): Recorder {
  const o = parseFor(optionsSchema, options, "create recorder");
  const now = o.now;
  const timers = o.timers ?? realTimers;
  const maxMarks = o.maxMarks ?? 10_000;
  const t0 = now();
  const warm = t0 + (o.warmupMs ?? 0);
  const wallStart = performance.now();
  let windowEnd = Infinity;
  let finished = false;
  const detail = createDetailRecorder(hive, warm, o.detail);

  const totals: TaskTotals = { submitted: 0, accepted: 0, rejected: 0, completed: 0, failed: 0, cancelled: 0, deadLettered: 0, shed: 0, retried: 0 };
  const latency = new LogHistogram();
  const wait = new LogHistogram();
  const buckets = new Float64Array(BUCKET_EDGES.length + 1);
  const tracks = new Map<string, Track>();
  let trackSeq = 0;
  /** The tracks running on each agent: an agent going down stops its own, not a walk over all. */
  const runningOn = new Map<string, Set<Track>>();
  let pending = 0;
  const agents = new Map<string, AgentTally>();
  const marks: AgentMark[] = [];
  let marksDropped = 0;
  let windowCompleted = 0;
  let windowArrivals = 0;
  let crashes = 0;
  let restarts = 0;
  let agentTrips = 0;
  let dependencyTrips = 0;
  let degradedAt = -1;
  let cacheHits = 0;
  let cacheMisses = 0;
  // Tasks in the hive (accepted, not ended) and attempts running, integrated over the window.
  let inSystem = 0;
  let running = 0;
  let lastT = t0;
  let areaSystem = 0;
  let areaRunning = 0;
  // The series: counts since the last point.
  const series: SeriesPoint[] = [];
  let intervalCompleted = 0;
  let intervalFailed = 0;
  let lastSampleT = t0;

  const agentOf = (id: string): AgentTally => {
    let a = agents.get(id);
    if (a === undefined) {
      a = { id, concurrency: 1, completed: 0, failed: 0, busyMs: 0, restarts: 0, breakerTrips: 0 };
      agents.set(id, a);
    }
    return a;
  };
  const learnAgents = (): void => {
    for (const s of hive.stats().agents) agentOf(s.id).concurrency = s.concurrency;
  };
  learnAgents();

  const inWindow = (at: number): boolean => at >= warm && at <= windowEnd;

  /** Moves the integrals up to `at`. */
  const advance = (at: number): void => {
    if (at <= lastT) return;
    const a = Math.max(lastT, warm);
    const b = Math.min(at, windowEnd);
    if (b > a) {
      areaSystem += inSystem * (b - a);
      areaRunning += running * (b - a);
    }
    lastT = at;
  };

  /** Ends a task's running attempt at `at`, crediting its agent's busy time inside the window. */
  const stopRunning = (t: Track, at: number): void => {
    if (t.agentId === undefined) return;
    const a = Math.max(t.runSince, warm);
    const b = Math.min(at, windowEnd);
    if (b > a) agentOf(t.agentId).busyMs += b - a;
    runningOn.get(t.agentId)?.delete(t);
    t.agentId = undefined;
    running--;
  };

  const mark = (at: number, agentId: string, what: AgentMark["what"]): void => {
    if (marks.length >= maxMarks) {
      marksDropped++;
      return;
    }
    marks.push({ t: r3(at - t0), agentId, what });
  };

  /** A task ended in `state`; `agentId` is the agent of its last attempt when it is that attempt's fault. */
  const ended = (taskId: string, at: number, state: "completed" | "failed" | "cancelled" | "deadLettered" | "shed", agentId: string | undefined): void => {
    const t = tracks.get(taskId);
    if (t === undefined) return;
    advance(at);
    stopRunning(t, at);
    tracks.delete(taskId);
    inSystem--;
    if (state === "completed") intervalCompleted++;
    else intervalFailed++;
    if (inWindow(at) && agentId !== undefined) {
      if (state === "completed") agentOf(agentId).completed++;
      else if (state === "failed" || state === "deadLettered") agentOf(agentId).failed++;
    }
    if (state === "completed" && inWindow(at)) windowCompleted++;
    if (!t.cohort) return;
    pending--;
    totals[state]++;
  };

  /** An agent went down: its attempts went back to the queue (no lifecycle event says so). */
  const agentDown = (agentId: string, at: number): void => {
    advance(at);
    const on = runningOn.get(agentId);
    if (on === undefined || on.size === 0) return;
    // In the order the tasks were first heard of: busy time adds up in the same order as ever.
    for (const t of [...on].sort((x, y) => x.seq - y.seq)) stopRunning(t, at);
  };

  const onEvent = (e: HiveEvent): void => {
    switch (e.type) {
      case "task.queued": {
        advance(e.at);
        const cohort = e.at >= warm;
        const prior = tracks.get(e.taskId);
        if (prior !== undefined) return; // already known (cannot happen: ids are unique among unfinished tasks)
        tracks.set(e.taskId, { seq: trackSeq++, cohort, queuedAt: e.at, firstStartAt: -1, agentId: undefined, runSince: 0 });
        inSystem++;
        if (inWindow(e.at)) windowArrivals++;
        if (cohort) {
          pending++;
          totals.submitted++;
          totals.accepted++;
        }
        return;
      }
      case "task.rejected":
        if (e.at >= warm) {
          totals.submitted++;
          totals.rejected++;
        }
        return;
      case "task.started": {
        const t = tracks.get(e.taskId);
        if (t === undefined) return;
        advance(e.at);
        if (t.agentId !== undefined) stopRunning(t, e.at);
        t.agentId = e.agentId;
        let on = runningOn.get(e.agentId);
        if (on === undefined) runningOn.set(e.agentId, on = new Set());
        on.add(t);
        t.runSince = e.at;
        running++;
        if (t.firstStartAt < 0) t.firstStartAt = e.at;
        return;
      }
      case "task.retrying": {
        const t = tracks.get(e.taskId);
        if (t === undefined) return;
        advance(e.at);
        stopRunning(t, e.at);
        if (inWindow(e.at) && e.agentId !== undefined && (e.error as { code?: string }).code !== "TASK_CANCELLED") agentOf(e.agentId).failed++;
        if (t.cohort) totals.retried++;
        return;
      }
      case "task.completed": {
        const t = tracks.get(e.taskId);
        if (t?.cohort === true) {
          latency.record(e.latencyMs);
          let i = 0;
          while (i < BUCKET_EDGES.length && e.latencyMs > BUCKET_EDGES[i]!) i++;
          buckets[i]! += 1;
          if (t.firstStartAt >= 0) wait.record(t.firstStartAt - t.queuedAt);
        }
        ended(e.taskId, e.at, "completed", e.agentId);
        return;
      }
      case "task.failed":
        ended(e.taskId, e.at, "failed", e.agentId);
        return;
      case "task.deadLettered":
        ended(e.taskId, e.at, "deadLettered", e.agentId);
        return;
      case "task.cancelled":
        ended(e.taskId, e.at, "cancelled", undefined);
        return;
      case "task.shed":
        ended(e.taskId, e.at, "shed", undefined);
        return;
      case "agent.restarting":
        agentDown(e.agentId, e.at);
        if (!collateral(e.reason)) {
          crashes++;
          mark(e.at, e.agentId, "crashed");
        }
        mark(e.at, e.agentId, "restarting");
        if (inWindow(e.at)) {
          restarts++;
          agentOf(e.agentId).restarts++;
        }
        return;
      case "agent.failed":
        agentDown(e.agentId, e.at);
        if (!collateral(e.reason)) {
          crashes++;
          mark(e.at, e.agentId, "crashed");
        }
        mark(e.at, e.agentId, "failed");
        return;
      case "agent.restarted":
        mark(e.at, e.agentId, "restarted");
        return;
      case "agent.added":
        learnAgents();
        mark(e.at, e.agentId, "added");
        return;
      case "agent.removed":
        mark(e.at, e.agentId, "removed");
        return;
      case "breaker.transition":
        if (e.scope === "agent") {
          mark(e.at, e.name, `breaker.${e.to}`);
          if (e.to === "open" && inWindow(e.at)) {
            agentTrips++;
            agentOf(e.name).breakerTrips++;
          }
        } else {
          mark(e.at, `dependency:${e.name}`, `breaker.${e.to}`);
          if (e.to === "open" && inWindow(e.at)) dependencyTrips++;
        }
        return;
      case "hive.degraded":
        if (degradedAt < 0) degradedAt = e.at;
        return;
      // Cached tasks answered without running never reach the Queen: counted apart.
      case "cache.hit":
        if (inWindow(e.at)) cacheHits++;
        return;
      case "cache.miss":
        if (inWindow(e.at)) cacheMisses++;
        return;
      default:
        return;
    }
  };

  // Handed each event as it is published, not through the bus's queue: the same events in the
  // same order, without a microtask per event (a simulation's driver then settles sooner).
  const recorded = new Set<string>(RECORDED);
  const off = hive[observeTrusted]((e) => {
    if (recorded.has(e.type)) onEvent(e);
  });

  const sample = (): void => {
    const at = now();
    advance(at);
    const span = at - lastSampleT;
    series.push({
      t: r3(at - t0),
      completed: intervalCompleted,
      failed: intervalFailed,
      throughputPerSec: span > 0 ? r3((intervalCompleted * 1_000) / span) : 0,
      queued: inSystem - running,
      running,
    });
    detail.sample(at);
    intervalCompleted = 0;
    intervalFailed = 0;
    lastSampleT = at;
  };
  let timer: unknown;
  const schedule = (): void => {
    timer = timers.setTimeout(() => {
      if (finished) return;
      sample();
      schedule();
    }, o.sampleEveryMs);
    (timer as { unref?: () => void } | null)?.unref?.();
  };
  schedule();

  const endWindow = (): void => {
    if (windowEnd !== Infinity) return;
    const at = Math.max(now(), warm);
    advance(at);
    windowEnd = at;
    detail.endWindow(at);
    // Busy time of attempts still running counts up to here.
    for (const t of tracks.values()) {
      if (t.agentId === undefined) continue;
      const a = Math.max(t.runSince, warm);
      if (at > a) agentOf(t.agentId).busyMs += at - a;
      t.runSince = at;
    }
  };

  return {
    endWindow,
    relabel: (taskId, kind) => detail.relabel(taskId, kind),
    get pending() {
      return pending;
    },
    finish(extra = {}) {
      if (finished) throw new Error("Recorder.finish() was already called");
      endWindow();
      const at = now();
      if (at > lastSampleT || series.length === 0) sample();
      finished = true;
      timers.clearTimeout(timer);
      off();
      learnAgents();
      const durationMs = windowEnd - warm;
      const more = detail.finish(at, windowEnd);
      const agentFigures: AgentFigures[] = [...agents.values()].map((a) => ({
        id: a.id,
        completed: a.completed,
        failed: a.failed,
        utilisation: durationMs > 0 ? r3(Math.min(1, a.busyMs / (a.concurrency * durationMs))) : 0,
        restarts: a.restarts,
        breakerTrips: a.breakerTrips,
        concurrency: a.concurrency,
      }));
      const histogram: HistogramBucket[] = [];
      let first = -1;
      let last = -1;
      for (let i = 0; i < buckets.length; i++) {
        if (buckets[i]! > 0) {
          if (first < 0) first = i;
          last = i;
        }
      }
      for (let i = first; first >= 0 && i <= last; i++) histogram.push({ upperMs: i < BUCKET_EDGES.length ? BUCKET_EDGES[i]! : r3(latency.quantile(1)), count: buckets[i]! });
      const lat = figures(latency);
      const seconds = durationMs / 1_000;
      withDetail(series, agentFigures, more, o.detail);
      const report: RunReport = {
        mode: o.mode,
        scenario: o.scenario,
        seed: o.seed,
        durationMs: r3(durationMs),
        warmupMs: r3(warm - t0),
        wallMs: r3(performance.now() - wallStart),
        tasks: totals,
        throughputPerSec: seconds > 0 ? r3(windowCompleted / seconds) : 0,
        latencyMs: lat,
        waitMs: figures(wait),
        histogram,
        series,
        sampleEveryMs: o.sampleEveryMs,
        agents: agentFigures,
        marks,
        extra: {
          crashes,
          restarts,
          agentBreakerTrips: agentTrips,
          dependencyBreakerTrips: dependencyTrips,
          // Time averages over the window, and Little's law (L = λW) from the arrival rate and mean latency.
          meanInSystem: durationMs > 0 ? r3(areaSystem / durationMs) : 0,
          meanRunning: durationMs > 0 ? r3(areaRunning / durationMs) : 0,
          meanQueued: durationMs > 0 ? r3((areaSystem - areaRunning) / durationMs) : 0,
          arrivalsPerSec: seconds > 0 ? r3(windowArrivals / seconds) : 0,
          // λ·W with W over every task accepted in the window, whatever its end (see littlesLaw).
          littleL: more.littlesLaw.lambdaW,
          ...(cacheHits + cacheMisses > 0 ? { cacheHits, cacheMisses } : {}),
          ...(degradedAt >= 0 ? { degraded: true, degradedAtMs: r3(degradedAt - t0) } : {}),
          ...(marksDropped > 0 ? { marksDropped } : {}),
          ...extra,
        },
        successRate: totals.accepted > 0 ? r3(totals.completed / totals.accepted) : 1,
        byPriority: more.byPriority,
        byKind: more.byKind,
        timeBreakdown: more.timeBreakdown,
        littlesLaw: more.littlesLaw,
      };
      return report;
    },
  };
}

/** Adds the detailed figures to the series (latency per interval) and the agents (capabilities, fast failures). */
function withDetail(series: SeriesPoint[], agents: AgentFigures[], more: ReturnType<ReturnType<typeof createDetailRecorder>["finish"]>, detail: DetailOptions | undefined): void {
  series.forEach((point, i) => {
    const l = more.intervals[i];
    if (l === undefined || l === null) return;
    point.latencyP50Ms = l.p50;
    point.latencyP95Ms = l.p95;
    point.latencyP99Ms = l.p99;
  });
  const capabilities = new Map((detail?.agents ?? []).map((a) => [a.id, a.capabilities]));
  for (const a of agents) {
    a.fastFails = more.fastFails.get(a.id) ?? 0;
    const c = capabilities.get(a.id);
    if (c !== undefined) a.capabilities = c;
  }
}
