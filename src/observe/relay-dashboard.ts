/**
 * The dashboard of an inspector relay: what it can tell from the actors the relay knows (live
 * ones of this process, or those of a trace replayed into it) — every machine in its state, and,
 * when the actors are an apiary hive's, the agents (from the Agent actors and the Supervisor's
 * view of them), the queue by priority and the task counts (from the Queen), and state changes
 * into and out of trouble (failed, restarting, degraded, a breaker open) as they happen.
 *
 * @module
 */
import { PRIORITIES } from "../../actors/types.ts";
import type { ActorCensus, CensusActor } from "./census.ts";
import type { DashboardAgent, DashboardEvent, DashboardSample, DashboardSource } from "./dashboard.ts";
import { isMachineDefinition } from "./diagram.ts";

/** States worth an event when an actor enters or leaves them. */
const TROUBLE = /failed|restarting|degraded|escalated|open|halfOpen|error/;

interface AgentContext {
  id?: unknown;
  busy?: unknown;
  concurrency?: unknown;
}

interface AgentView {
  id?: unknown;
  breaker?: unknown;
  health?: { completed?: unknown; failed?: unknown };
}

/** The dashboard source of the actors in `census`. */
export function relayDashboard(census: ActorCensus, title: string): DashboardSource {
  return {
    title,
    sample: (): DashboardSample => {
      const actors: { definition: unknown; value: unknown }[] = [];
      const agents: DashboardAgent[] = [];
      let queen: CensusActor | undefined;
      let views: AgentView[] | undefined;
      for (const a of census.actors()) {
        if (!isMachineDefinition(a.definition)) continue;
        actors.push({ definition: a.definition, value: a.snapshot?.value });
        const kind = kindOf(a);
        const context = a.snapshot?.context as Record<string, unknown> | undefined;
        if (kind === "queen" && queen === undefined) queen = a;
        else if (kind === "supervisor" && Array.isArray(context?.["views"])) views = context["views"] as AgentView[];
        else if (kind === "agent") {
          const c = (context ?? {}) as AgentContext;
          agents.push({
            id: typeof c.id === "string" ? c.id : a.name,
            state: stateText(a.snapshot?.value),
            busy: typeof c.busy === "number" ? c.busy : 0,
            concurrency: typeof c.concurrency === "number" ? c.concurrency : 0,
          });
        }
      }
      for (const agent of agents) {
        const view = views?.find((v) => v.id === agent.id);
        if (view === undefined) continue;
        if (typeof view.breaker === "string") agent.breaker = view.breaker;
        if (typeof view.health?.completed === "number") agent.completed = view.health.completed;
        if (typeof view.health?.failed === "number") agent.failed = view.health.failed;
      }
      const q = queen?.snapshot?.context as { counts?: Record<string, number>; queuedByRank?: number[] } | undefined;
      const queue: Record<string, number> | undefined = Array.isArray(q?.queuedByRank) ? Object.fromEntries(PRIORITIES.map((p, i) => [p, q.queuedByRank![i] ?? 0])) : undefined;
      return {
        status: { state: queen !== undefined ? stateText(queen.snapshot?.value) : actors.length > 0 ? "watching" : "no actors", detail: `${actors.length} actors` },
        actors,
        agents,
        queue,
        tasks: typeof q?.counts === "object" && q.counts !== null ? q.counts : undefined,
      };
    },
    subscribe: (listener) => {
      census.onTransition((actor, from, to) => {
        if (!TROUBLE.test(to) && (from === undefined || !TROUBLE.test(from))) return;
        const level: DashboardEvent["level"] = /failed|error|degraded|escalated/.test(to) ? "error" : TROUBLE.test(to) ? "warn" : "info";
        listener({ level, kind: `${kindOf(actor)}.${to}`, text: `${kindOf(actor)} ${actor.name}: ${from ?? "?"} → ${to}` });
      });
      return () => census.onTransition(undefined);
    },
  };
}

function kindOf(actor: CensusActor): string {
  const id = (actor.definition as { id?: unknown } | undefined)?.id;
  return typeof id === "string" ? id : actor.name;
}

function stateText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? "";
}
