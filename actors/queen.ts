/**
 * The Queen actor (systemId `queen`): the hive's intake and the keeper of every task's
 * lifecycle. A task is `queued` once accepted, `running` while an attempt runs, and ends in
 * exactly one of `completed`, `failed`, `cancelled` — or is `rejected` and never accepted.
 * Failed attempts are retried (placed on another agent where possible) until `retries` runs
 * out. The Queen invokes the Supervisor, which places the work.
 *
 * Lifecycle events leave the Queen as one `queen.events` emission per handled event, so a
 * batch of a thousand tasks costs one emission, not a thousand.
 *
 * @module
 */
import { type ActorRefFrom, emit, enqueueActions, sendTo, setup } from "xstate";
import { HiveStoppedError, QueueFullError, TaskCancelledError } from "../src/errors.ts";
import type { Random } from "../src/random.ts";
import { type AgentSpec, type Decision, type Finished, type SupervisorEvent, type SupervisorToQueen, supervisorMachine } from "./supervisor.ts";
import type { Capabilities, Priority, ReadyTask } from "./types.ts";

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
  /** Agent of the current (or last) attempt. */
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

/** Counters of the task lifecycle. Always `accepted = completed + failed + cancelled + queued + running`. */
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
  | { type: "queen.submit"; tasks: TaskSpec[]; at: number }
  | { type: "queen.cancel"; id: string; reason: string; at: number }
  | { type: "queen.drain"; at: number }
  | { type: "queen.stop"; at: number }
  | SupervisorToQueen;

/** One task lifecycle event. */
export type LifecycleEvent =
  | { type: "task.queued"; taskId: string; kind: string; priority: Priority; at: number }
  | { type: "task.rejected"; taskId: string; kind: string; error: Error; at: number }
  | { type: "task.started"; taskId: string; kind: string; agentId: string; attempt: number; at: number }
  | { type: "task.retrying"; taskId: string; kind: string; attempt: number; error: Error; at: number }
  | { type: "task.completed"; taskId: string; kind: string; agentId: string | undefined; attempts: number; value: unknown; durationMs: number; latencyMs: number; at: number }
  | { type: "task.failed"; taskId: string; kind: string; agentId: string | undefined; attempts: number; error: Error; at: number }
  | { type: "task.cancelled"; taskId: string; kind: string; error: Error; at: number }
  | { type: "hive.drained"; at: number }
  | { type: "hive.stopped"; at: number };

/** What the Queen emits: the lifecycle events one handled event produced, in order. */
export type QueenEmitted = { type: "queen.events"; events: LifecycleEvent[] };

export type { Decision };

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

/** Applies ended attempts to the records; returns lifecycle events and tasks to retry. */
function applyFinished(context: QueenContext, finished: readonly Finished[], at: number, out: LifecycleEvent[], retry: ReadyTask[]): void {
  const counts = context.counts;
  for (const f of finished) {
    const record = context.tasks.get(f.id);
    // Ended already (cancelled, or a superseded attempt): nothing finishes twice.
    if (record === undefined || (f.attempt !== 0 && f.attempt !== record.attempt)) continue;
    if (record.state === "running") counts.running--;
    else counts.queued--;
    const result = f.result;
    if (result.ok) {
      context.tasks.delete(record.id);
      counts.completed++;
      out.push({ type: "task.completed", taskId: record.id, kind: record.kind, agentId: f.agentId, attempts: record.attempt, value: result.value, durationMs: f.durationMs, latencyMs: at - record.submittedAt, at });
      continue;
    }
    const code = result.error.code ?? "";
    if (RETRIABLE.has(code) && record.attempt <= record.retries) {
      record.attempt++;
      record.state = "queued";
      if (f.agentId !== undefined) record.agentId = f.agentId;
      counts.queued++;
      counts.retried++;
      out.push({ type: "task.retrying", taskId: record.id, kind: record.kind, attempt: record.attempt, error: result.error, at });
      retry.push(toReady(record, at));
      continue;
    }
    context.tasks.delete(record.id);
    if (code === "TASK_CANCELLED") {
      counts.cancelled++;
      out.push({ type: "task.cancelled", taskId: record.id, kind: record.kind, error: result.error, at });
    } else {
      counts.failed++;
      out.push({ type: "task.failed", taskId: record.id, kind: record.kind, agentId: f.agentId, attempts: record.attempt, error: result.error, at });
    }
  }
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
      const { at } = event;
      const counts = context.counts;
      const out: LifecycleEvent[] = [];
      const ready: ReadyTask[] = [];
      for (const task of event.tasks) {
        counts.submitted++;
        if (context.tasks.has(task.id)) {
          counts.rejected++;
          out.push({ type: "task.rejected", taskId: task.id, kind: task.kind, at, error: new HiveStoppedError(`Cannot accept task: "id" must not be in use by an unfinished task, received ${JSON.stringify(task.id)}`, { taskId: task.id }) });
          continue;
        }
        if (counts.queued >= context.maxQueued) {
          counts.rejected++;
          out.push({ type: "task.rejected", taskId: task.id, kind: task.kind, at, error: new QueueFullError(`Cannot accept task ${task.id}: the queue is full ("queue.maxQueued" is ${context.maxQueued})`, { taskId: task.id }) });
          continue;
        }
        const record: TaskRecord = { ...task, state: "queued", attempt: 1, agentId: undefined, submittedAt: at };
        context.tasks.set(task.id, record);
        counts.accepted++;
        counts.queued++;
        out.push({ type: "task.queued", taskId: task.id, kind: task.kind, priority: task.priority, at });
        ready.push(toReady(record, at));
      }
      if (ready.length > 0) enqueue(sendTo("supervisor", { type: "supervisor.enqueue", tasks: ready, at } satisfies SupervisorEvent));
      enqueue(emit({ type: "queen.events", events: out }));
    }),
    refuse: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.submit") return;
      const out: LifecycleEvent[] = [];
      for (const task of event.tasks) {
        context.counts.submitted++;
        context.counts.rejected++;
        out.push({ type: "task.rejected", taskId: task.id, kind: task.kind, at: event.at, error: new HiveStoppedError(`Cannot accept task ${task.id}: the hive is not accepting work (draining or stopped)`, { taskId: task.id }) });
      }
      enqueue(emit({ type: "queen.events", events: out }));
    }),
    started: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.started") return;
      const out: LifecycleEvent[] = [];
      for (const s of event.started) {
        const record = context.tasks.get(s.id);
        if (record === undefined || record.state !== "queued" || record.attempt !== s.attempt) continue;
        record.state = "running";
        record.agentId = s.agentId;
        context.counts.queued--;
        context.counts.running++;
        out.push({ type: "task.started", taskId: record.id, kind: record.kind, agentId: s.agentId, attempt: record.attempt, at: event.at });
      }
      if (out.length > 0) enqueue(emit({ type: "queen.events", events: out }));
    }),
    finished: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.finished") return;
      const out: LifecycleEvent[] = [];
      const retry: ReadyTask[] = [];
      applyFinished(context, event.finished, event.at, out, retry);
      if (retry.length > 0) enqueue(sendTo("supervisor", { type: "supervisor.enqueue", tasks: retry, at: event.at } satisfies SupervisorEvent));
      if (out.length > 0) enqueue(emit({ type: "queen.events", events: out }));
    }),
    cancel: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.cancel") return;
      const record = context.tasks.get(event.id);
      if (record === undefined) return;
      context.tasks.delete(record.id);
      if (record.state === "running") context.counts.running--;
      else context.counts.queued--;
      context.counts.cancelled++;
      const error = new TaskCancelledError(`Task ${record.id} (${record.kind}) was cancelled: ${event.reason}`, { taskId: record.id });
      enqueue(sendTo("supervisor", { type: "supervisor.cancel", id: record.id, reason: event.reason, at: event.at } satisfies SupervisorEvent));
      enqueue(emit({ type: "queen.events", events: [{ type: "task.cancelled", taskId: record.id, kind: record.kind, at: event.at, error }] }));
    }),
    drained: emit(({ event }) => ({ type: "queen.events", events: [{ type: "hive.drained", at: (event as { at?: number }).at ?? 0 }] }) as const),
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
      always: { guard: "isEmpty", target: "accepting", actions: "drained" },
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
      entry: emit(({ event }) => ({ type: "queen.events", events: [{ type: "hive.stopped", at: (event as { at?: number }).at ?? 0 }] }) as const),
    },
  },
});

/** A running Queen. */
export type QueenRef = ActorRefFrom<typeof queenMachine>;
