/**
 * The hive's side of the live dashboard (`hive.serve()` at `/`): what it reads off a running hive
 * once a second — the actor tree from the Queen down (each machine's definition and state),
 * `hive.stats()` (agents, breakers, task counts), the Queen's queue by priority, and the latency
 * of the last 5 minutes from the metrics — and the events it shows as they happen (restarts,
 * escalations, breaker trips), heard through `hive.on`; dead letters show in the counts. Nothing here runs per task:
 * sampling walks a few actors per agent once a second, and the events listened to are rare ones.
 *
 * @module
 */
import { PRIORITIES } from "../../actors/types.ts";
import type { DashboardActor, DashboardEvent, DashboardSource } from "../observe/dashboard.ts";
import type { Hive, HiveEvent } from "./hive.ts";
import type { HiveMetrics } from "./metrics.ts";
import type { QueenActor } from "./system.ts";

/** What the dashboard reads of a hive. */
export interface HiveDashboardParts {
  hive: Hive;
  /** The Queen (the root of the actor system) while the hive runs. */
  queen: () => QueenActor | undefined;
  /** Undefined with `metrics: false` (the dashboard then shows no latency). */
  metrics: HiveMetrics | undefined;
  /** The hive clock, ms. */
  now: () => number;
}

/** The events the dashboard lists, and how each reads. */
const SHOWN: { [T in HiveEvent["type"]]?: (e: Extract<HiveEvent, { type: T }>) => Omit<DashboardEvent, "kind"> } = {
  "agent.crashed": (e) => ({ level: "warn", text: `agent ${e.agentId} crashed: ${e.reason}` }),
  "agent.restarting": (e) => ({ level: "info", text: `agent ${e.agentId} restarting in ${Math.round(e.backoffMs)} ms (restart ${e.restarts})` }),
  "agent.restarted": (e) => ({ level: "info", text: `agent ${e.agentId} restarted` }),
  "agent.failed": (e) => ({ level: "error", text: `agent ${e.agentId} failed for good: ${e.reason}` }),
  "agent.added": (e) => ({ level: "info", text: `agent ${e.agentId} added` }),
  "agent.removed": (e) => ({ level: "info", text: `agent ${e.agentId} removed` }),
  "hive.degraded": (e) => ({ level: "error", text: `escalation: the hive is degraded (${e.reason})` }),
  "hive.healed": () => ({ level: "info", text: "the hive healed" }),
  "breaker.transition": (e) => ({ level: e.to === "closed" ? "info" : "warn", text: `${e.scope} breaker ${e.name}: ${e.from} → ${e.to} (${e.reason})` }),
  "hive.stopped": () => ({ level: "info", text: "the hive stopped" }),
};

/** The dashboard source of a hive. */
export function hiveDashboard(parts: HiveDashboardParts): DashboardSource {
  const { hive } = parts;
  return {
    title: "apiary hive",
    sample: () => {
      const stats = hive.stats();
      const queen = parts.queen();
      const snapshot = queen?.getSnapshot();
      const queue: Record<string, number> = {};
      const byRank = snapshot?.context.queuedByRank;
      PRIORITIES.forEach((p, i) => (queue[p] = byRank?.[i] ?? 0));
      const actors: DashboardActor[] = [];
      if (queen !== undefined && stats.state !== "stopped") collect(queen, actors, 0);
      const latency = parts.metrics?.recentLatency(parts.now());
      return {
        status: {
          state: stats.state === "running" && snapshot !== undefined ? String(snapshot.value) : stats.state,
          detail: stats.degraded?.reason,
          backend: stats.backend,
          uptimeMs: stats.uptimeMs,
        },
        actors,
        agents: stats.agents.map((a) => ({
          id: a.id,
          state: a.state,
          status: a.status,
          busy: a.busy,
          concurrency: a.concurrency,
          breaker: a.breaker,
          completed: a.completed,
          failed: a.failed,
          restarts: a.restarts,
          lastCrash: a.lastCrash,
        })),
        queue,
        tasks: { ...stats.tasks },
        latency: latency === undefined ? undefined : { windowMs: latency.windowMs, count: latency.count, p50: latency.p50, p95: latency.p95, p99: latency.p99, max: latency.max },
      };
    },
    subscribe: (listener) => {
      const disposers = Object.entries(SHOWN).map(([type, describe]) =>
        hive.on(type as HiveEvent["type"], (event) => {
          listener({ kind: event.type, ...(describe as (e: HiveEvent) => Omit<DashboardEvent, "kind">)(event) });
        })
      );
      return () => {
        for (const dispose of disposers) dispose();
      };
    },
  };
}

/** The actor and, depth first, its children: each one's machine definition and state value. */
function collect(ref: unknown, out: DashboardActor[], depth: number): void {
  const actor = ref as { logic?: { config?: unknown }; getSnapshot(): { value?: unknown; status?: string; children?: Record<string, unknown> } };
  let snapshot: ReturnType<typeof actor.getSnapshot>;
  try {
    snapshot = actor.getSnapshot();
  } catch {
    return;
  }
  if (snapshot.status !== "active") return;
  out.push({ definition: actor.logic?.config, value: snapshot.value });
  if (depth > 16 || snapshot.children === undefined) return;
  for (const child of Object.values(snapshot.children)) if (child !== undefined) collect(child, out, depth + 1);
}
