/**
 * The actor system's bootstrap: the machines wired to one another and to the backend (Queen →
 * Supervisor → Agent → Worker → port), the Queen's input from the hive's options and what a
 * recovery brought back, and the Supervisor's emitted events handed to the hive.
 *
 * @module
 */
import { type Actor, createActor } from "xstate";
import { agentMachine } from "../../actors/agent.ts";
import type { AllocationOption } from "../../actors/allocation-strategies.ts";
import { type LifecycleEvent, queenMachine } from "../../actors/queen.ts";
import { type AgentLifecycleEvent, type AllocationFallbackEvent, type Decision, persistSupervisor, supervisorMachine } from "../../actors/supervisor.ts";
import { workerMachine } from "../../actors/worker.ts";
import type { ExecutionBackend } from "../backends/types.ts";
import type { HiveClock } from "../core/clock.ts";
import { createRandom } from "../core/random.ts";
import type { PersistedHive } from "../../actors/persist.ts";
import type { HiveDurability } from "./durability.ts";
import { createPort } from "./port.ts";
import type { ParsedHiveOptions } from "./schema.ts";
import type { TaskTransfers } from "./transfers.ts";

/** The running Queen (the root of the actor system). */
export type QueenActor = Actor<typeof queenMachine>;

/** What the hive hears from the actors. */
export interface SystemListeners {
  lifecycle(event: LifecycleEvent): void;
  decisions(decisions: Decision[]): void;
  fallback(event: AllocationFallbackEvent): void;
  agents(events: AgentLifecycleEvent[]): void;
}

/** How the swarm starts. */
export interface SystemStart {
  options: ParsedHiveOptions;
  backend: ExecutionBackend;
  clock: HiveClock;
  allocation: AllocationOption | undefined;
  /** XState's inspect observer, if any. */
  inspect: unknown;
  /** The Queen's and Supervisor's saved state, and how old it is. */
  restore: { state: PersistedHive; ageMs: number } | undefined;
  /** Task inputs that move to their thread (`transfer`). */
  transfers?: TaskTransfers | undefined;
}

/** Creates and starts the Queen and, under it, the whole swarm. */
export function startSystem(start: SystemStart, listeners: SystemListeners): QueenActor {
  const { options: o, backend, clock } = start;
  const worker = workerMachine.provide({ actors: { port: createPort(backend, clock, start.transfers) } });
  const agent = agentMachine.provide({ actors: { worker } });
  const supervisor = supervisorMachine.provide({ actors: { agent } });
  const queen = queenMachine.provide({ actors: { supervisor } });
  const actor = createActor(queen, {
    systemId: "queen",
    clock: clock as never,
    input: {
      agents: o.agents.map((a) => ({ id: a.id, capabilities: a.capabilities, concurrency: a.concurrency, restart: a.restart })),
      random: createRandom(o.seed),
      maxQueued: o.queue.maxQueued,
      overflow: o.queue.overflow,
      agingMs: o.queue.agingMs,
      ...(o.limits !== undefined ? { limits: o.limits } : {}),
      retry: o.retry,
      supervision: o.supervision,
      ...(start.allocation !== undefined ? { allocation: start.allocation } : {}),
      startsOnDispatch: backend.startsOnDispatch,
      ...(start.restore !== undefined ? { restore: { at: clock.now() - start.restore.ageMs, queen: start.restore.state.queen, supervisor: start.restore.state.supervisor } } : {}),
    },
    ...(start.inspect !== undefined ? { inspect: start.inspect as never } : {}),
  });
  actor.on("queen.events", (emitted) => {
    for (const event of emitted.events) listeners.lifecycle(event);
  });
  actor.start();
  const supervisorRef = supervisorOf(actor);
  supervisorRef.on("supervisor.decisions", (emitted) => listeners.decisions(emitted.decisions));
  supervisorRef.on("supervisor.fallback", (emitted) => listeners.fallback(emitted.event));
  supervisorRef.on("supervisor.agents", (emitted) => listeners.agents(emitted.events));
  return actor;
}

/** The Supervisor under the Queen. */
export function supervisorOf(queen: QueenActor): Actor<typeof supervisorMachine> {
  return queen.system.get("supervisor") as Actor<typeof supervisorMachine>;
}

/** Saves the Queen's and Supervisor's state beside the journal. */
export function persistSystem(queen: QueenActor | undefined, durable: HiveDurability, now: number, schedules: Record<string, number>): void {
  if (queen === undefined || durable.journal === undefined) return;
  const supervisor = queen.system.get("supervisor") as Actor<typeof supervisorMachine> | undefined;
  if (supervisor === undefined) return;
  const degraded = queen.getSnapshot().context.degraded;
  durable.saveState({
    version: 1,
    queen: { degraded: degraded === null ? null : { reason: degraded.reason } },
    supervisor: persistSupervisor(supervisor.getSnapshot().context, now),
    ...(Object.keys(schedules).length > 0 ? { schedules } : {}),
  });
}
