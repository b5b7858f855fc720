/**
 * The Agent actor: one swarm agent. Holds its capabilities and concurrency slots, starts its
 * Worker on first use (an idle agent that never ran anything costs one actor), and reports
 * attempts' ends to its Supervisor. Its state says how loaded it is.
 *
 * @module
 */
import { type ActorRefFrom, enqueueActions, sendParent, setup } from "xstate";
import type { Capabilities, ReadyTask } from "./types.ts";
import { type AttemptEnd, type AttemptsDoneEvent, type AttemptsStartedEvent, type StartedAttempt, type WorkerAttempt, type WorkerEvent, workerMachine } from "./worker.ts";

/** Input of {@link agentMachine}. */
export interface AgentInput {
  id: string;
  capabilities: Capabilities;
  concurrency: number;
  /** Passed to its Worker: whether the backend starts an attempt as soon as it gets it. @default true */
  startsOnDispatch?: boolean | undefined;
}

/** Context of {@link agentMachine}. `busy` and `running` are mutated in place (hot path). */
export interface AgentContext {
  id: string;
  capabilities: Capabilities;
  concurrency: number;
  startsOnDispatch: boolean;
  /** Attempts running now (slots in use). */
  busy: number;
  /** Its Worker, started on first use. */
  worker: ActorRefFrom<typeof workerMachine> | null;
  /** Task id → attempt seq for each running attempt (mutated in place: hot path). */
  running: Map<string, number>;
}

/** One placement the Supervisor hands an Agent. */
export interface Assignment {
  task: ReadyTask;
  seq: number;
  /** Its kind's dispatch window waits for its start: a backend that batches start reports sends this one at once. */
  reportStart?: true;
}

/** Events an Agent accepts. */
export type AgentEvent =
  | { type: "agent.assign"; assignments: Assignment[]; at: number }
  | { type: "agent.cancel"; ids: string[]; reason: string; at: number }
  /** The agent crashed: its attempts are lost and its Worker is stopped. */
  | { type: "agent.fail"; reason: string; at: number }
  /** The Supervisor will restart it: wait out the backoff. */
  | { type: "agent.restart"; at: number }
  /** Backoff over: back to work with the same context (capabilities, concurrency). */
  | { type: "agent.ready"; at: number }
  | { type: "agent.stop" }
  | AttemptsDoneEvent
  | AttemptsStartedEvent;

/** What an Agent tells its Supervisor when attempts end. */
export interface AgentDoneEvent {
  type: "supervisor.done";
  agentId: string;
  ends: AttemptEnd[];
  at: number;
}

/** What an Agent tells its Supervisor when attempts that waited for a thread begin to run. */
export interface AgentStartedEvent {
  type: "supervisor.started";
  agentId: string;
  starts: StartedAttempt[];
  at: number;
}

/** The Agent machine: idle → busy → saturated as slots fill, back as they free. */
export const agentMachine = setup({
  types: {
    context: {} as AgentContext,
    events: {} as AgentEvent,
    input: {} as AgentInput,
  },
  actors: { worker: workerMachine },
  // Where the slot count will stand once the event's action has run (guards are checked before
  // actions): one direct transition instead of a transient state.
  guards: {
    assignSaturates: ({ context, event }) => event.type === "agent.assign" && context.busy + event.assignments.length >= context.concurrency,
    doneEmpties: ({ context, event }) => event.type === "agent.done" && context.busy - endedCount(context, event) <= 0,
    doneSaturated: ({ context, event }) => event.type === "agent.done" && context.busy - endedCount(context, event) >= context.concurrency,
  },
  actions: {
    assignWork: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "agent.assign") return;
      if (context.worker === null) {
        enqueue.assign({ worker: ({ spawn }) => spawn("worker", { id: "worker", input: { agentId: context.id, startsOnDispatch: context.startsOnDispatch } }) });
      }
      const attempts: WorkerAttempt[] = new Array(event.assignments.length);
      for (let i = 0; i < event.assignments.length; i++) {
        const { task, seq, reportStart } = event.assignments[i]!;
        context.running.set(task.id, seq);
        attempts[i] = { id: task.id, seq, kind: task.kind, input: task.input, attempt: task.attempt, timeoutMs: task.timeoutMs, ...(task.after !== undefined ? { after: task.after } : {}) };
        if (reportStart === true) attempts[i]!.reportStart = true;
      }
      context.busy += attempts.length; // in place, like `running`: no context copy per attempt
      const run = { type: "worker.run", attempts, at: event.at } satisfies WorkerEvent;
      // The Worker spawned just above exists only once the assign has run: resolve it then.
      if (context.worker === null) enqueue.sendTo(({ context: c }) => c.worker!, run);
      else enqueue.sendTo(context.worker, run);
    }),
    report: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "agent.done") return;
      let ended = 0;
      for (const end of event.ends) {
        if (context.running.get(end.id) === end.seq) {
          context.running.delete(end.id);
          ended++;
        }
      }
      context.busy -= ended;
      enqueue(sendParent({ type: "supervisor.done", agentId: context.id, ends: event.ends, at: event.at } satisfies AgentDoneEvent));
    }),
    /** Starts of its own running attempts travel up (late ones of a crashed run do not). */
    forwardStarts: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "agent.started") return;
      const starts = event.starts.filter((s) => context.running.get(s.id) === s.seq);
      if (starts.length > 0) enqueue(sendParent({ type: "supervisor.started", agentId: context.id, starts, at: event.at } satisfies AgentStartedEvent));
    }),
    /** A crash: every running attempt is lost (reported crashed) and the Worker is stopped. */
    crash: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "agent.fail") return;
      const worker = context.worker;
      if (worker === null) return;
      const seqs = [...context.running.values()];
      if (seqs.length > 0) enqueue.sendTo(worker, { type: "worker.abort", seqs, reason: `agent ${context.id} crashed: ${event.reason}`, at: event.at, crash: true } satisfies WorkerEvent);
      enqueue.stopChild(worker);
      context.running.clear();
      enqueue.assign({ worker: null, busy: 0 });
    }),
    cancelWork: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "agent.cancel" || context.worker === null) return;
      const seqs: number[] = [];
      for (const id of event.ids) {
        const seq = context.running.get(id);
        if (seq !== undefined) seqs.push(seq);
      }
      if (seqs.length > 0) enqueue.sendTo(context.worker, { type: "worker.abort", seqs, reason: event.reason, at: event.at } satisfies WorkerEvent);
    }),
  },
}).createMachine({
  id: "agent",
  context: ({ input }) => ({
    id: input.id,
    capabilities: input.capabilities,
    concurrency: input.concurrency,
    startsOnDispatch: input.startsOnDispatch ?? true,
    busy: 0,
    worker: null,
    running: new Map(),
  }),
  initial: "idle",
  on: {
    // Outside the working states (failed, restarting) late reports still travel up.
    "agent.done": { actions: "report" },
    "agent.started": { actions: "forwardStarts" },
    "agent.stop": ".stopped",
  },
  states: {
    idle: { on: working("idle") },
    busy: { on: working("busy") },
    saturated: { on: working("saturated") },
    failed: {
      on: { "agent.restart": "restarting" },
    },
    restarting: {
      on: { "agent.ready": "idle" },
    },
    stopped: { type: "final" },
  },
});

/** How many of `event.ends` are attempts this agent is running. */
function endedCount(context: AgentContext, event: Extract<AgentEvent, { type: "agent.done" }>): number {
  let ended = 0;
  for (const end of event.ends) if (context.running.get(end.id) === end.seq) ended++;
  return ended;
}

/**
 * The transitions of a working state (idle, busy, saturated). One that keeps the state has no
 * target: XState then computes no exit or entry set, the cheap case for a loaded agent.
 */
function working(state: "idle" | "busy" | "saturated") {
  const to = (target: "idle" | "busy" | "saturated") => (target === state ? {} : { target });
  return {
    "agent.assign": [
      { guard: "assignSaturates", ...to("saturated"), actions: "assignWork" },
      { ...to("busy"), actions: "assignWork" },
    ],
    "agent.done": [
      { guard: "doneEmpties", ...to("idle"), actions: "report" },
      { guard: "doneSaturated", ...to("saturated"), actions: "report" },
      { ...to("busy"), actions: "report" },
    ],
    "agent.cancel": { actions: "cancelWork" },
    "agent.fail": { target: "failed", actions: "crash" },
  } as const;
}
