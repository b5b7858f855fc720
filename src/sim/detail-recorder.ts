/**
 * The recorder's detailed figures: the same totals, throughput, latency and wait per priority
 * and per task kind; where each completed task's time went (waiting for a slot, for a thread,
 * running, retry backoff, fast failures on an open breaker); latency percentiles per sampling
 * interval; and Little's law over the window with the edge terms that make it exact.
 *
 * It listens to the hive on its own (so the recorder's hot path stays as it was) and follows the
 * recorder's definitions: the cohort is every task accepted from `warm` on, the window runs from
 * `warm` to {@link DetailRecorder.endWindow}.
 *
 * @module
 */
import { PRIORITIES } from "../../actors/types.ts";
import type { Capabilities } from "../../actors/types.ts";
import type { Hive, HiveEvent, HiveEventType } from "../hive/hive.ts";
import { LogHistogram } from "../metrics/histogram.ts";
import type { GroupFigures, LatencyFigures, LittlesLaw, TimeBreakdown } from "./report.ts";

/** What a detail recorder is told about the swarm and the work (all optional). */
export interface DetailOptions {
  /** Task kinds and their requirements, in the order the report lists them. */
  kinds?: readonly { name: string; requires?: Capabilities }[];
  /** Agents' capabilities, by id. */
  agents?: readonly { id: string; capabilities?: Capabilities }[];
  /**
   * Listen to placement decisions, to tell waiting for a slot from waiting for a thread. Only
   * worth it where attempts do not start when placed (live backends); it costs an event per
   * placement. @default false
   */
  placements?: boolean;
}

/** The detailed figures, ready to merge into a report. */
export interface DetailFigures {
  byPriority: Record<string, GroupFigures>;
  byKind: Record<string, GroupFigures>;
  timeBreakdown: TimeBreakdown;
  littlesLaw: LittlesLaw;
  /** Latency percentiles of the tasks completed in each sampling interval (null: none completed). */
  intervals: ({ p50: number; p95: number; p99: number } | null)[];
  /** Attempts that failed fast on an open breaker inside the window, per agent. */
  fastFails: Map<string, number>;
}

/** A detail recorder attached to a hive. */
export interface DetailRecorder {
  /** Closes a sampling interval at `at`. */
  sample(at: number): void;
  /** Ends the window at `at` (idempotent). */
  endWindow(at: number): void;
  /** Files the task `taskId` under `kind` instead of its own (a load test running every kind as `burn`). */
  relabel(taskId: string, kind: string): void;
  /** Stops listening and returns the figures; `at` is now, `windowEnd` the end of the window. */
  finish(at: number, windowEnd: number): DetailFigures;
}

// Phases of a task.
const SLOT = 0;
const THREAD = 1;
const RUN = 2;
const BACKOFF = 3;

interface Track {
  kind: string;
  priority: string;
  cohort: boolean;
  queuedAt: number;
  firstStartAt: number;
  phase: number;
  since: number;
  /** End of the retry backoff in progress (phase BACKOFF). */
  backoffUntil: number;
  agentId: string | undefined;
  slotMs: number;
  threadMs: number;
  runMs: number;
  backoffMs: number;
  fastFailMs: number;
  fastFails: number;
}

interface Group {
  requires: Capabilities | undefined;
  accepted: number;
  completed: number;
  failed: number;
  deadLettered: number;
  shed: number;
  cancelled: number;
  rejected: number;
  retried: number;
  windowCompleted: number;
  latency: LogHistogram;
  wait: LogHistogram;
  parts: Parts;
}

interface Parts {
  count: number;
  slot: number;
  thread: number;
  run: number;
  backoff: number;
  fastFail: number;
  fastFails: number;
}

const EVENTS = [
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
] as const satisfies readonly HiveEventType[];

function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function parts(): Parts {
  return { count: 0, slot: 0, thread: 0, run: 0, backoff: 0, fastFail: 0, fastFails: 0 };
}

/** True for an attempt that failed fast on an open breaker (its error, or its cause, says CIRCUIT_OPEN). */
export function isFastFail(error: unknown): boolean {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null | undefined;
  return e?.code === "CIRCUIT_OPEN" || e?.cause?.code === "CIRCUIT_OPEN";
}

function latencyFigures(h: LogHistogram): LatencyFigures {
  if (h.count === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0 };
  return { count: h.count, mean: r3(h.sum / h.count), p50: r3(h.quantile(0.5)), p90: r3(h.quantile(0.9)), p95: r3(h.quantile(0.95)), p99: r3(h.quantile(0.99)), max: r3(h.quantile(1)) };
}

function breakdownOf(p: Parts): TimeBreakdown {
  const n = p.count;
  const mean = (x: number): number => (n > 0 ? r3(x / n) : 0);
  return { count: n, waitSlotMs: mean(p.slot), waitThreadMs: mean(p.thread), runMs: mean(p.run), backoffMs: mean(p.backoff), fastFailMs: mean(p.fastFail), fastFailAttempts: mean(p.fastFails) };
}

/**
 * Attaches a detail recorder to `hive`; `warm` is the start of the window (hive clock, ms).
 */
export function createDetailRecorder(hive: Hive, warm: number, options: DetailOptions = {}): DetailRecorder {
  const tracks = new Map<string, Track>();
  const labels = new Map<string, string>();
  // Placements heard before the task's own `task.queued` (the Supervisor's events can overtake the Queen's).
  const early = new Map<string, number>();
  const requires = new Map<string, Capabilities | undefined>();
  for (const k of options.kinds ?? []) requires.set(k.name, k.requires);
  const kinds = new Map<string, Group>();
  const priorities = new Map<string, Group>();
  const all = parts();
  const fastFails = new Map<string, number>();
  let windowEnd = Infinity;
  let interval = new LogHistogram();
  const intervals: DetailFigures["intervals"] = [];
  // Little's law terms (see LittlesLaw).
  let arrivals = 0;
  let timeSum = 0;
  let spillSum = 0;
  let carriedSum = 0;

  const group = (map: Map<string, Group>, key: string): Group => {
    let g = map.get(key);
    if (g === undefined) {
      g = {
        requires: map === kinds ? requires.get(key) : undefined,
        accepted: 0,
        completed: 0,
        failed: 0,
        deadLettered: 0,
        shed: 0,
        cancelled: 0,
        rejected: 0,
        retried: 0,
        windowCompleted: 0,
        latency: new LogHistogram(),
        wait: new LogHistogram(),
        parts: parts(),
      };
      map.set(key, g);
    }
    return g;
  };
  // Kinds the caller named come first, in its order, even when none of their tasks arrived.
  for (const k of options.kinds ?? []) group(kinds, k.name);

  const inWindow = (at: number): boolean => at >= warm && at <= windowEnd;

  /** Credits the phase in progress up to `at` and enters `next`. */
  const close = (t: Track, at: number, next: number, fastFail = false): void => {
    const span = Math.max(0, at - t.since);
    switch (t.phase) {
      case SLOT:
        t.slotMs += span;
        break;
      case THREAD:
        t.threadMs += span;
        break;
      case RUN:
        if (fastFail) t.fastFailMs += span;
        else t.runMs += span;
        break;
      case BACKOFF: {
        const backoff = Math.min(span, Math.max(0, t.backoffUntil - t.since));
        t.backoffMs += backoff;
        t.slotMs += span - backoff;
        break;
      }
    }
    t.phase = next;
    t.since = Math.max(t.since, at);
  };

  const ended = (e: { taskId: string; at: number; latencyMs?: number }, state: "completed" | "failed" | "deadLettered" | "cancelled" | "shed", error?: unknown, agentId?: string): void => {
    const t = tracks.get(e.taskId);
    if (t === undefined) return;
    tracks.delete(e.taskId);
    labels.delete(e.taskId);
    const fast = state !== "completed" && t.phase === RUN && isFastFail(error);
    if (fast) t.fastFails++;
    close(t, e.at, SLOT, fast);
    if (fast && agentId !== undefined && inWindow(e.at)) fastFails.set(agentId, (fastFails.get(agentId) ?? 0) + 1);
    littles(t, e.at);
    const k = group(kinds, t.kind);
    const p = group(priorities, t.priority);
    if (state === "completed") {
      if (inWindow(e.at)) {
        k.windowCompleted++;
        p.windowCompleted++;
      }
      interval.record(e.latencyMs ?? e.at - t.queuedAt);
    }
    if (!t.cohort) return;
    for (const g of [k, p]) {
      g[state]++;
      if (state !== "completed") continue;
      g.latency.record(e.latencyMs ?? e.at - t.queuedAt);
      if (t.firstStartAt >= 0) g.wait.record(t.firstStartAt - t.queuedAt);
      add(g.parts, t);
    }
    if (state === "completed") add(all, t);
  };

  const add = (p: Parts, t: Track): void => {
    p.count++;
    p.slot += t.slotMs;
    p.thread += t.threadMs;
    p.run += t.runMs;
    p.backoff += t.backoffMs;
    p.fastFail += t.fastFailMs;
    p.fastFails += t.fastFails;
  };

  /** A task left the hive at `end`: its share of the window's time in system. */
  const littles = (t: Track, end: number): void => {
    if (t.queuedAt < warm) {
      carriedSum += Math.max(0, Math.min(end, windowEnd) - warm);
    } else if (t.queuedAt <= windowEnd) {
      arrivals++;
      timeSum += end - t.queuedAt;
      spillSum += Math.max(0, end - Math.max(windowEnd, t.queuedAt));
    }
  };

  const onEvent = (e: HiveEvent): void => {
    switch (e.type) {
      case "task.queued": {
        if (tracks.has(e.taskId)) return;
        const kind = labels.get(e.taskId) ?? e.kind;
        const cohort = e.at >= warm;
        const t: Track = {
          kind,
          priority: e.priority,
          cohort,
          queuedAt: e.at,
          firstStartAt: -1,
          phase: SLOT,
          since: e.at,
          backoffUntil: 0,
          agentId: undefined,
          slotMs: 0,
          threadMs: 0,
          runMs: 0,
          backoffMs: 0,
          fastFailMs: 0,
          fastFails: 0,
        };
        tracks.set(e.taskId, t);
        const placed = early.get(e.taskId);
        if (placed !== undefined) {
          early.delete(e.taskId);
          close(t, placed, THREAD);
        }
        if (cohort) {
          group(kinds, kind).accepted++;
          group(priorities, e.priority).accepted++;
        }
        return;
      }
      case "task.rejected":
        if (e.at >= warm) group(kinds, labels.get(e.taskId) ?? e.kind).rejected++;
        labels.delete(e.taskId);
        return;
      case "allocation.decided": {
        const t = tracks.get(e.taskId);
        if (t === undefined) {
          if (e.attempt <= 1) early.set(e.taskId, e.at);
        } else if (t.phase === SLOT || t.phase === BACKOFF) close(t, e.at, THREAD);
        return;
      }
      case "task.started": {
        const t = tracks.get(e.taskId);
        if (t === undefined) return;
        close(t, e.at, RUN);
        t.agentId = e.agentId;
        if (t.firstStartAt < 0) t.firstStartAt = e.at;
        return;
      }
      case "task.retrying": {
        const t = tracks.get(e.taskId);
        if (t === undefined) return;
        const fast = t.phase === RUN && isFastFail(e.error);
        if (fast) {
          t.fastFails++;
          if (e.agentId !== undefined && inWindow(e.at)) fastFails.set(e.agentId, (fastFails.get(e.agentId) ?? 0) + 1);
        }
        close(t, e.at, BACKOFF, fast);
        t.backoffUntil = e.at + e.retryInMs;
        t.agentId = undefined;
        if (t.cohort) {
          group(kinds, t.kind).retried++;
          group(priorities, t.priority).retried++;
        }
        return;
      }
      case "task.completed":
        ended(e, "completed");
        early.delete(e.taskId);
        return;
      case "task.failed":
        ended(e, "failed", e.error, e.agentId);
        return;
      case "task.deadLettered":
        ended(e, "deadLettered", e.error, e.agentId);
        return;
      case "task.cancelled":
        ended(e, "cancelled");
        return;
      case "task.shed":
        ended(e, "shed");
        return;
      case "agent.restarting":
      case "agent.failed":
        // Its attempts went back to the queue (no task event says so): they wait for a slot again.
        for (const t of tracks.values()) {
          if (t.agentId === e.agentId && t.phase === RUN) {
            close(t, e.at, SLOT);
            t.agentId = undefined;
          }
        }
        return;
      default:
        return;
    }
  };

  const types: HiveEventType[] = [...EVENTS];
  if (options.placements === true) types.push("allocation.decided");
  const offs = types.map((type) => hive.on(type, onEvent));

  const figuresOf = (map: Map<string, Group>, durationMs: number): Record<string, GroupFigures> => {
    const out: Record<string, GroupFigures> = {};
    for (const [key, g] of map) {
      out[key] = {
        accepted: g.accepted,
        completed: g.completed,
        failed: g.failed,
        deadLettered: g.deadLettered,
        shed: g.shed,
        cancelled: g.cancelled,
        rejected: g.rejected,
        retried: g.retried,
        successRate: g.accepted > 0 ? r3(g.completed / g.accepted) : 1,
        throughputPerSec: durationMs > 0 ? r3((g.windowCompleted * 1_000) / durationMs) : 0,
        latencyMs: latencyFigures(g.latency),
        waitMs: latencyFigures(g.wait),
        timeBreakdown: breakdownOf(g.parts),
        ...(g.requires !== undefined ? { requires: g.requires } : {}),
      };
    }
    return out;
  };

  return {
    sample() {
      intervals.push(interval.count === 0 ? null : { p50: r3(interval.quantile(0.5)), p95: r3(interval.quantile(0.95)), p99: r3(interval.quantile(0.99)) });
      interval = new LogHistogram();
    },
    endWindow(at) {
      if (windowEnd === Infinity) windowEnd = Math.max(at, warm);
    },
    relabel(taskId, kind) {
      const t = tracks.get(taskId);
      if (t === undefined) {
        labels.set(taskId, kind);
        return;
      }
      // Queued already under its own kind: move its acceptance over.
      if (t.cohort && t.kind !== kind) {
        group(kinds, t.kind).accepted--;
        group(kinds, kind).accepted++;
      }
      t.kind = kind;
    },
    finish(at, end) {
      for (const off of offs) off();
      if (windowEnd === Infinity) windowEnd = Math.max(end, warm);
      // Tasks still in the hive count up to now.
      let unfinished = 0;
      for (const t of tracks.values()) {
        if (t.queuedAt >= warm && t.queuedAt <= windowEnd) unfinished++;
        littles(t, at);
      }
      // Kinds nobody used and that were not named are dropped; named ones stay even when empty.
      for (const [key, g] of kinds) if (g.accepted === 0 && g.rejected === 0 && !requires.has(key)) kinds.delete(key);
      const ordered = new Map<string, Group>();
      for (const p of PRIORITIES) {
        const g = priorities.get(p);
        if (g !== undefined && g.accepted > 0) ordered.set(p, g);
      }
      const durationMs = windowEnd - warm;
      const T = durationMs / 1_000;
      const lambda = T > 0 ? arrivals / T : 0;
      const w = arrivals > 0 ? timeSum / arrivals : 0;
      const littlesLaw: LittlesLaw = {
        meanInSystem: durationMs > 0 ? r3((timeSum - spillSum + carriedSum) / durationMs) : 0,
        arrivalsPerSec: r3(lambda),
        meanTimeInSystemMs: r3(w),
        lambdaW: r3((lambda * w) / 1_000),
        carriedIn: durationMs > 0 ? r3(carriedSum / durationMs) : 0,
        spilledOut: durationMs > 0 ? r3(spillSum / durationMs) : 0,
        unfinished,
      };
      return { byPriority: figuresOf(ordered, durationMs), byKind: figuresOf(kinds, durationMs), timeBreakdown: breakdownOf(all), littlesLaw, intervals, fastFails };
    },
  };
}
