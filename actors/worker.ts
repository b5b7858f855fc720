/**
 * The Worker actor: one execution slot of an agent. Runs one attempt at a time on the execution
 * backend through its `port` (an invoked callback actor the hive provides), and owns the
 * attempt's timeout: when `timeoutMs` passes on the actor clock, the attempt is aborted (its
 * AbortSignal fires in the worker thread) and reported as timed out.
 *
 * @module
 */
import { fromCallback, sendParent, sendTo, setup, assign } from "xstate";
import { TaskCancelledError, TaskTimeoutError } from "../src/errors.ts";
import type { AttemptResult } from "./types.ts";

/** An attempt as a Worker runs it. */
export interface WorkerAttempt {
  id: string;
  seq: number;
  kind: string;
  input: unknown;
  attempt: number;
  timeoutMs: number;
}

/** Input of {@link workerMachine}. */
export interface WorkerInput {
  agentId: string;
  slot: number;
}

/** Context of {@link workerMachine}. */
export interface WorkerContext {
  agentId: string;
  slot: number;
  /** The attempt running now (state `running`), else null. */
  current: WorkerAttempt | null;
  /** Hive-clock time the current attempt started, ms. */
  startedAt: number;
}

/** Events a Worker accepts. */
export type WorkerEvent =
  | { type: "worker.run"; attempt: WorkerAttempt; at: number }
  | { type: "worker.outcome"; seq: number; result: AttemptResult; at: number }
  | { type: "worker.abort"; seq: number; reason: string; at: number };

/** What a Worker tells its port. */
export type PortEvent = { type: "port.exec"; attempt: WorkerAttempt } | { type: "port.abort"; seq: number };

/** What a Worker tells its Agent when an attempt ends. */
export interface AttemptDoneEvent {
  type: "agent.attemptDone";
  slot: number;
  id: string;
  seq: number;
  result: AttemptResult;
  durationMs: number;
  at: number;
}

/** Placeholder port: the hive provides the real one (`src/port.ts`) with `.provide()`. */
const unboundPort = fromCallback<PortEvent>(() => {
  throw new Error("workerMachine needs a `port` actor: provide one with workerMachine.provide({ actors: { port } })");
});

/** The Worker machine: idle ⇄ running. */
export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
  },
  actors: { port: unboundPort },
  delays: {
    attemptTimeout: ({ context }) => context.current?.timeoutMs ?? 0,
  },
  guards: {
    isCurrent: ({ context, event }) => "seq" in event && context.current?.seq === event.seq,
  },
}).createMachine({
  id: "worker",
  context: ({ input }) => ({ agentId: input.agentId, slot: input.slot, current: null, startedAt: 0 }),
  invoke: { id: "port", src: "port" },
  initial: "idle",
  states: {
    idle: {
      on: {
        "worker.run": {
          target: "running",
          actions: [
            assign({ current: ({ event }) => event.attempt, startedAt: ({ event }) => event.at }),
            sendTo("port", ({ event }) => ({ type: "port.exec", attempt: event.attempt }) satisfies PortEvent),
          ],
        },
      },
    },
    running: {
      after: {
        attemptTimeout: {
          target: "idle",
          actions: [
            sendTo("port", ({ context }) => ({ type: "port.abort", seq: context.current!.seq }) satisfies PortEvent),
            sendParent(({ context }): AttemptDoneEvent => {
              const a = context.current!;
              return {
                type: "agent.attemptDone",
                slot: context.slot,
                id: a.id,
                seq: a.seq,
                result: { ok: false, error: new TaskTimeoutError(`Task ${a.id} (${a.kind}) timed out after ${a.timeoutMs} ms (attempt ${a.attempt})`, { taskId: a.id }) },
                durationMs: a.timeoutMs,
                at: context.startedAt + a.timeoutMs,
              };
            }),
            assign({ current: null }),
          ],
        },
      },
      on: {
        "worker.outcome": {
          guard: "isCurrent",
          target: "idle",
          actions: [
            sendParent(({ context, event }): AttemptDoneEvent => ({
              type: "agent.attemptDone",
              slot: context.slot,
              id: context.current!.id,
              seq: event.seq,
              result: event.result,
              durationMs: Math.max(0, event.at - context.startedAt),
              at: event.at,
            })),
            assign({ current: null }),
          ],
        },
        "worker.abort": {
          guard: "isCurrent",
          target: "idle",
          actions: [
            sendTo("port", ({ event }) => ({ type: "port.abort", seq: event.seq }) satisfies PortEvent),
            sendParent(({ context, event }): AttemptDoneEvent => {
              const a = context.current!;
              return {
                type: "agent.attemptDone",
                slot: context.slot,
                id: a.id,
                seq: a.seq,
                result: { ok: false, error: new TaskCancelledError(`Task ${a.id} (${a.kind}) was cancelled: ${event.reason}`, { taskId: a.id }) },
                durationMs: Math.max(0, event.at - context.startedAt),
                at: event.at,
              };
            }),
            assign({ current: null }),
          ],
        },
      },
    },
  },
});
