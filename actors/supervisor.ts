/**
 * The Supervisor actor: keeps the agent registry and the ready queue, and places every attempt
 * on the eligible agent with the best capability score (see `allocation.ts`). Each decision is
 * emitted as an `allocation.decided` event with every term of the winner's and runner-up's
 * scores.
 *
 * @module
 */
import { type ActorRefFrom, emit, enqueueActions, sendParent, setup } from "xstate";
import { NoEligibleAgentError, TaskCancelledError } from "../src/errors.ts";
import type { Random } from "../src/random.ts";
import { type AgentEvent, type AgentAttemptDone, agentMachine } from "./agent.ts";
import { type AgentView, choose, FRESH_HEALTH, isEligible, type ScoreTerms, updateHealth } from "./allocation.ts";
import { ReadyQueue } from "./queue.ts";
import type { AttemptResult, Capabilities, ReadyTask } from "./types.ts";

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
  queue: ReadyQueue;
  /** Task id → agent id and attempt seq, for each running attempt. */
  running: Map<string, { agentId: string; seq: number; attempt: number }>;
  /** Next attempt sequence number. */
  seq: number;
  random: Random;
  agingMs: number;
}

/** Events a Supervisor accepts. */
export type SupervisorEvent =
  | { type: "supervisor.enqueue"; task: ReadyTask; at: number }
  | { type: "supervisor.cancel"; id: string; reason: string; at: number }
  | AgentAttemptDone
  | { type: "supervisor.stop"; at: number };

/** What a Supervisor tells the Queen. */
export type SupervisorToQueen =
  | { type: "queen.started"; id: string; agentId: string; attempt: number; at: number }
  | { type: "queen.finished"; id: string; agentId: string | undefined; attempt: number; result: AttemptResult; durationMs: number; at: number };

/** The explanation of one placement. */
export interface AllocationDecided {
  type: "allocation.decided";
  taskId: string;
  attempt: number;
  winner: ScoreTerms;
  runnerUp: ScoreTerms | undefined;
  at: number;
}

/** Events a Supervisor emits to outside listeners. */
export type SupervisorEmitted = AllocationDecided;

function meanLatency(agents: Map<string, AgentEntry>): number {
  let sum = 0;
  let n = 0;
  for (const a of agents.values()) {
    if (a.view.health.completed + a.view.health.failed > 0) {
      sum += a.view.health.latencyMs;
      n++;
    }
  }
  return n === 0 ? 0 : sum / n;
}

function views(agents: Map<string, AgentEntry>): Iterable<AgentView> {
  const out: AgentView[] = [];
  for (const a of agents.values()) out.push(a.view);
  return out;
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
    /** Places `task` now if an eligible agent has a free slot; else queues it or fails it. */
    place: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.enqueue") return;
      const task = event.task;
      const decision = choose(views(context.agents), task.requires, task.avoid, meanLatency(context.agents), () => context.random.next());
      if (decision !== undefined) {
        const plan = start(context, task, decision.winner, decision.runnerUp, event.at);
        enqueue.sendTo(plan.ref, plan.assign);
        enqueue(sendParent(plan.started));
        enqueue(emit(plan.decided));
        return;
      }
      let anyEligible = false;
      for (const a of context.agents.values()) {
        if (isEligible(a.view.capabilities, task.requires)) {
          anyEligible = true;
          break;
        }
      }
      if (anyEligible) {
        context.queue.push(task);
        return;
      }
      enqueue(
        sendParent({
          type: "queen.finished",
          id: task.id,
          agentId: undefined,
          attempt: task.attempt,
          durationMs: 0,
          at: event.at,
          result: {
            ok: false,
            error: new NoEligibleAgentError(
              `Cannot place task ${task.id}: no agent has the capabilities it requires, "requires" was ${JSON.stringify(task.requires)}`,
              { taskId: task.id },
            ),
          },
        } satisfies SupervisorToQueen),
      );
    }),
    /** An attempt ended: update the agent's health, report it, refill the freed slot. */
    finish: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.attemptDone") return;
      const entry = context.agents.get(event.agentId);
      const run = context.running.get(event.id);
      const current = run !== undefined && run.seq === event.seq;
      if (current) context.running.delete(event.id);
      if (entry !== undefined) {
        entry.view.busy--;
        entry.view.health = updateHealth(entry.view.health, event.result.ok, event.durationMs);
      }
      enqueue(
        sendParent({
          type: "queen.finished",
          id: event.id,
          agentId: event.agentId,
          attempt: current ? run.attempt : 0,
          result: event.result,
          durationMs: event.durationMs,
          at: event.at,
        } satisfies SupervisorToQueen),
      );
      if (entry === undefined || !entry.view.available) return;
      const next = context.queue.takeFor(entry.view.capabilities, event.at, context.agingMs);
      if (next === undefined) return;
      const decision = choose(views(context.agents), next.requires, next.avoid, meanLatency(context.agents), () => context.random.next());
      if (decision === undefined) {
        context.queue.push(next); // cannot happen: this agent has a free slot
        return;
      }
      const plan = start(context, next, decision.winner, decision.runnerUp, event.at);
      enqueue.sendTo(plan.ref, plan.assign);
      enqueue(sendParent(plan.started));
      enqueue(emit(plan.decided));
    }),
    cancel: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.cancel") return;
      if (context.queue.remove(event.id)) return;
      const run = context.running.get(event.id);
      if (run === undefined) return;
      const agent = context.agents.get(run.agentId);
      if (agent) enqueue.sendTo(agent.ref, { type: "agent.cancel", id: event.id, reason: event.reason, at: event.at } satisfies AgentEvent);
    }),
    stopAll: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.stop") return;
      for (const task of context.queue.drainAll()) {
        enqueue(
          sendParent({
            type: "queen.finished",
            id: task.id,
            agentId: undefined,
            attempt: task.attempt,
            durationMs: 0,
            at: event.at,
            result: { ok: false, error: new TaskCancelledError(`Task ${task.id} was cancelled: the hive stopped`, { taskId: task.id }) },
          } satisfies SupervisorToQueen),
        );
      }
      for (const [id, run] of context.running) {
        const agent = context.agents.get(run.agentId);
        if (agent) enqueue.sendTo(agent.ref, { type: "agent.cancel", id, reason: "the hive stopped", at: event.at } satisfies AgentEvent);
      }
      for (const a of context.agents.values()) a.view.available = false;
    }),
  },
}).createMachine({
  id: "supervisor",
  context: ({ input, spawn }) => {
    const agents = new Map<string, AgentEntry>();
    for (const spec of input.agents) {
      agents.set(spec.id, {
        view: { id: spec.id, capabilities: spec.capabilities, concurrency: spec.concurrency, busy: 0, health: FRESH_HEALTH, available: true },
        ref: spawn("agent", { id: spec.id, input: spec }),
      });
    }
    return { agents, queue: new ReadyQueue(), running: new Map(), seq: 0, random: input.random, agingMs: input.agingMs };
  },
  initial: "running",
  states: {
    running: {
      on: {
        "supervisor.enqueue": { actions: "place" },
        "supervisor.attemptDone": { actions: "finish" },
        "supervisor.cancel": { actions: "cancel" },
        "supervisor.stop": { target: "stopped", actions: "stopAll" },
      },
    },
    stopped: {
      on: {
        "supervisor.attemptDone": { actions: "finish" },
        "supervisor.cancel": { actions: "cancel" },
      },
    },
  },
});

/** Books `task` onto the winning agent and returns the messages that start it. */
function start(
  context: SupervisorContext,
  task: ReadyTask,
  winner: ScoreTerms,
  runnerUp: ScoreTerms | undefined,
  at: number,
): { ref: AgentEntry["ref"]; assign: AgentEvent; started: SupervisorToQueen; decided: AllocationDecided } {
  const entry = context.agents.get(winner.agentId)!;
  entry.view.busy++;
  const seq = ++context.seq;
  context.running.set(task.id, { agentId: winner.agentId, seq, attempt: task.attempt });
  return {
    ref: entry.ref,
    assign: { type: "agent.assign", task, seq, at },
    started: { type: "queen.started", id: task.id, agentId: winner.agentId, attempt: task.attempt, at },
    decided: { type: "allocation.decided", taskId: task.id, attempt: task.attempt, winner, runnerUp, at },
  };
}
