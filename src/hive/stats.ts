/**
 * What `hive.stats()` and the readiness probe report, and how they read it off the actors.
 *
 * @module
 */
import type { Actor } from "xstate";
import type { queenMachine, TaskCounts } from "../../actors/queen.ts";
import type { supervisorMachine } from "../../actors/supervisor.ts";
import type { BackendStats } from "../backends/types.ts";
import type { CacheStats } from "../cache/cache.ts";
import type { JournalStats } from "../journal/journal.ts";
import type { Readiness } from "../observe/serve.ts";
import type { BreakerSummary } from "./agent-breakers.ts";
import type { ParsedHiveOptions } from "./schema.ts";

/** Latency percentiles, ms. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** One agent in {@link HiveStats}. */
export interface AgentStats {
  id: string;
  /** The Agent actor's state: idle, busy, saturated, failed, restarting, stopped. */
  state: string;
  /** Where it stands with its Supervisor: up, restarting, failed (for good), removing. */
  status: "up" | "restarting" | "failed" | "removing";
  restarts: number;
  /** Why it last crashed. */
  lastCrash: string | undefined;
  breaker: "closed" | "open" | "halfOpen";
  busy: number;
  concurrency: number;
  completed: number;
  failed: number;
  successRate: number;
  latencyMs: number;
}

/** Where a hive is in its life. */
export type HiveState = "created" | "starting" | "running" | "stopping" | "stopped";

/** What `hive.stats()` returns. */
export interface HiveStats {
  state: HiveState;
  /** Set once a supervisor gave up restarting: why, and when (hive clock, ms). */
  degraded: { reason: string; at: number } | null;
  /** Dispatch is paused (`hive.pause()`). */
  paused: boolean;
  /** The backend's name; before `start()` (which makes the backend) the configured one, `custom` for a factory. */
  backend: string;
  tasks: TaskCounts;
  /** Completed tasks per second since start. */
  throughputPerSec: number;
  /** Submit-to-completion latency of completed tasks. */
  latencyMs: LatencySummary;
  agents: AgentStats[];
  /** The backend's counters; all 0 before `start()`. */
  pool: BackendStats;
  uptimeMs: number;
  /** Every agent's and every dependency's breaker. */
  breakers: BreakerSummary[];
  /** The result cache's figures. */
  cache: CacheStats;
  /** The journal's figures; null with `durability: "none"`. */
  journal: JournalStats | null;
}

/** Task counts before the Queen exists. */
export const NO_TASKS: Readonly<TaskCounts> = { submitted: 0, accepted: 0, rejected: 0, completed: 0, failed: 0, cancelled: 0, deadLettered: 0, shed: 0, retried: 0, queued: 0, running: 0 };

/** Backend counters before the backend exists. */
export const NO_POOL: Readonly<BackendStats> = { threads: 0, inFlight: 0, messages: 0, threadRestarts: 0 };

/** Every agent as its Supervisor sees it (as configured, stopped, before the swarm starts). */
export function agentStats(queen: Actor<typeof queenMachine> | undefined, agents: ParsedHiveOptions["agents"]): AgentStats[] {
  const supervisor = queen?.system.get("supervisor") as Actor<typeof supervisorMachine> | undefined;
  if (supervisor === undefined) {
    return agents.map((a) => ({
      id: a.id,
      state: "stopped",
      status: "up",
      restarts: 0,
      lastCrash: undefined,
      breaker: "closed",
      busy: 0,
      concurrency: a.concurrency,
      completed: 0,
      failed: 0,
      successRate: 1,
      latencyMs: 0,
    }));
  }
  const snap = supervisor.getSnapshot();
  const out: AgentStats[] = [];
  for (const [id, entry] of snap.context.agents) {
    const child = snap.children[id] as { getSnapshot(): { value: unknown } } | undefined;
    const v = entry.view;
    out.push({
      id,
      state: child ? String(child.getSnapshot().value) : "stopped",
      status: entry.status,
      restarts: entry.restarts,
      lastCrash: entry.lastCrash,
      breaker: v.breaker,
      busy: v.busy,
      concurrency: v.concurrency,
      completed: v.health.completed,
      failed: v.health.failed,
      successRate: v.health.successRate,
      latencyMs: v.health.latencyMs,
    });
  }
  return out;
}

/** Ready = running, accepting work and not degraded; else why not. */
export function readiness(state: HiveState, queen: Actor<typeof queenMachine> | undefined): Readiness {
  if (state !== "running") return { ready: false, reason: `the hive is ${state}` };
  const snap = queen?.getSnapshot();
  const degraded = snap?.context.degraded;
  if (degraded) return { ready: false, reason: `the hive is degraded: ${degraded.reason}` };
  if (queen !== undefined && (queen.system.get("supervisor") as Actor<typeof supervisorMachine> | undefined)?.getSnapshot().context.paused === true) {
    return { ready: false, reason: "the hive is paused: hive.resume() restarts dispatch" };
  }
  const value = String(snap?.value);
  if (value !== "accepting") return { ready: false, reason: `the hive is ${value}` };
  return { ready: true };
}
