/**
 * The Agent actor: one swarm agent. Holds its capabilities and concurrency slots, starts a
 * Worker per slot when first needed (an idle agent costs no Worker actors), and reports each
 * attempt's end to its Supervisor. Its state says how loaded it is.
 *
 * @module
 */
import { type ActorRefFrom, enqueueActions, sendParent, setup } from "xstate";
import type { Capabilities, ReadyTask } from "./types.ts";
import { type AttemptDoneEvent, type WorkerEvent, workerMachine } from "./worker.ts";

/** Input of {@link agentMachine}. */
export interface AgentInput {
  id: string;
  capabilities: Capabilities;
  concurrency: number;
}

/** Context of {@link agentMachine}. */
export interface AgentContext {
  id: string;
  capabilities: Capabilities;
  concurrency: number;
  /** Attempts running now; equals the number of slots in use. */
  busy: number;
  /** Worker actor per slot, started on first use. */
  workers: ActorRefFrom<typeof workerMachine>[];
  /** Slot indices with a started, idle Worker. */
  free: number[];
  /** Task id → slot, for every running attempt. Mutated in place (hot path). */
  running: Record<string, { slot: number; seq: number }>;
}

/** Events an Agent accepts. */
export type AgentEvent =
  | { type: "agent.assign"; task: ReadyTask; seq: number; at: number }
  | { type: "agent.cancel"; id: string; reason: string; at: number }
  | AttemptDoneEvent
  | { type: "agent.stop" };

/** What an Agent tells its Supervisor when an attempt ends. */
export interface AgentAttemptDone extends Omit<AttemptDoneEvent, "type" | "slot"> {
  type: "supervisor.attemptDone";
  agentId: string;
}

/** The Agent machine: idle → busy → saturated as slots fill, back as they free. */
export const agentMachine = setup({
  types: {
    context: {} as AgentContext,
    events: {} as AgentEvent,
    input: {} as AgentInput,
  },
  actors: { worker: workerMachine },
  guards: {
    isIdle: ({ context }) => context.busy === 0,
    isSaturated: ({ context }) => context.busy >= context.concurrency,
  },
  actions: {
    assignToSlot: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "agent.assign") return;
      let slot = context.free.pop();
      if (slot === undefined) {
        slot = context.workers.length;
        const index = slot;
        enqueue.assign({
          workers: ({ spawn }) => [...context.workers, spawn("worker", { id: `w${index}`, input: { agentId: context.id, slot: index } })],
        });
      }
      const target = slot;
      context.running[event.task.id] = { slot: target, seq: event.seq };
      enqueue.assign({ busy: context.busy + 1 });
      enqueue.sendTo(
        ({ context: c }) => c.workers[target]!,
        {
          type: "worker.run",
          at: event.at,
          attempt: {
            id: event.task.id,
            seq: event.seq,
            kind: event.task.kind,
            input: event.task.input,
            attempt: event.task.attempt,
            timeoutMs: event.task.timeoutMs,
          },
        } satisfies WorkerEvent,
      );
    }),
    releaseSlot: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "agent.attemptDone") return;
      const entry = context.running[event.id];
      if (entry !== undefined && entry.seq === event.seq) delete context.running[event.id];
      context.free.push(event.slot);
      enqueue.assign({ busy: context.busy - 1 });
      enqueue(
        sendParent({
          type: "supervisor.attemptDone",
          agentId: context.id,
          id: event.id,
          seq: event.seq,
          result: event.result,
          durationMs: event.durationMs,
          at: event.at,
        } satisfies AgentAttemptDone),
      );
    }),
    cancelAttempt: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "agent.cancel") return;
      const entry = context.running[event.id];
      if (entry === undefined) return;
      enqueue.sendTo(context.workers[entry.slot]!, { type: "worker.abort", seq: entry.seq, reason: event.reason, at: event.at } satisfies WorkerEvent);
    }),
  },
}).createMachine({
  id: "agent",
  context: ({ input }) => ({
    id: input.id,
    capabilities: input.capabilities,
    concurrency: input.concurrency,
    busy: 0,
    workers: [],
    free: [],
    running: {},
  }),
  initial: "idle",
  on: {
    "agent.cancel": { actions: "cancelAttempt" },
    "agent.stop": ".stopped",
  },
  states: {
    idle: {
      on: { "agent.assign": { target: "busy", actions: "assignToSlot" } },
    },
    busy: {
      always: [
        { guard: "isIdle", target: "idle" },
        { guard: "isSaturated", target: "saturated" },
      ],
      on: {
        "agent.assign": { actions: "assignToSlot", target: "busy", reenter: false },
        "agent.attemptDone": { actions: "releaseSlot" },
      },
    },
    saturated: {
      always: { guard: ({ context }) => context.busy < context.concurrency, target: "busy" },
      on: { "agent.attemptDone": { actions: "releaseSlot" } },
    },
    stopped: {
      // Attempts still running report here; their results travel up so nothing is lost.
      on: { "agent.attemptDone": { actions: "releaseSlot" } },
    },
  },
});
