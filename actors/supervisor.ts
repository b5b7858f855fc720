/**
 * The Supervisor actor: keeps the agent registry and the ready queue, and places every attempt
 * on the eligible agent with the best capability score (see `allocation.ts`). Work travels in
 * batches: one event from the Queen may carry many tasks, and each Agent gets one event per
 * batch. Every decision is explained (winner, runner-up, each term of both scores).
 *
 * @module
 */
import { type ActorRefFrom, emit, enqueueActions, sendParent, sendTo, setup } from "xstate";
import { NoEligibleAgentError, QueueFullError, TaskCancelledError } from "../src/errors.ts";
import type { Random } from "../src/random.ts";
import { type AgentDoneEvent, type AgentEvent, type Assignment, agentMachine } from "./agent.ts";
import { type AgentView, breakerAllows, choose, FRESH_HEALTH, isEligible, type ScoreTerms, updateHealth } from "./allocation.ts";
import { ReadyQueue } from "./queue.ts";
import type { AttemptResult, Capabilities, Priority, ReadyTask } from "./types.ts";

/** An agent as declared by the user. */
export interface AgentSpec {
  id: string;
  capabilities: Capabilities;
  concurrency: number;
}

/** Input of {@link supervisorMachine}. */
export interface SupervisorInput {
  agents: AgentSpec[];
  /** Seeded draws for tie-breaks. */
  random: Random;
  /** Every `agingMs` a queued task waits lifts it one priority rank, ms. */
  agingMs: number;
}

interface AgentEntry {
  view: AgentView;
  ref: ActorRefFrom<typeof agentMachine>;
}

/** Context of {@link supervisorMachine}. Registry and queue are mutated in place (hot path). */
export interface SupervisorContext {
  agents: Map<string, AgentEntry>;
  /** The same views as `agents`, as an array for allocation scans. */
  views: AgentView[];
  queue: ReadyQueue;
  /** Task id → agent, seq and attempt number of its running attempt. */
  running: Map<string, { agentId: string; seq: number; attempt: number }>;
  /** Last attempt sequence number handed out. */
  seq: number;
  random: Random;
  agingMs: number;
}

/** Events a Supervisor accepts. */
export type SupervisorEvent =
  | { type: "supervisor.enqueue"; tasks: ReadyTask[]; at: number }
  | { type: "supervisor.cancel"; id: string; reason: string; at: number }
  | AgentDoneEvent
  | { type: "supervisor.breaker"; agentId: string; state: AgentView["breaker"]; at: number }
  | { type: "supervisor.shed"; priority: Priority; at: number }
  | { type: "supervisor.stop"; at: number };

/** A task that started. */
export interface Started {
  id: string;
  agentId: string;
  attempt: number;
}

/** A task attempt that ended (or a task that could not be placed: `agentId` undefined). */
export interface Finished {
  id: string;
  agentId: string | undefined;
  /** The attempt number, or 0 when the Supervisor no longer knew it. */
  attempt: number;
  result: AttemptResult;
  durationMs: number;
}

/** What a Supervisor tells the Queen. */
export type SupervisorToQueen =
  | { type: "queen.started"; started: Started[]; at: number }
  | { type: "queen.finished"; finished: Finished[]; at: number }
  | { type: "queen.escalated"; reason: string; at: number };

/** The explanation of one placement. */
export interface Decision {
  taskId: string;
  attempt: number;
  winner: ScoreTerms;
  runnerUp: ScoreTerms | undefined;
  at: number;
}

/** Events a Supervisor emits to outside listeners: one per batch of placements. */
export type SupervisorEmitted = { type: "supervisor.decisions"; decisions: Decision[] };

function meanLatency(views: readonly AgentView[]): number {
  let sum = 0;
  let n = 0;
  for (const v of views) {
    if (v.health.completed + v.health.failed > 0) {
      sum += v.health.latencyMs;
      n++;
    }
  }
  return n === 0 ? 0 : sum / n;
}

/** Placements made while handling one event, flushed as one message per agent. */
class Plan {
  readonly byAgent = new Map<string, Assignment[]>();
  readonly started: Started[] = [];
  readonly decisions: Decision[] = [];
  readonly failed: Finished[] = [];
}

function place(context: SupervisorContext, task: ReadyTask, at: number, plan: Plan, meanMs: number): "placed" | "no-slot" | "ineligible" {
  const decision = choose(context.views, task.requires, task.avoid, meanMs, () => context.random.next());
  if (decision === undefined) {
    for (const v of context.views) if (isEligible(v.capabilities, task.requires)) return "no-slot";
    return "ineligible";
  }
  const agentId = decision.winner.agentId;
  const entry = context.agents.get(agentId)!;
  entry.view.busy++;
  const seq = ++context.seq;
  context.running.set(task.id, { agentId, seq, attempt: task.attempt });
  let list = plan.byAgent.get(agentId);
  if (list === undefined) plan.byAgent.set(agentId, (list = []));
  list.push({ task, seq });
  plan.started.push({ id: task.id, agentId, attempt: task.attempt });
  plan.decisions.push({ taskId: task.id, attempt: task.attempt, winner: decision.winner, runnerUp: decision.runnerUp, at });
  return "placed";
}

function ineligible(task: ReadyTask): Finished {
  return {
    id: task.id,
    agentId: undefined,
    attempt: task.attempt,
    durationMs: 0,
    result: {
      ok: false,
      error: new NoEligibleAgentError(`Cannot place task ${task.id}: no agent has the capabilities it requires, "requires" was ${JSON.stringify(task.requires)}`, { taskId: task.id }),
    },
  };
}

/** The Supervisor machine. */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    emitted: {} as SupervisorEmitted,
  },
  actors: { agent: agentMachine },
  actions: {
    /** Places each task now if an eligible agent has a free slot; else queues or fails it. */
    enqueue: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.enqueue") return;
      const plan = new Plan();
      const meanMs = meanLatency(context.views);
      for (const task of event.tasks) {
        // Queued tasks of the same requirements go first: FIFO within a priority.
        const outcome = context.queue.size > 0 ? "no-slot" : place(context, task, event.at, plan, meanMs);
        if (outcome === "no-slot") {
          if (context.queue.size === 0 || context.views.some((v) => isEligible(v.capabilities, task.requires))) context.queue.push(task);
          else plan.failed.push(ineligible(task));
        } else if (outcome === "ineligible") plan.failed.push(ineligible(task));
      }
      if (context.queue.size > 0) fill(context, event.at, plan, meanMs);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** Attempts ended: update health, report, refill the freed slots. */
    done: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.done") return;
      const entry = context.agents.get(event.agentId);
      const finished: Finished[] = new Array(event.ends.length);
      for (let i = 0; i < event.ends.length; i++) {
        const end = event.ends[i]!;
        const run = context.running.get(end.id);
        const current = run !== undefined && run.seq === end.seq;
        if (current) context.running.delete(end.id);
        if (entry !== undefined) {
          entry.view.busy--;
          entry.view.health = updateHealth(entry.view.health, end.result.ok, end.durationMs);
        }
        finished[i] = { id: end.id, agentId: event.agentId, attempt: current ? run.attempt : 0, result: end.result, durationMs: end.durationMs };
      }
      enqueue(sendParent({ type: "queen.finished", finished, at: event.at } satisfies SupervisorToQueen));
      if (context.queue.size === 0) return;
      const plan = new Plan();
      fill(context, event.at, plan, meanLatency(context.views));
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** An agent's breaker changed state: open takes it out of allocation, closing refills it. */
    breaker: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.breaker") return;
      const entry = context.agents.get(event.agentId);
      if (entry === undefined) return;
      entry.view.breaker = event.state;
      if (event.state === "open" || context.queue.size === 0) return;
      const plan = new Plan();
      fill(context, event.at, plan, meanLatency(context.views));
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** Drops the newest queued task of `priority` to make room; the Queen ends it as shed. */
    shed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.shed") return;
      const task = context.queue.shedNewest(event.priority);
      if (task === undefined) return;
      const error = new QueueFullError(`Task ${task.id} was shed: the queue was full and a higher-priority task arrived ("queue.overflow" is shed-lowest)`, { taskId: task.id });
      enqueue(sendParent({ type: "queen.finished", finished: [{ id: task.id, agentId: undefined, attempt: task.attempt, durationMs: 0, result: { ok: false, error } }], at: event.at } satisfies SupervisorToQueen));
    }),
    cancel: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.cancel") return;
      if (context.queue.remove(event.id)) return;
      const run = context.running.get(event.id);
      if (run === undefined) return;
      const agent = context.agents.get(run.agentId);
      if (agent) enqueue.sendTo(agent.ref, { type: "agent.cancel", ids: [event.id], reason: event.reason, at: event.at } satisfies AgentEvent);
    }),
    stopAll: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.stop") return;
      const finished: Finished[] = context.queue.drainAll().map((task) => ({
        id: task.id,
        agentId: undefined,
        attempt: task.attempt,
        durationMs: 0,
        result: { ok: false, error: new TaskCancelledError(`Task ${task.id} was cancelled: the hive stopped`, { taskId: task.id }) },
      }));
      if (finished.length > 0) enqueue(sendParent({ type: "queen.finished", finished, at: event.at } satisfies SupervisorToQueen));
      const byAgent = new Map<string, string[]>();
      for (const [id, run] of context.running) {
        let ids = byAgent.get(run.agentId);
        if (ids === undefined) byAgent.set(run.agentId, (ids = []));
        ids.push(id);
      }
      for (const [agentId, ids] of byAgent) {
        const agent = context.agents.get(agentId);
        if (agent) enqueue.sendTo(agent.ref, { type: "agent.cancel", ids, reason: "the hive stopped", at: event.at } satisfies AgentEvent);
      }
      for (const v of context.views) v.available = false;
    }),
  },
}).createMachine({
  id: "supervisor",
  context: ({ input, spawn }) => {
    const agents = new Map<string, AgentEntry>();
    const views: AgentView[] = [];
    for (const spec of input.agents) {
      const view: AgentView = { id: spec.id, capabilities: spec.capabilities, concurrency: spec.concurrency, busy: 0, health: FRESH_HEALTH, available: true, breaker: "closed" };
      views.push(view);
      agents.set(spec.id, { view, ref: spawn("agent", { id: spec.id, input: spec }) });
    }
    return { agents, views, queue: new ReadyQueue(), running: new Map(), seq: 0, random: input.random, agingMs: input.agingMs };
  },
  initial: "running",
  states: {
    running: {
      on: {
        "supervisor.enqueue": { actions: "enqueue" },
        "supervisor.done": { actions: "done" },
        "supervisor.cancel": { actions: "cancel" },
        "supervisor.breaker": { actions: "breaker" },
        "supervisor.shed": { actions: "shed" },
        "supervisor.stop": { target: "stopped", actions: "stopAll" },
      },
    },
    stopped: {
      on: {
        "supervisor.done": { actions: "done" },
        "supervisor.cancel": { actions: "cancel" },
      },
    },
  },
});

/** Moves queued tasks onto agents with free slots, most urgent first, until none fits. */
function fill(context: SupervisorContext, at: number, plan: Plan, meanMs: number): void {
  for (const view of context.views) {
    while (view.available && view.busy < view.concurrency && breakerAllows(view) && context.queue.size > 0) {
      const task = context.queue.takeFor(view.capabilities, at, context.agingMs);
      if (task === undefined) break;
      if (place(context, task, at, plan, meanMs) !== "placed") {
        context.queue.push(task); // cannot happen: this agent has a free slot
        break;
      }
    }
  }
}

/** The actions that send a plan: one assignment per agent, one report to the Queen, one explanation. */
function flush(plan: Plan, context: SupervisorContext, at: number): unknown[] {
  const actions: unknown[] = [];
  for (const [agentId, assignments] of plan.byAgent) {
    actions.push(sendTo(context.agents.get(agentId)!.ref, { type: "agent.assign", assignments, at } satisfies AgentEvent));
  }
  if (plan.started.length > 0) actions.push(sendParent({ type: "queen.started", started: plan.started, at } satisfies SupervisorToQueen));
  if (plan.failed.length > 0) actions.push(sendParent({ type: "queen.finished", finished: plan.failed, at } satisfies SupervisorToQueen));
  if (plan.decisions.length > 0) actions.push(emit({ type: "supervisor.decisions", decisions: plan.decisions }));
  return actions;
}
