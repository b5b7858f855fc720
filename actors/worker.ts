/**
 * The Worker actor: an agent's execution lane. It runs the agent's attempts on the execution
 * backend through its `port` (an invoked callback actor the hive provides) and owns their
 * timeouts: one timer on the actor clock, armed for the earliest deadline; when an attempt's
 * `timeoutMs` passes it is aborted (its AbortSignal fires in the worker thread) and reported as
 * timed out. A timeout counts from when the attempt starts running (start-to-close): on a
 * thread backend an attempt may wait behind others for its thread, and its clock starts only
 * once the port reports its start. Attempts travel in batches, so a burst of tiny tasks costs a
 * few events, not a few per task.
 *
 * @module
 */
import { enqueueActions, fromCallback, sendParent, setup } from "xstate";
import { TaskCancelledError, TaskTimeoutError, WorkerCrashedError } from "../src/core/errors.ts";
import type { WorkResult } from "./types.ts";

/** An attempt as a Worker runs it. */
export interface WorkerAttempt {
  id: string;
  seq: number;
  kind: string;
  input: unknown;
  attempt: number;
  timeoutMs: number;
  /** Outcomes of the tasks it ran after (`after`), in order (`ctx.after`); absent without `after`. */
  after?: unknown[] | undefined;
  /** Its start is wanted as soon as known (its kind's dispatch window waits for it). */
  reportStart?: true;
}

/** Input of {@link workerMachine}. */
export interface WorkerInput {
  agentId: string;
  /**
   * True when the backend runs an attempt as soon as it is handed over (inline, simulated): its
   * timeout starts then. False for thread backends, which report each start. @default true
   */
  startsOnDispatch?: boolean | undefined;
}

interface Running {
  attempt: WorkerAttempt;
  /** When it was handed to the backend. */
  dispatchedAt: number;
  /** When it began to run; undefined while it waits for a thread. */
  startedAt: number | undefined;
  /** startedAt + timeoutMs; Infinity until it has started. */
  deadline: number;
}

/** Context of {@link workerMachine}. `running` is mutated in place (hot path). */
export interface WorkerContext {
  agentId: string;
  startsOnDispatch: boolean;
  /** Attempts in flight by seq. */
  running: Map<number, Running>;
  /** Deadline the timer is armed for, or Infinity when none is. */
  armedFor: number;
}

/** One attempt's end, as it travels up. */
export interface AttemptEnd {
  id: string;
  seq: number;
  result: WorkResult;
  /** Its run time: from its start (or, if it never started, 0). */
  durationMs: number;
  /** When it began to run (hive clock), if it did. */
  startedAt?: number | undefined;
}

/**
 * An attempt that began to run, as the port reports it — or, with `waiting`, one whose thread
 * died under another attempt and that waits to run again (its timeout is off until it does).
 */
export type AttemptStart =
  | {
    seq: number;
    /** Hive-clock time it began. */
    startedAt: number;
    /** It has finished running too; its outcome waits for its batch's reply (held up by another attempt). */
    ended?: boolean;
    waiting?: undefined;
  }
  | { seq: number; waiting: true; startedAt?: undefined; ended?: undefined };

/** An attempt's outcome, as the port reports it (with its start when that came in the same tick). */
export interface WorkerOutcome {
  seq: number;
  result: WorkResult;
  startedAt?: number | undefined;
}

/** An attempt that began to run, as it travels up to the Queen. */
export interface StartedAttempt {
  id: string;
  seq: number;
  startedAt: number;
}

/** Events a Worker accepts. */
export type WorkerEvent =
  | { type: "worker.run"; attempts: WorkerAttempt[]; at: number }
  | { type: "worker.started"; starts: AttemptStart[]; at: number }
  | { type: "worker.outcomes"; outcomes: WorkerOutcome[]; at: number }
  | { type: "worker.abort"; seqs: number[]; reason: string; at: number; crash?: boolean }
  | { type: "worker.deadline"; deadline: number };

/** What a Worker tells its port. */
export type PortEvent =
  | { type: "port.exec"; attempts: WorkerAttempt[]; agentId: string }
  /** `kill: false` only signals the attempts (their agent crashed; the thread is fine). */
  | { type: "port.abort"; seqs: number[]; kill?: boolean };

/** What a Worker tells its Agent when attempts end. */
export interface AttemptsDoneEvent {
  type: "agent.done";
  ends: AttemptEnd[];
  at: number;
}

/** What a Worker tells its Agent when attempts that waited for a thread begin to run. */
export interface AttemptsStartedEvent {
  type: "agent.started";
  starts: StartedAttempt[];
  at: number;
}

/** The end of an attempt the Worker itself cut short (timeout, cancel, agent crash). */
function failedEnd(r: Running, error: Error, durationMs: number): AttemptEnd {
  return { id: r.attempt.id, seq: r.attempt.seq, result: { ok: false, error }, durationMs, startedAt: r.startedAt };
}

/** Placeholder port: the hive provides the real one (`src/hive/port.ts`) with `.provide()`. */
const unboundPort = fromCallback<PortEvent>(() => {
  throw new Error("workerMachine needs a `port` actor: provide one with workerMachine.provide({ actors: { port } })");
});

/** The Worker machine: idle while nothing runs, running otherwise. */
export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
  },
  actors: { port: unboundPort },
  // Whether the running set will be empty once the event's action has run: guards are checked
  // before actions, and a direct target costs one microstep where a transient state costs three.
  guards: {
    outcomesEmpty: ({ context, event }) => {
      if (event.type !== "worker.outcomes") return false;
      let left = context.running.size;
      for (const { seq } of event.outcomes) if (context.running.has(seq)) left--;
      return left <= 0;
    },
    abortEmpties: ({ context, event }) => {
      if (event.type !== "worker.abort") return false;
      let left = context.running.size;
      for (const seq of event.seqs) if (context.running.has(seq)) left--;
      return left <= 0;
    },
    deadlineEmpties: ({ context, event }) => {
      if (event.type !== "worker.deadline") return false;
      for (const r of context.running.values()) if (r.deadline > event.deadline) return false;
      return true;
    },
  },
  actions: {
    run: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "worker.run") return;
      let earliest = Infinity;
      const now = context.startsOnDispatch;
      for (const attempt of event.attempts) {
        // Until a thread takes it, an attempt's timeout does not run.
        const deadline = now ? event.at + attempt.timeoutMs : Infinity;
        context.running.set(attempt.seq, { attempt, dispatchedAt: event.at, startedAt: now ? event.at : undefined, deadline });
        if (deadline < earliest) earliest = deadline;
      }
      enqueue.sendTo("port", { type: "port.exec", attempts: event.attempts, agentId: context.agentId } satisfies PortEvent);
      if (earliest < context.armedFor) {
        // Re-arm for the earlier deadline; the old timer is replaced.
        enqueue.cancel("deadline");
        enqueue.raise({ type: "worker.deadline", deadline: earliest }, { id: "deadline", delay: Math.max(0, earliest - event.at) });
        context.armedFor = earliest;
      }
    }),
    /** Attempts began to run on a thread: their timeouts start now (or again, on a re-run). */
    started: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "worker.started") return;
      const starts: StartedAttempt[] = [];
      let earliest = Infinity;
      for (const { seq, startedAt, ended, waiting } of event.starts) {
        const r = context.running.get(seq);
        if (r === undefined) continue;
        if (waiting === true) {
          r.deadline = Infinity;
          continue;
        }
        // Not before its dispatch, whatever the thread's clock says (a simulated hive clock, skew).
        const at = Math.max(startedAt, r.dispatchedAt);
        const known = r.startedAt === at;
        r.startedAt = at;
        // Finished, its outcome on its way behind another attempt's run: no timeout of its own is left.
        r.deadline = ended === true ? Infinity : at + r.attempt.timeoutMs;
        if (r.deadline < earliest) earliest = r.deadline;
        if (!known) starts.push({ id: r.attempt.id, seq, startedAt: at });
      }
      if (earliest < context.armedFor) {
        enqueue.cancel("deadline");
        enqueue.raise({ type: "worker.deadline", deadline: earliest }, { id: "deadline", delay: Math.max(0, earliest - event.at) });
        context.armedFor = earliest;
      }
      if (starts.length > 0) enqueue(sendParent({ type: "agent.started", starts, at: event.at } satisfies AttemptsStartedEvent));
    }),
    settle: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "worker.outcomes") return;
      const ends: AttemptEnd[] = [];
      for (const o of event.outcomes) {
        const r = context.running.get(o.seq);
        if (r === undefined) continue; // timed out or aborted already
        context.running.delete(o.seq);
        const startedAt = o.startedAt === undefined ? r.startedAt : Math.max(o.startedAt, r.dispatchedAt);
        ends.push({ id: r.attempt.id, seq: o.seq, result: o.result, durationMs: Math.max(0, event.at - (startedAt ?? r.dispatchedAt)), startedAt });
      }
      if (ends.length > 0) enqueue(sendParent({ type: "agent.done", ends, at: event.at } satisfies AttemptsDoneEvent));
    }),
    abort: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "worker.abort") return;
      const ends: AttemptEnd[] = [];
      const seqs: number[] = [];
      for (const seq of event.seqs) {
        const r = context.running.get(seq);
        if (r === undefined) continue;
        context.running.delete(seq);
        seqs.push(seq);
        const a = r.attempt;
        // An agent crash ends its attempts as crashed (retriable); a cancel as cancelled.
        const error = event.crash
          ? new WorkerCrashedError(`Task ${a.id} (${a.kind}) was lost: ${event.reason}`, { taskId: a.id })
          : new TaskCancelledError(`Task ${a.id} (${a.kind}) was cancelled: ${event.reason}`, { taskId: a.id });
        ends.push(failedEnd(r, error, r.startedAt === undefined ? 0 : Math.max(0, event.at - r.startedAt)));
      }
      if (seqs.length === 0) return;
      enqueue.sendTo("port", { type: "port.abort", seqs, kill: event.crash !== true } satisfies PortEvent);
      enqueue(sendParent({ type: "agent.done", ends, at: event.at } satisfies AttemptsDoneEvent));
    }),
    /**
     * Nothing runs any more: the deadline timer goes. An idle lane holds no timer (XState looks
     * through every pending timer of the system for each actor it stops).
     */
    disarm: enqueueActions(({ context, enqueue }) => {
      if (context.armedFor === Infinity) return;
      context.armedFor = Infinity;
      enqueue.cancel("deadline");
    }),
    expire: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "worker.deadline") return;
      const now = event.deadline;
      const ends: AttemptEnd[] = [];
      const seqs: number[] = [];
      let next = Infinity;
      for (const [seq, r] of context.running) {
        if (r.deadline <= now) {
          context.running.delete(seq);
          seqs.push(seq);
          const a = r.attempt;
          ends.push(failedEnd(r, new TaskTimeoutError(`Task ${a.id} (${a.kind}) timed out after ${a.timeoutMs} ms (attempt ${a.attempt})`, { taskId: a.id }), a.timeoutMs));
        } else if (r.deadline < next) {
          next = r.deadline;
        }
      }
      context.armedFor = next;
      if (next !== Infinity) enqueue.raise({ type: "worker.deadline", deadline: next }, { id: "deadline", delay: Math.max(0, next - now) });
      if (seqs.length === 0) return;
      enqueue.sendTo("port", { type: "port.abort", seqs } satisfies PortEvent);
      enqueue(sendParent({ type: "agent.done", ends, at: now } satisfies AttemptsDoneEvent));
    }),
  },
}).createMachine({
  id: "worker",
  context: ({ input }) => ({ agentId: input.agentId, startsOnDispatch: input.startsOnDispatch ?? true, running: new Map(), armedFor: Infinity }),
  invoke: { id: "port", src: "port" },
  // Transitions that keep the state have no target: XState then computes no exit or entry set,
  // which halves the cost of the common event (another attempt on a lane already running).
  initial: "idle",
  states: {
    idle: {
      on: {
        "worker.run": { target: "running", actions: "run" },
        "worker.started": { actions: "started" },
        "worker.outcomes": { actions: "settle" },
        "worker.abort": { actions: "abort" },
        "worker.deadline": { actions: "expire" },
      },
    },
    running: {
      on: {
        "worker.run": { actions: "run" },
        "worker.started": { actions: "started" },
        "worker.outcomes": [{ guard: "outcomesEmpty", actions: ["settle", "disarm"], target: "idle" }, { actions: "settle" }],
        "worker.abort": [{ guard: "abortEmpties", actions: ["abort", "disarm"], target: "idle" }, { actions: "abort" }],
        "worker.deadline": [{ guard: "deadlineEmpties", actions: "expire", target: "idle" }, { actions: "expire" }],
      },
    },
  },
});
