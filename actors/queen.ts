/**
 * The Queen actor (systemId `queen`): the hive's intake and the keeper of every task's
 * lifecycle. A task is `queued` once accepted, `running` while an attempt runs, and ends in
 * exactly one of `completed`, `failed`, `cancelled` (or `rejected` when it was never accepted).
 * Failed attempts are retried (on another agent where possible) until `retries` runs out.
 * The Queen invokes the Supervisor, which places the work.
 *
 * @module
 */
import { type ActorRefFrom, emit, enqueueActions, sendTo, setup } from "xstate";
import { HiveStoppedError, QueueFullError, TaskCancelledError } from "../src/errors.ts";
import type { Random } from "../src/random.ts";
import { type AgentSpec, type SupervisorEvent, type SupervisorToQueen, supervisorMachine } from "./supervisor.ts";
import type { AttemptResult, Capabilities, Priority, ReadyTask } from "./types.ts";

/** A validated task as the Queen receives it. */
export interface TaskSpec {
  id: string;
  kind: string;
  input: unknown;
  requires: Capabilities;
  priority: Priority;
  timeoutMs: number;
  /** Further attempts after a failed one. */
  retries: number;
}

/** The Queen's record of a task that has not ended yet. */
export interface TaskRecord extends TaskSpec {
  state: "queued" | "running";
  attempt: number;
  agentId: string | undefined;
  submittedAt: number;
}

/** Input of {@link queenMachine}. */
export interface QueenInput {
  agents: AgentSpec[];
  random: Random;
  /** Most tasks waiting (not running) at once. */
  maxQueued: number;
  agingMs: number;
}

/** Counters of the task lifecycle. `accepted = completed + failed + cancelled + queued + running`. */
export interface TaskCounts {
  submitted: number;
  accepted: number;
  rejected: number;
  completed: number;
  failed: number;
  cancelled: number;
  retried: number;
  queued: number;
  running: number;
}

/** Context of {@link queenMachine}. Records and counts are mutated in place (hot path). */
export interface QueenContext {
  /** Every accepted task that has not ended, by id. */
  tasks: Map<string, TaskRecord>;
  counts: TaskCounts;
  maxQueued: number;
  /** What the Supervisor starts with. */
  supervisor: { agents: AgentSpec[]; random: Random; agingMs: number };
}

/** Events the Queen accepts. */
export type QueenEvent =
  | { type: "queen.submit"; task: TaskSpec; at: number }
  | { type: "queen.cancel"; id: string; reason: string; at: number }
  | { type: "queen.drain" }
  | { type: "queen.stop"; at: number }
  | SupervisorToQueen;

/** Lifecycle events the Queen emits; the hive turns them into results and public events. */
export type QueenEmitted =
  | { type: "task.queued"; taskId: string; kind: string; priority: Priority; at: number }
  | { type: "task.rejected"; taskId: string; kind: string; error: Error; at: number }
  | { type: "task.started"; taskId: string; kind: string; agentId: string; attempt: number; at: number }
  | { type: "task.retrying"; taskId: string; kind: string; attempt: number; error: Error; at: number }
  | { type: "task.completed"; taskId: string; kind: string; agentId: string | undefined; attempts: number; value: unknown; durationMs: number; latencyMs: number; at: number }
  | { type: "task.failed"; taskId: string; kind: string; agentId: string | undefined; attempts: number; error: Error; at: number }
  | { type: "task.cancelled"; taskId: string; kind: string; error: Error; at: number }
  | { type: "hive.drained"; at: number }
  | { type: "hive.stopped"; at: number };

const RETRIABLE = new Set(["TASK_FAILED", "WORKER_CRASHED", "TASK_TIMEOUT"]);

function toReady(record: TaskRecord, at: number): ReadyTask {
  return {
    id: record.id,
    kind: record.kind,
    input: record.input,
    requires: record.requires,
    priority: record.priority,
    timeoutMs: record.timeoutMs,
    attempt: record.attempt,
    avoid: record.agentId,
    enqueuedAt: at,
  };
}

/** The Queen machine: accepting ⇄ draining, then stopping → stopped. */
export const queenMachine = setup({
  types: {
    context: {} as QueenContext,
    events: {} as QueenEvent,
    input: {} as QueenInput,
    emitted: {} as QueenEmitted,
  },
  actors: { supervisor: supervisorMachine },
  guards: {
    isEmpty: ({ context }) => context.tasks.size === 0,
  },
  actions: {
    accept: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.submit") return;
      const { task, at } = event;
      const counts = context.counts;
      counts.submitted++;
      if (context.tasks.has(task.id)) {
        counts.rejected++;
        enqueue(emit({ type: "task.rejected", taskId: task.id, kind: task.kind, at, error: new HiveStoppedError(`Cannot accept task: "id" ${JSON.stringify(task.id)} is already in use by a task that has not ended`, { taskId: task.id }) }));
        return;
      }
      if (counts.queued >= context.maxQueued) {
        counts.rejected++;
        enqueue(emit({ type: "task.rejected", taskId: task.id, kind: task.kind, at, error: new QueueFullError(`Cannot accept task ${task.id}: the queue is full (${context.maxQueued} tasks waiting, "queue.maxQueued")`, { taskId: task.id }) }));
        return;
      }
      const record: TaskRecord = { ...task, state: "queued", attempt: 1, agentId: undefined, submittedAt: at };
      context.tasks.set(task.id, record);
      counts.accepted++;
      counts.queued++;
      enqueue(emit({ type: "task.queued", taskId: task.id, kind: task.kind, priority: task.priority, at }));
      enqueue(sendTo("supervisor", { type: "supervisor.enqueue", task: toReady(record, at), at } satisfies SupervisorEvent));
    }),
    refuse: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.submit") return;
      context.counts.submitted++;
      context.counts.rejected++;
      enqueue(emit({ type: "task.rejected", taskId: event.task.id, kind: event.task.kind, at: event.at, error: new HiveStoppedError(`Cannot accept task ${event.task.id}: the hive is not accepting work (draining or stopped)`, { taskId: event.task.id }) }));
    }),
    started: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.started") return;
      const record = context.tasks.get(event.id);
      if (record === undefined || record.state !== "queued") return;
      record.state = "running";
      record.agentId = event.agentId;
      context.counts.queued--;
      context.counts.running++;
      enqueue(emit({ type: "task.started", taskId: record.id, kind: record.kind, agentId: event.agentId, attempt: record.attempt, at: event.at }));
    }),
    finished: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.finished") return;
      const record = context.tasks.get(event.id);
      // Ended already (cancelled, or an attempt that was superseded): nothing finishes twice.
      if (record === undefined || (event.attempt !== 0 && event.attempt !== record.attempt)) return;
      const counts = context.counts;
      if (record.state === "running") counts.running--;
      else counts.queued--;
      const result: AttemptResult = event.result;
      if (result.ok) {
        context.tasks.delete(record.id);
        counts.completed++;
        enqueue(emit({ type: "task.completed", taskId: record.id, kind: record.kind, agentId: event.agentId, attempts: record.attempt, value: result.value, durationMs: event.durationMs, latencyMs: event.at - record.submittedAt, at: event.at }));
        return;
      }
      const code = result.error.code ?? "";
      if (RETRIABLE.has(code) && record.attempt <= record.retries) {
        record.attempt++;
        record.state = "queued";
        if (event.agentId !== undefined) record.agentId = event.agentId;
        counts.queued++;
        counts.retried++;
        enqueue(emit({ type: "task.retrying", taskId: record.id, kind: record.kind, attempt: record.attempt, error: result.error, at: event.at }));
        enqueue(sendTo("supervisor", { type: "supervisor.enqueue", task: toReady(record, event.at), at: event.at } satisfies SupervisorEvent));
        return;
      }
      context.tasks.delete(record.id);
      if (code === "TASK_CANCELLED") {
        counts.cancelled++;
        enqueue(emit({ type: "task.cancelled", taskId: record.id, kind: record.kind, error: result.error, at: event.at }));
      } else {
        counts.failed++;
        enqueue(emit({ type: "task.failed", taskId: record.id, kind: record.kind, agentId: event.agentId, attempts: record.attempt, error: result.error, at: event.at }));
      }
    }),
    cancel: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.cancel") return;
      const record = context.tasks.get(event.id);
      if (record === undefined) return;
      context.tasks.delete(record.id);
      if (record.state === "running") context.counts.running--;
      else context.counts.queued--;
      context.counts.cancelled++;
      enqueue(emit({ type: "task.cancelled", taskId: record.id, kind: record.kind, at: event.at, error: new TaskCancelledError(`Task ${record.id} (${record.kind}) was cancelled: ${event.reason}`, { taskId: record.id }) }));
      enqueue(sendTo("supervisor", { type: "supervisor.cancel", id: record.id, reason: event.reason, at: event.at } satisfies SupervisorEvent));
    }),
  },
}).createMachine({
  id: "queen",
  context: ({ input }) => ({
    tasks: new Map(),
    counts: { submitted: 0, accepted: 0, rejected: 0, completed: 0, failed: 0, cancelled: 0, retried: 0, queued: 0, running: 0 },
    maxQueued: input.maxQueued,
    supervisor: { agents: input.agents, random: input.random, agingMs: input.agingMs },
  }),
  invoke: {
    id: "supervisor",
    systemId: "supervisor",
    src: "supervisor",
    input: ({ context }) => context.supervisor,
  },
  on: {
    "queen.started": { actions: "started" },
    "queen.finished": { actions: "finished" },
    "queen.cancel": { actions: "cancel" },
  },
  initial: "accepting",
  states: {
    accepting: {
      on: {
        "queen.submit": { actions: "accept" },
        "queen.drain": "draining",
        "queen.stop": "stopping",
      },
    },
    draining: {
      always: { guard: "isEmpty", target: "accepting", actions: emit(() => ({ type: "hive.drained", at: 0 }) as const) },
      on: {
        "queen.submit": { actions: "refuse" },
        "queen.stop": "stopping",
      },
    },
    stopping: {
      entry: sendTo("supervisor", ({ event }) => ({ type: "supervisor.stop", at: (event as { at?: number }).at ?? 0 }) satisfies SupervisorEvent),
      always: { guard: "isEmpty", target: "stopped" },
      on: { "queen.submit": { actions: "refuse" } },
    },
    stopped: {
      type: "final",
      entry: emit(() => ({ type: "hive.stopped", at: 0 }) as const),
    },
  },
});

/** A running Queen. */
export type QueenRef = ActorRefFrom<typeof queenMachine>;
