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
import { type ActorRefFrom, and, assertEvent, emit, enqueueActions, sendTo, setup } from "xstate";
import { HiveStoppedError, InvalidTaskError, isRetriableCode, QueueFullError, TaskCancelledError, TaskTimeoutError } from "../src/core/errors.ts";
import type { Blame } from "./blame.ts";
import type { Random } from "../src/core/random.ts";
import type { SupervisionPolicy } from "./restart.ts";
import { type AgentSpec, type Capacity, type Decision, type Finished, type SupervisorEvent, type SupervisorInput, supervisorMachine, type SupervisorToQueen } from "./supervisor.ts";
import type { PersistedQueen, PersistedSupervisor } from "./persist.ts";
import type { AllocationOption } from "./allocation-strategies.ts";
import type { KindLimits } from "./kind-limits.ts";
import { type Capabilities, PRIORITIES, type Priority, type ReadyTask } from "./types.ts";
import { backoffMs } from "../src/core/backoff.ts";

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
  /** Bound on submit-to-end, queueing included, ms; past it the task ends TASK_TIMEOUT. */
  deadlineMs?: number | undefined;
  /** Accepted at once, eligible to run only this long after, ms (delayed and scheduled tasks). */
  delayMs?: number | undefined;
  /**
   * Ids of tasks it runs after: it is accepted and held (waiting) until the hive sends
   * `queen.release` (with their outcomes) or `queen.fail`.
   */
  after?: string[] | undefined;
  /** `fail` (default): a failed predecessor fails it with DEPENDENCY_FAILED; `settle`: it runs anyway. */
  afterPolicy?: "fail" | "settle" | undefined;
  /**
   * A task recovered from a previous run's journal: accepted whatever the queue holds, resuming
   * at `attempt`, after `retryInMs` when it was waiting out a retry backoff, with `deadlineInMs`
   * left of its deadline.
   */
  restored?: { attempt: number; retryInMs: number; deadlineInMs?: number | undefined } | undefined;
}

/** The Queen's record of a task that has not ended yet. */
export interface TaskRecord extends TaskSpec {
  /** `waiting`: a failed attempt's retry backoff, or a delayed task's delay, is running. Counted as queued. */
  state: "queued" | "running" | "waiting";
  attempt: number;
  /** Agent of the current (or last) attempt. */
  agentId: string | undefined;
  submittedAt: number;
  /** True once `task.started` was published for the current attempt. */
  began: boolean;
  /** While `waiting`: when it becomes eligible again (hive clock, ms). */
  dueAt?: number | undefined;
  /** Held until the tasks it runs after end. */
  held?: boolean | undefined;
  /** The outcomes of the tasks it runs after, once released (`ctx.after`). */
  afterValues?: unknown[] | undefined;
}

/** Input of {@link queenMachine}. */
export interface QueenInput {
  agents: AgentSpec[];
  random: Random;
  /** Most tasks waiting (not running) at once. */
  maxQueued: number;
  /** Over `maxQueued`: reject the newcomer, or shed the newest task of a lower priority. */
  overflow: "reject" | "shed-lowest";
  agingMs: number;
  /** Per kind, at most `max` attempts placed in any window of `perMs` ms (the Supervisor holds the rest). @default none */
  limits?: KindLimits | undefined;
  /** Backoff between a failed attempt and its retry: exponential from minMs to maxMs, ± jitter. */
  retry: RetryPolicy;
  /** How the Supervisor restarts crashed agents. */
  supervision: SupervisionPolicy;
  /** Who gets each task among the eligible agents with a free slot. @default "scored" */
  allocation?: AllocationOption | undefined;
  /** State saved by a previous run (the Supervisor's in `supervisor`). */
  restore?: { at: number; queen: PersistedQueen; supervisor: PersistedSupervisor } | undefined;
  /**
   * True when the backend runs an attempt as soon as it is placed (inline, simulated):
   * `task.started` is published at placement. Else when its thread begins it. @default true
   */
  startsOnDispatch?: boolean | undefined;
}

/** Backoff between attempts. */
export interface RetryPolicy {
  minMs: number;
  maxMs: number;
  /** Relative jitter in [0, 1]: the delay is scaled by a seeded factor in [1 − jitter, 1 + jitter]. */
  jitter: number;
}

/**
 * Counters of the task lifecycle. Always
 * `accepted = completed + failed + cancelled + deadLettered + shed + queued + running`.
 */
export interface TaskCounts {
  submitted: number;
  accepted: number;
  rejected: number;
  completed: number;
  /** Ended by an error no retry can mend (invalid kind, no eligible agent). */
  failed: number;
  cancelled: number;
  /** Kept failing (threw, crashed, timed out) through its last attempt. */
  deadLettered: number;
  /** Accepted, then dropped from a full queue for a higher-priority task. */
  shed: number;
  retried: number;
  /** Waiting for an agent, or for a retry's backoff. */
  queued: number;
  running: number;
}

/** Context of {@link queenMachine}. Records and counts are mutated in place (hot path). */
export interface QueenContext {
  /** Every accepted task that has not ended, by id. */
  tasks: Map<string, TaskRecord>;
  counts: TaskCounts;
  /** Queued (or waiting) tasks per priority rank: decides whether shedding can make room. */
  queuedByRank: number[];
  maxQueued: number;
  overflow: QueenInput["overflow"];
  retry: RetryPolicy;
  random: Random;
  /** Why the hive is degraded, once a supervisor escalated; else null. */
  degraded: { reason: string; at: number } | null;
  /** What the Supervisor starts with. */
  supervisor: SupervisorInput;
  startsOnDispatch: boolean;
  /** The swarm's room as the Supervisor last reported it (free slots, tasks received). */
  capacity: Capacity;
  /** Tasks sent to the Supervisor so far; minus `capacity.received`, those still on their way. */
  forwarded: number;
}

/** Events the Queen accepts. */
export type QueenEvent =
  | { type: "queen.submit"; tasks: TaskSpec[]; at: number }
  | { type: "queen.cancel"; id: string; reason: string; at: number }
  | { type: "queen.drain"; at: number }
  | { type: "queen.stop"; at: number }
  | { type: "queen.retry"; id: string; at: number }
  | { type: "queen.deadline"; id: string; at: number }
  | { type: "queen.release"; id: string; after: unknown[]; at: number }
  | { type: "queen.fail"; id: string; error: Error; at: number }
  | SupervisorToQueen;

/** One task lifecycle event. */
export type LifecycleEvent =
  | { type: "task.queued"; taskId: string; kind: string; priority: Priority; at: number }
  | { type: "task.rejected"; taskId: string; kind: string; error: Error; at: number }
  | { type: "task.started"; taskId: string; kind: string; agentId: string; attempt: number; at: number }
  | {
    type: "task.retrying";
    taskId: string;
    kind: string;
    agentId: string | undefined;
    attempt: number;
    error: Error; /** Backoff before it, ms. */
    retryInMs: number; /** Whose fault the failed attempt was. */
    blame?: Blame | undefined;
    at: number;
  }
  | { type: "task.completed"; taskId: string; kind: string; agentId: string | undefined; attempts: number; value: unknown; durationMs: number; latencyMs: number; at: number }
  | { type: "task.failed"; taskId: string; kind: string; agentId: string | undefined; attempts: number; error: Error; blame?: Blame | undefined; at: number }
  | { type: "task.deadLettered"; taskId: string; kind: string; agentId: string | undefined; attempts: number; error: Error; task: TaskSpec; blame?: Blame | undefined; at: number }
  | { type: "task.shed"; taskId: string; kind: string; error: Error; at: number }
  | { type: "hive.degraded"; reason: string; at: number }
  /** The escalation is over: a restarted agent is back and the hive is ready again. */
  | { type: "hive.healed"; at: number }
  | { type: "task.cancelled"; taskId: string; kind: string; error: Error; at: number }
  | { type: "hive.drained"; at: number }
  | { type: "hive.stopped"; at: number };

/** What the Queen emits: the lifecycle events one handled event produced, in order. */
export type QueenEmitted = { type: "queen.events"; events: LifecycleEvent[] };

export type { Decision };

const RANK: Record<Priority, number> = { critical: 0, high: 1, normal: 2, low: 3, background: 4 };

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
    ...(record.afterValues !== undefined ? { after: record.afterValues } : {}),
  };
}

function specOf(r: TaskRecord): TaskSpec {
  return {
    id: r.id,
    kind: r.kind,
    input: r.input,
    requires: r.requires,
    priority: r.priority,
    timeoutMs: r.timeoutMs,
    retries: r.retries,
    ...(r.deadlineMs !== undefined ? { deadlineMs: r.deadlineMs } : {}),
  };
}

/** The Supervisor's enqueue of `tasks`, counted as forwarded. */
function forward(context: QueenContext, tasks: ReadyTask[], at: number): SupervisorEvent {
  context.forwarded += tasks.length;
  return { type: "supervisor.enqueue", tasks, at };
}

/**
 * Tasks that will wait for a slot once one more is accepted: the queued ones (with `pending`
 * accepted in this step and not yet sent on), less those the swarm's free slots take as soon as
 * they reach the Supervisor.
 */
function waitingWithOneMore(context: QueenContext, pending: number): number {
  const inTransit = context.forwarded - context.capacity.received + pending + 1;
  return context.counts.queued + 1 - Math.max(0, Math.min(context.capacity.free, inTransit));
}

/** Moves a record to a new state (or out of the table, `ended`), keeping every count true. */
function move(context: QueenContext, record: TaskRecord, to: TaskRecord["state"] | "ended"): void {
  const counts = context.counts;
  if (record.state === "running") counts.running--;
  else {
    counts.queued--;
    context.queuedByRank[RANK[record.priority]]!--;
  }
  if (to === "ended") {
    context.tasks.delete(record.id);
    return;
  }
  record.state = to;
  if (to === "running") counts.running++;
  else {
    counts.queued++;
    context.queuedByRank[RANK[record.priority]]!++;
  }
}

/** Backoff before attempt `attempt` (2 = the first retry). */
export function retryDelayMs(policy: RetryPolicy, attempt: number, draw: number): number {
  return backoffMs(policy, attempt - 2, draw);
}

/** What handling finished attempts asks for: retries to schedule now or after a delay, deadlines to drop. */
interface Followups {
  now: ReadyTask[];
  later: { id: string; delayMs: number }[];
  /** Ended tasks whose deadline timer must go. */
  deadlines: string[];
}

/** Publishes `task.started` for the current attempt of `record`, once. */
function began(record: TaskRecord, agentId: string, at: number, out: LifecycleEvent[]): void {
  if (record.began) return;
  record.began = true;
  out.push({ type: "task.started", taskId: record.id, kind: record.kind, agentId, attempt: record.attempt, at });
}

/** Ends a record (out of the table), dropping its deadline timer. */
function end(context: QueenContext, record: TaskRecord, next: { deadlines: string[] }): void {
  move(context, record, "ended");
  if (record.deadlineMs !== undefined) next.deadlines.push(record.id);
}

/** Applies ended attempts to the records; collects lifecycle events and retries. */
function applyFinished(context: QueenContext, finished: readonly Finished[], at: number, out: LifecycleEvent[], next: Followups): void {
  const counts = context.counts;
  for (const f of finished) {
    const record = context.tasks.get(f.id);
    // Ended already (cancelled, or a superseded attempt): nothing finishes twice.
    if (record === undefined || record.state === "waiting" || (f.attempt !== 0 && f.attempt !== record.attempt)) continue;
    const result = f.result;
    // An attempt that waited for a thread and ended before anyone heard it start: it did start.
    if (f.startedAt !== undefined && f.agentId !== undefined && record.state === "running") began(record, f.agentId, f.startedAt, out);
    if (result.ok) {
      end(context, record, next);
      counts.completed++;
      out.push({
        type: "task.completed",
        taskId: record.id,
        kind: record.kind,
        agentId: f.agentId,
        attempts: record.attempt,
        value: result.value,
        durationMs: f.durationMs,
        latencyMs: at - record.submittedAt,
        at,
      });
      continue;
    }
    const code = result.error.code ?? "";
    if (isRetriableCode(code) && record.attempt <= record.retries) {
      record.attempt++;
      record.began = false;
      if (f.agentId !== undefined) record.agentId = f.agentId;
      counts.retried++;
      const delayMs = retryDelayMs(context.retry, record.attempt, context.random.next());
      out.push({
        type: "task.retrying",
        taskId: record.id,
        kind: record.kind,
        agentId: f.agentId,
        attempt: record.attempt,
        error: result.error,
        retryInMs: delayMs,
        ...(f.blame !== undefined ? { blame: f.blame } : {}),
        at,
      });
      if (delayMs === 0) {
        move(context, record, "queued");
        next.now.push(toReady(record, at));
      } else {
        move(context, record, "waiting");
        record.dueAt = at + delayMs;
        next.later.push({ id: record.id, delayMs });
      }
      continue;
    }
    end(context, record, next);
    if (code === "TASK_CANCELLED") {
      counts.cancelled++;
      out.push({ type: "task.cancelled", taskId: record.id, kind: record.kind, error: result.error, at });
    } else if (code === "QUEUE_FULL") {
      counts.shed++;
      out.push({ type: "task.shed", taskId: record.id, kind: record.kind, error: result.error, at });
    } else if (isRetriableCode(code)) {
      counts.deadLettered++;
      out.push({
        type: "task.deadLettered",
        taskId: record.id,
        kind: record.kind,
        agentId: f.agentId,
        attempts: record.attempt,
        error: result.error,
        task: specOf(record),
        ...(f.blame !== undefined ? { blame: f.blame } : {}),
        at,
      });
    } else {
      counts.failed++;
      out.push({
        type: "task.failed",
        taskId: record.id,
        kind: record.kind,
        agentId: f.agentId,
        attempts: record.attempt,
        error: result.error,
        ...(f.blame !== undefined ? { blame: f.blame } : {}),
        at,
      });
    }
  }
}

/** Takes a task back from a previous run's journal: no overflow check, its attempt count kept. */
function restoreTask(
  context: QueenContext,
  task: NonNullable<TaskSpec>,
  restored: NonNullable<TaskSpec["restored"]>,
  at: number,
  out: LifecycleEvent[],
  ready: ReadyTask[],
  enqueue: { raise(event: QueenEvent, options: { id: string; delay: number }): void },
): void {
  if (context.tasks.has(task.id)) return;
  const waiting = restored.retryInMs > 0;
  const { id, kind, input, requires, priority, timeoutMs, retries, deadlineMs } = task;
  const record: TaskRecord = {
    id,
    kind,
    input,
    requires,
    priority,
    timeoutMs,
    retries,
    deadlineMs,
    state: waiting ? "waiting" : "queued",
    attempt: restored.attempt,
    agentId: undefined,
    submittedAt: at,
    began: false,
  };
  if (deadlineMs !== undefined) {
    const left = Math.max(0, restored.deadlineInMs ?? deadlineMs);
    enqueue.raise({ type: "queen.deadline", id, at: at + left }, { id: `deadline:${id}`, delay: left });
  }
  context.tasks.set(task.id, record);
  context.counts.accepted++;
  context.counts.queued++;
  context.queuedByRank[RANK[task.priority]]!++;
  out.push({ type: "task.queued", taskId: task.id, kind: task.kind, priority: task.priority, at });
  // A held task waits for the hive to release it again.
  if (task.after !== undefined && task.after.length > 0) {
    record.state = "waiting";
    record.held = true;
    return;
  }
  // The retry timer of the previous run died with it: armed again for the time it had left.
  if (waiting) record.dueAt = at + restored.retryInMs;
  if (waiting) enqueue.raise({ type: "queen.retry", id: task.id, at: at + restored.retryInMs }, { id: `retry:${task.id}`, delay: restored.retryInMs });
  else ready.push(toReady(record, at));
}

/** Lowest priority rank with a queued task, below `rank`; or -1. */
function sheddableRank(context: QueenContext, rank: number): number {
  for (let r = context.queuedByRank.length - 1; r > rank; r--) if (context.queuedByRank[r]! > 0) return r;
  return -1;
}

/** The Queen machine: accepting (or degraded) ⇄ draining, then stopping → stopped. */
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
    isDegraded: ({ context }) => context.degraded !== null,
  },
  actions: {
    accept: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.submit") return;
      const { at } = event;
      const counts = context.counts;
      const out: LifecycleEvent[] = [];
      const ready: ReadyTask[] = [];
      const shed: Priority[] = [];
      for (const task of event.tasks) {
        counts.submitted++;
        if (task.restored !== undefined) {
          restoreTask(context, task, task.restored, at, out, ready, enqueue);
          continue;
        }
        if (context.tasks.has(task.id)) {
          counts.rejected++;
          out.push({
            type: "task.rejected",
            taskId: task.id,
            kind: task.kind,
            at,
            error: new InvalidTaskError(`Cannot accept task: "id" must not be in use by an unfinished task, received ${JSON.stringify(task.id)}`, { taskId: task.id }),
          });
          continue;
        }
        // The bound is on tasks that wait: those the swarm's free slots take at once do not count.
        if (waitingWithOneMore(context, ready.length) > context.maxQueued) {
          const victim = context.overflow === "shed-lowest" ? sheddableRank(context, RANK[task.priority]) : -1;
          if (victim < 0) {
            counts.rejected++;
            out.push({
              type: "task.rejected",
              taskId: task.id,
              kind: task.kind,
              at,
              error: new QueueFullError(`Cannot accept task ${task.id}: the queue is full ("queue.maxQueued" is ${context.maxQueued} waiting tasks)`, { taskId: task.id }),
            });
            continue;
          }
          // The Supervisor drops the newest task of that priority; the Queen ends it when told.
          context.queuedByRank[victim]!--;
          shed.push(PRIORITIES[victim]!);
        }
        const record: TaskRecord = {
          id: task.id,
          kind: task.kind,
          input: task.input,
          requires: task.requires,
          priority: task.priority,
          timeoutMs: task.timeoutMs,
          retries: task.retries,
          deadlineMs: task.deadlineMs,
          state: "queued",
          attempt: 1,
          agentId: undefined,
          submittedAt: at,
          began: false,
        };
        context.tasks.set(task.id, record);
        counts.accepted++;
        counts.queued++;
        context.queuedByRank[RANK[task.priority]]!++;
        out.push({ type: "task.queued", taskId: task.id, kind: task.kind, priority: task.priority, at });
        // A held task waits for the hive to release it; a delayed one as a retry does, on a timer.
        if (task.after !== undefined && task.after.length > 0) {
          record.state = "waiting";
          record.held = true;
        } else if (task.delayMs !== undefined && task.delayMs > 0) {
          record.state = "waiting";
          record.dueAt = at + task.delayMs;
          enqueue.raise({ type: "queen.retry", id: task.id, at: at + task.delayMs }, { id: `retry:${task.id}`, delay: task.delayMs });
        } else ready.push(toReady(record, at));
        if (task.deadlineMs !== undefined) enqueue.raise({ type: "queen.deadline", id: task.id, at: at + task.deadlineMs }, { id: `deadline:${task.id}`, delay: task.deadlineMs });
      }
      for (const priority of shed) enqueue(sendTo("supervisor", { type: "supervisor.shed", priority, at } satisfies SupervisorEvent));
      if (ready.length > 0) enqueue.sendTo("supervisor", forward(context, ready, at));
      enqueue(emit({ type: "queen.events", events: out }));
    }),
    refuse: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.submit") return;
      const out: LifecycleEvent[] = [];
      for (const task of event.tasks) {
        context.counts.submitted++;
        context.counts.rejected++;
        out.push({
          type: "task.rejected",
          taskId: task.id,
          kind: task.kind,
          at: event.at,
          error: new HiveStoppedError(`Cannot accept task ${task.id}: the hive is not accepting work (draining or stopped)`, { taskId: task.id }),
        });
      }
      enqueue(emit({ type: "queen.events", events: out }));
    }),
    /** The Supervisor's latest room, whichever message carried it. */
    capacity: ({ context, event }) => {
      const capacity = (event as { capacity?: Capacity }).capacity;
      if (capacity !== undefined) context.capacity = capacity;
    },
    /** Tasks placed on agents' slots: running. Where placement is the start, they started. */
    placed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.placed") return;
      const out: LifecycleEvent[] = [];
      for (const s of event.started) {
        const record = context.tasks.get(s.id);
        if (record === undefined || record.state !== "queued" || record.attempt !== s.attempt) continue;
        move(context, record, "running");
        record.agentId = s.agentId;
        record.began = false;
        if (context.startsOnDispatch) began(record, s.agentId, event.at, out);
      }
      if (out.length > 0) enqueue(emit({ type: "queen.events", events: out }));
    }),
    /** Attempts that waited for a thread began to run. */
    started: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.started") return;
      const out: LifecycleEvent[] = [];
      for (const s of event.started) {
        const record = context.tasks.get(s.id);
        if (record === undefined || record.state !== "running" || record.attempt !== s.attempt) continue;
        began(record, s.agentId, s.at ?? event.at, out);
      }
      if (out.length > 0) enqueue(emit({ type: "queen.events", events: out }));
    }),
    finished: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.finished") return;
      const out: LifecycleEvent[] = [];
      const next: Followups = { now: [], later: [], deadlines: [] };
      applyFinished(context, event.finished, event.at, out, next);
      if (next.now.length > 0) enqueue.sendTo("supervisor", forward(context, next.now, event.at));
      for (const { id, delayMs } of next.later) {
        enqueue.raise({ type: "queen.retry", id, at: event.at + delayMs }, { id: `retry:${id}`, delay: delayMs });
      }
      for (const id of next.deadlines) enqueue.cancel(`deadline:${id}`);
      if (out.length > 0) enqueue(emit({ type: "queen.events", events: out }));
    }),
    retry: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.retry") return;
      const record = context.tasks.get(event.id);
      if (record === undefined || record.state !== "waiting" || record.held === true) return;
      move(context, record, "queued");
      enqueue.sendTo("supervisor", forward(context, [toReady(record, event.at)], event.at));
    }),
    /** The tasks a held task runs after have ended: it becomes eligible, with their outcomes. */
    release: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "queen.release");
      const record = context.tasks.get(event.id);
      if (record === undefined || record.held !== true) return;
      record.held = false;
      record.afterValues = event.after;
      move(context, record, "queued");
      enqueue.sendTo("supervisor", forward(context, [toReady(record, event.at)], event.at));
    }),
    /** Ends a task failed with `error` wherever it is (a task it ran after failed). */
    fail: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "queen.fail");
      const record = context.tasks.get(event.id);
      if (record === undefined) return;
      const state = record.state;
      const next = { deadlines: [] as string[] };
      end(context, record, next);
      context.counts.failed++;
      if (state === "waiting") enqueue.cancel(`retry:${record.id}`);
      else enqueue(sendTo("supervisor", { type: "supervisor.cancel", id: record.id, reason: event.error.message, at: event.at } satisfies SupervisorEvent));
      for (const id of next.deadlines) enqueue.cancel(`deadline:${id}`);
      enqueue(
        emit({ type: "queen.events", events: [{ type: "task.failed", taskId: record.id, kind: record.kind, agentId: record.agentId, attempts: record.attempt, error: event.error, at: event.at }] }),
      );
    }),
    cancel: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.cancel") return;
      const record = context.tasks.get(event.id);
      if (record === undefined) return;
      const waiting = record.state === "waiting";
      const next = { deadlines: [] as string[] };
      end(context, record, next);
      context.counts.cancelled++;
      const error = new TaskCancelledError(`Task ${record.id} (${record.kind}) was cancelled: ${event.reason}`, { taskId: record.id });
      if (waiting) enqueue.cancel(`retry:${record.id}`);
      else enqueue(sendTo("supervisor", { type: "supervisor.cancel", id: record.id, reason: event.reason, at: event.at } satisfies SupervisorEvent));
      for (const id of next.deadlines) enqueue.cancel(`deadline:${id}`);
      enqueue(emit({ type: "queen.events", events: [{ type: "task.cancelled", taskId: record.id, kind: record.kind, at: event.at, error }] }));
    }),
    /** Submit-to-end bound passed: the task ends TASK_TIMEOUT wherever it is (queued, running, backing off). */
    deadline: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.deadline") return;
      const record = context.tasks.get(event.id);
      if (record === undefined || record.deadlineMs === undefined) return;
      const state = record.state;
      move(context, record, "ended");
      context.counts.failed++;
      const reason = `it missed its deadline (deadlineMs ${record.deadlineMs} since it was submitted)`;
      if (state === "waiting") enqueue.cancel(`retry:${record.id}`);
      else enqueue(sendTo("supervisor", { type: "supervisor.cancel", id: record.id, reason, at: event.at } satisfies SupervisorEvent));
      const error = new TaskTimeoutError(`Task ${record.id} (${record.kind}) timed out: ${reason}, ${state === "running" ? "while running" : "before it could finish"} (attempt ${record.attempt})`, {
        taskId: record.id,
      });
      enqueue(emit({ type: "queen.events", events: [{ type: "task.failed", taskId: record.id, kind: record.kind, agentId: record.agentId, attempts: record.attempt, error, at: event.at }] }));
    }),
    /** Ends the tasks waiting out a retry backoff (the Supervisor does not know them). */
    cancelWaiting: enqueueActions(({ context, event, enqueue }) => {
      const at = (event as { at?: number }).at ?? 0;
      const out: LifecycleEvent[] = [];
      for (const record of [...context.tasks.values()]) {
        if (record.state !== "waiting") continue;
        move(context, record, "ended");
        context.counts.cancelled++;
        enqueue.cancel(`retry:${record.id}`);
        out.push({ type: "task.cancelled", taskId: record.id, kind: record.kind, at, error: new TaskCancelledError(`Task ${record.id} was cancelled: the hive stopped`, { taskId: record.id }) });
      }
      if (out.length > 0) enqueue(emit({ type: "queen.events", events: out }));
    }),
    /** Attempts lost with a crashed agent wait for an agent again (and will start again). */
    requeued: ({ context, event }) => {
      if (event.type !== "queen.requeued") return;
      for (const id of event.ids) {
        const record = context.tasks.get(id);
        if (record !== undefined && record.state === "running") {
          move(context, record, "queued");
          record.began = false;
        }
      }
    },
    degrade: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.escalated") return;
      context.degraded = { reason: event.reason, at: event.at };
      enqueue(emit({ type: "queen.events", events: [{ type: "hive.degraded", reason: event.reason, at: event.at }] }));
    }),
    heal: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "queen.healed" || context.degraded === null) return;
      context.degraded = null;
      enqueue(emit({ type: "queen.events", events: [{ type: "hive.healed", at: event.at }] }));
    }),
    drained: emit(({ event }) => ({ type: "queen.events", events: [{ type: "hive.drained", at: (event as { at?: number }).at ?? 0 }] }) as const),
  },
}).createMachine({
  id: "queen",
  context: ({ input }) => ({
    tasks: new Map(),
    counts: { submitted: 0, accepted: 0, rejected: 0, completed: 0, failed: 0, cancelled: 0, deadLettered: 0, shed: 0, retried: 0, queued: 0, running: 0 },
    queuedByRank: PRIORITIES.map(() => 0),
    maxQueued: input.maxQueued,
    overflow: input.overflow,
    retry: input.retry,
    random: input.random,
    // A new process starts healthy: a degraded flag saved by the last one is not restored.
    degraded: null,
    supervisor: {
      agents: input.agents,
      random: input.random,
      agingMs: input.agingMs,
      ...(input.limits !== undefined ? { limits: input.limits } : {}),
      supervision: input.supervision,
      ...(input.allocation !== undefined ? { allocation: input.allocation } : {}),
      startsOnDispatch: input.startsOnDispatch ?? true,
      ...(input.restore !== undefined ? { restore: { ...input.restore.supervisor, at: input.restore.at } } : {}),
    },
    startsOnDispatch: input.startsOnDispatch ?? true,
    // Until the Supervisor reports, the swarm's room is every declared slot.
    capacity: { free: input.agents.reduce((n, a) => n + a.concurrency, 0), received: 0 },
    forwarded: 0,
  }),
  invoke: {
    id: "supervisor",
    systemId: "supervisor",
    src: "supervisor",
    input: ({ context }) => context.supervisor,
  },
  on: {
    "queen.placed": { actions: ["capacity", "placed"] },
    "queen.started": { actions: ["capacity", "started"] },
    "queen.finished": { actions: ["capacity", "finished"] },
    "queen.cancel": { actions: "cancel" },
    "queen.retry": { actions: "retry" },
    "queen.release": { actions: "release" },
    "queen.fail": { actions: "fail" },
    "queen.deadline": { actions: "deadline" },
    "queen.escalated": { actions: ["capacity", "degrade"] },
    "queen.healed": { actions: ["capacity", "heal"] },
    "queen.requeued": { actions: ["capacity", "requeued"] },
    "queen.capacity": { actions: "capacity" },
  },
  initial: "accepting",
  states: {
    accepting: {
      on: {
        "queen.escalated": { target: "degraded", actions: ["capacity", "degrade"] },
        "queen.submit": { actions: "accept" },
        "queen.drain": "draining",
        "queen.stop": "stopping",
      },
    },
    /**
     * Still taking work (queued work waits for the agents to come back), but a supervisor gave
     * up restarting; it heals after the escalation's cool-down (or `hive.heal()`).
     */
    degraded: {
      on: {
        "queen.healed": { target: "accepting", actions: ["capacity", "heal"] },
        "queen.submit": { actions: "accept" },
        "queen.drain": "draining",
        "queen.stop": "stopping",
      },
    },
    draining: {
      always: [
        { guard: and(["isEmpty", "isDegraded"]), target: "degraded", actions: "drained" },
        { guard: "isEmpty", target: "accepting", actions: "drained" },
      ],
      on: {
        "queen.submit": { actions: "refuse" },
        "queen.stop": "stopping",
      },
    },
    stopping: {
      entry: [sendTo("supervisor", ({ event }) => ({ type: "supervisor.stop", at: (event as { at?: number }).at ?? 0 }) satisfies SupervisorEvent), "cancelWaiting"],
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
