/**
 * The Supervisor actor: keeps the agent registry and the ready queue, places every attempt on
 * an eligible agent with a free slot — the one its allocation strategy picks, by default the best
 * capability score (see `allocation.ts`, `allocation-strategies.ts`) — and restarts agents
 * that crash, OTP style (see `restart.ts`): strategy one-for-one / one-for-all / rest-for-one,
 * restart type permanent / transient / temporary, exponential backoff with seeded jitter, and
 * restart intensity — more than `maxRestarts` within `withinMs` escalates to the Queen (the hive
 * becomes degraded) instead of restarting forever.
 *
 * An agent crashes after `failAfter` consecutive failed attempts (thrown, timed out, or their
 * thread died), or when told to (`supervisor.crash`, for fault drills). Its
 * running attempts go back to the ready queue (they did not fail on their own; no retry is
 * spent), preferring another agent. A restarted agent keeps its context — capabilities,
 * concurrency, health history.
 *
 * Work travels in batches: one event from the Queen may carry many tasks, and each Agent gets
 * one event per batch. Every decision is explained (strategy, winner, runner-up, each term of
 * both scores).
 *
 * @module
 */
import { type ActorRefFrom, assertEvent, emit, enqueueActions, raise, sendParent, sendTo, setup, stopChild } from "xstate";
import { isRetriableCode, NoEligibleAgentError, QueueFullError, TaskCancelledError } from "../src/core/errors.ts";
import { createRandom, type Random } from "../src/core/random.ts";
import { type AgentDoneEvent, type AgentEvent, agentMachine, type AgentStartedEvent, type Assignment } from "./agent.ts";
import { type Blame, FaultEvidence } from "./blame.ts";
import { type AgentView, breakerAllows, FRESH_HEALTH, isEligible, MeanLatency, updateHealth } from "./allocation.ts";
import { AllocationIndex } from "./allocation-index.ts";
import { type AllocationOption, type AllocationStrategy, type Choice, createStrategy } from "./allocation-strategies.ts";
import { type DispatchWindow, dispatchWindows, type KindLimits } from "./kind-limits.ts";
import { ReadyQueue } from "./queue.ts";
import { stopChildren } from "./stop-children.ts";
import { affected, backoffMs, nextLevel, type RestartType, type SupervisionPolicy, withinIntensity } from "./restart.ts";
import type { PersistedAgent, PersistedSupervisor, SupervisorRestore } from "./persist.ts";
import type { Capabilities, Priority, ReadyTask, WorkResult } from "./types.ts";

/** An agent as declared by the user. */
export interface AgentSpec {
  id: string;
  capabilities: Capabilities;
  concurrency: number;
  /** Overrides the policy's restart type for this agent. */
  restart?: RestartType | undefined;
}

/** Where an agent stands with its Supervisor. */
export type AgentStatus = "up" | "restarting" | "failed" | "removing";

/** Input of {@link supervisorMachine}. */
export interface SupervisorInput {
  agents: AgentSpec[];
  /** Whether the backend starts an attempt as soon as it gets it (see the Worker). @default true */
  startsOnDispatch?: boolean | undefined;
  /** Seeded draws for tie-breaks. */
  random: Random;
  /** Who gets each task among the eligible agents with a free slot. @default "scored" */
  allocation?: AllocationOption | undefined;
  /** Every `agingMs` a queued task waits lifts it one priority rank, ms. */
  agingMs: number;
  /** Per kind, at most `max` attempts placed in any window of `perMs` ms. @default none */
  limits?: KindLimits | undefined;
  supervision: SupervisionPolicy;
  /** State saved by a previous run ({@link persistSupervisor}); its timers are re-armed at start. */
  restore?: SupervisorRestore | undefined;
}

interface AgentEntry {
  view: AgentView;
  ref: ActorRefFrom<typeof agentMachine>;
  spec: AgentSpec;
  status: AgentStatus;
  /** Failed attempts in a row; `failAfter` of them is a crash. */
  consecutiveFailures: number;
  /** Backoff level of the next restart, and when the last one happened. */
  backoffLevel: number;
  lastRestartAt: number | undefined;
  restarts: number;
  /** Why it last crashed. */
  lastCrash: string | undefined;
  /** While restarting: when its backoff ends (hive clock, ms). */
  restartDueAt: number | undefined;
  /** Failed by an escalation the swarm heals from: it comes back when the hive heals. */
  heals: boolean;
  /** Ids of the tasks whose attempts run on it (a crash re-queues them without a look at the others). */
  runs: Set<string>;
}

/** An agent's registry entry as `stats()` shows it. */
export interface AgentRecord {
  id: string;
  status: AgentStatus;
  restarts: number;
  lastCrash: string | undefined;
}

/** Context of {@link supervisorMachine}. Registry and queue are mutated in place (hot path). */
export interface SupervisorContext {
  agents: Map<string, AgentEntry>;
  /** The same views as `agents`, in declaration order. */
  views: AgentView[];
  /** The views indexed for placement: kept current by {@link adjust} and {@link touch}. */
  index: AllocationIndex;
  /** Mean latency over the views, kept up to date as their health changes. */
  latency: MeanLatency;
  /** The allocation strategy in force. */
  allocation: AllocationStrategy;
  /** True once a fallback from the current user function was reported (once per function). */
  fallbackReported: boolean;
  /** `hive.pause()`: nothing is placed; tasks wait in the queue and running attempts finish. */
  paused: boolean;
  /** Ordinal the next agent added gets (declaration order, for round-robin). */
  nextOrdinal: number;
  queue: ReadyQueue;
  /** Kind → the window of its recent starts, for the kinds with a limit; undefined without limits. */
  limits: Map<string, DispatchWindow> | undefined;
  /**
   * Task id → agent, seq and the task of its running attempt; `startPending`: its kind's window
   * counts it as pending until its start (or its end) is reported.
   */
  running: Map<string, { agentId: string; seq: number; task: ReadyTask; startPending: boolean }>;
  /** Last attempt sequence number handed out. */
  seq: number;
  random: Random;
  agingMs: number;
  supervision: SupervisionPolicy;
  /** Agent ids in declaration order (rest-for-one restarts those after the crashed one). */
  order: string[];
  /** Times of recent restarts, for the intensity check. */
  restartLog: number[];
  /** Why the Supervisor gave up restarting, once it did. */
  escalated: string | null;
  /** Hive-clock time of the restore this Supervisor started from (0 when it started fresh). */
  restoredAt: number;
  startsOnDispatch: boolean;
  /** Who failed where, per kind: what blame is decided from. */
  evidence: FaultEvidence;
  /** Free slots over agents that take work (up, breaker not open): the Queen's queue bound counts on it. */
  free: number;
  /** Tasks received in `supervisor.enqueue` events so far (the Queen knows how many it sent). */
  received: number;
  /** What the Queen was last told of `free` and `received`. */
  reported: { free: number; received: number };
  /** True from a heal until the first agent it restarts is back. */
  healing: boolean;
  /** True once the agents were stopped (after `supervisor.stop`, once no attempt runs). */
  released: boolean;
}

/** Events a Supervisor accepts. */
export type SupervisorEvent =
  | { type: "supervisor.enqueue"; tasks: ReadyTask[]; at: number }
  | { type: "supervisor.cancel"; id: string; reason: string; at: number }
  | AgentDoneEvent
  | { type: "supervisor.breaker"; agentId: string; state: AgentView["breaker"]; at: number }
  | { type: "supervisor.shed"; priority: Priority; at: number }
  | { type: "supervisor.crash"; agentId: string; reason: string; at: number }
  | { type: "supervisor.restart"; agentId: string; at: number }
  | { type: "supervisor.addAgent"; spec: AgentSpec; at: number }
  | { type: "supervisor.removeAgent"; agentId: string; at: number }
  | AgentStartedEvent
  /** Restart the agents an escalation failed (after the cool-down, or `hive.heal()`). */
  | { type: "supervisor.heal"; at: number }
  /** A limited kind's window frees: its waiting tasks may be placed. */
  | { type: "supervisor.window"; kind: string; at: number }
  /** Place from now on with another strategy (validated by the hive). */
  | { type: "supervisor.allocation"; allocation: AllocationOption; at: number }
  | { type: "supervisor.pause"; paused: boolean; at: number }
  | { type: "supervisor.stop"; at: number };

/** A task placed on an agent's slot (or, with `at`, one whose attempt began to run on a thread). */
export interface Started {
  id: string;
  agentId: string;
  attempt: number;
  /** When it began to run, if that is later than its placement. */
  at?: number | undefined;
}

/** A task attempt that ended (or a task that could not be placed: `agentId` undefined). */
export interface Finished {
  id: string;
  agentId: string | undefined;
  /** The attempt number, or 0 when the Supervisor no longer knew it. */
  attempt: number;
  result: WorkResult;
  durationMs: number;
  /** When it began to run, if it did. */
  startedAt?: number | undefined;
  /** Whose fault a failed attempt was. */
  blame?: Blame | undefined;
}

/** How much the Supervisor can take at once: free slots, and how many tasks it has received. */
export interface Capacity {
  free: number;
  received: number;
}

/** What a Supervisor tells the Queen. Any of them may carry its latest {@link Capacity}. */
export type SupervisorToQueen =
  | { type: "queen.placed"; started: Started[]; at: number; capacity?: Capacity }
  /** Attempts that waited for a thread began to run. */
  | { type: "queen.started"; started: Started[]; at: number; capacity?: Capacity }
  | { type: "queen.finished"; finished: Finished[]; at: number; capacity?: Capacity }
  | { type: "queen.escalated"; reason: string; at: number; capacity?: Capacity }
  /** An escalation is over: a restarted agent is back. */
  | { type: "queen.healed"; at: number; capacity?: Capacity }
  | { type: "queen.capacity"; at: number; capacity?: Capacity }
  /** Attempts lost with a crashed agent, back in the ready queue (no retry spent). */
  | { type: "queen.requeued"; ids: string[]; at: number; capacity?: Capacity };

/** The explanation of one placement: the strategy that decided, its winner and runner-up. */
export interface Decision extends Choice {
  taskId: string;
  attempt: number;
  at: number;
}

/** A user's allocation function failed and the scored strategy placed a task instead (reported once per function). */
export interface AllocationFallbackEvent {
  type: "allocation.fallback";
  taskId: string;
  /** What went wrong, as the decision's `fallback` says it. */
  reason: string;
  at: number;
}

/** What happened to an agent. */
export type AgentLifecycleEvent =
  /** It crashed (its attempts went back to the queue); `agent.restarting` or `agent.failed` follows. */
  | { type: "agent.crashed"; agentId: string; reason: string; at: number }
  /** It is out for good — or, after an escalation the swarm heals from, until the hive heals. */
  | { type: "agent.failed"; agentId: string; reason: string; at: number }
  | { type: "agent.restarting"; agentId: string; reason: string; backoffMs: number; restarts: number; at: number }
  | { type: "agent.restarted"; agentId: string; at: number }
  | { type: "agent.added"; agentId: string; at: number }
  | { type: "agent.removed"; agentId: string; at: number };

/** Events a Supervisor emits to outside listeners. */
export type SupervisorEmitted =
  | { type: "supervisor.decisions"; decisions: Decision[] }
  | { type: "supervisor.agents"; events: AgentLifecycleEvent[] }
  | { type: "supervisor.fallback"; event: AllocationFallbackEvent };

/** Placements made while handling one event, flushed as one message per agent. */
class Plan {
  // Each list is made on its first entry: most steps fill two or three of them.
  /** Attempts that ended, reported to the Queen before anything else of the step. */
  ended: Finished[] | undefined;
  byAgent: Map<string, Assignment[]> | undefined;
  started: Started[] | undefined;
  decisions: Decision[] | undefined;
  failed: Finished[] | undefined;
  agentEvents: AgentLifecycleEvent[] | undefined;
  /** Messages to agents beyond assignments (fail, restart, stop), in order. */
  agentMessages: { ref: AgentEntry["ref"]; event: AgentEvent }[] | undefined;
  stops: AgentEntry["ref"][] | undefined;
  restarts: { agentId: string; delayMs: number }[] | undefined;
  escalated: string | undefined;
  /** The first fallback from a user's allocation function, to report. */
  fallback: AllocationFallbackEvent | undefined;
  /** Delay of the automatic heal to schedule after this escalation, ms. */
  healInMs: number | undefined;
  healed = false;
  requeued: string[] | undefined;
}

/**
 * Places `task` on the agent the strategy picks among the eligible ones with a free slot.
 * `declined`: there were some, and the strategy (a user's function) left the task queued.
 */
function place(context: SupervisorContext, task: ReadyTask, at: number, plan: Plan, meanMs: number): "placed" | "no-slot" | "declined" | "ineligible" {
  if (context.paused) return "no-slot";
  const window = context.limits === undefined ? undefined : context.limits.get(task.kind);
  // A kind over its limit waits, like a task with no free slot (a timer frees it: see `wake`).
  if (window !== undefined && !window.allows(at)) return "no-slot";
  const pool = context.index.poolFor(task.requires);
  if (pool.count === 0) return pool.runnable ? "no-slot" : "ineligible";
  const choice = context.allocation.choose(task, pool, meanMs, context.random);
  if (choice === undefined) return "declined";
  if (choice.fallback !== undefined && !context.fallbackReported) {
    context.fallbackReported = true;
    plan.fallback = { type: "allocation.fallback", taskId: task.id, reason: choice.fallback, at };
  }
  const agentId = choice.winner.agentId;
  const entry = context.agents.get(agentId)!;
  adjust(context, entry, (v) => v.busy++);
  // Where placement is not the start, the window counts the attempt from its reported start.
  const startPending = window !== undefined && !context.startsOnDispatch;
  if (startPending) window.placed();
  else window?.record(at);
  const seq = ++context.seq;
  context.running.set(task.id, { agentId, seq, task, startPending });
  entry.runs.add(task.id);
  const byAgent = (plan.byAgent ??= new Map());
  let list = byAgent.get(agentId);
  if (list === undefined) byAgent.set(agentId, list = []);
  list.push(startPending ? { task, seq, reportStart: true } : { task, seq });
  (plan.started ??= []).push({ id: task.id, agentId, attempt: task.attempt });
  // Fields written out, not spread: one object shape for every decision (a placement is the hot path).
  const decision: Decision = { taskId: task.id, attempt: task.attempt, strategy: choice.strategy, winner: choice.winner, runnerUp: choice.runnerUp, at };
  if (choice.reason !== undefined) decision.reason = choice.reason;
  if (choice.fallback !== undefined) decision.fallback = choice.fallback;
  (plan.decisions ??= []).push(decision);
  return "placed";
}

/** Slots of `view` that can take work now: free ones of an agent that is up and not tripped. */
function slotsOf(view: AgentView): number {
  return view.available && view.breaker !== "open" ? Math.max(0, view.concurrency - view.busy) : 0;
}

/** Changes an agent's view, keeping the swarm's free-slot count and the allocation index true. */
function adjust(context: SupervisorContext, entry: AgentEntry, change: (view: AgentView) => void): void {
  const view = entry.view;
  const before = slotsOf(view);
  change(view);
  context.free += slotsOf(view) - before;
  touch(context, entry);
}

/** Re-files an agent in the allocation index after its view or status changed. */
function touch(context: SupervisorContext, entry: AgentEntry): void {
  context.index.update(entry.view, canReturn(entry));
}

/** True when an agent is in the swarm for good or will come back (restarting, or healing from an escalation). */
function canReturn(a: AgentEntry): boolean {
  return a.status === "up" || a.status === "restarting" || (a.status === "failed" && a.heals);
}

/** True when some agent that is not gone for good could ever run `task`. */
function anyCanRun(context: SupervisorContext, requires: Capabilities): boolean {
  return context.index.runnable(requires);
}

/** The error of a task no agent left in the swarm can run: none ever could, or those that could are gone. */
function ineligible(context: SupervisorContext, task: ReadyTask): Finished {
  const gone: string[] = [];
  for (const a of context.agents.values()) {
    if (isEligible(a.view.capabilities, task.requires)) {
      gone.push(`${a.spec.id} (${a.status === "removing" ? "being removed" : `failed for good${a.lastCrash !== undefined ? `: ${a.lastCrash}` : ""}`})`);
    }
  }
  const requires = JSON.stringify(task.requires);
  const message = gone.length === 0
    ? `Cannot place task ${task.id}: no agent has the capabilities it requires, "requires" was ${requires}`
    : `Cannot place task ${task.id}: every agent that could run it is gone — ${gone.slice(0, 5).join(", ")}${gone.length > 5 ? ` and ${gone.length - 5} more` : ""}; "requires" was ${requires}`;
  return { id: task.id, agentId: undefined, attempt: task.attempt, durationMs: 0, result: { ok: false, error: new NoEligibleAgentError(message, { taskId: task.id }) } };
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
      context.received += event.tasks.length;
      const plan = new Plan();
      const meanMs = context.latency.value;
      for (const task of event.tasks) {
        // Queued tasks of the same requirements go first: FIFO within a priority.
        const outcome = context.queue.size > 0 ? "no-slot" : place(context, task, event.at, plan, meanMs);
        if (outcome === "no-slot" || outcome === "declined") {
          if (anyCanRun(context, task.requires)) context.queue.push(task);
          else (plan.failed ??= []).push(ineligible(context, task));
        } else if (outcome === "ineligible") (plan.failed ??= []).push(ineligible(context, task));
      }
      if (context.queue.size > 0) fill(context, event.at, plan, meanMs);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** Attempts ended: update health, report, detect a crashing agent, refill the freed slots. */
    done: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.done") return;
      const entry = context.agents.get(event.agentId);
      const plan = new Plan();
      let crash: string | undefined;
      for (const end of event.ends) {
        const run = context.running.get(end.id);
        // Not the attempt on record (its agent crashed and it was re-queued, or it was superseded).
        if (run === undefined || run.seq !== end.seq || run.agentId !== event.agentId) continue;
        context.running.delete(end.id);
        if (run.startPending) startKnown(context, run, end.startedAt, enqueue);
        const finished: Finished = { id: end.id, agentId: event.agentId, attempt: run.task.attempt, result: end.result, durationMs: end.durationMs, startedAt: end.startedAt };
        (plan.ended ??= []).push(finished);
        if (entry === undefined) continue;
        entry.runs.delete(end.id);
        context.latency.remove(entry.view.health);
        adjust(context, entry, (v) => {
          v.busy--;
          v.health = updateHealth(v.health, end.result.ok, end.durationMs);
        });
        context.latency.add(entry.view.health);
        if (end.result.ok) {
          entry.consecutiveFailures = 0;
          context.evidence.record(run.task.kind, event.agentId, true);
          continue;
        }
        const blame = blameOf(context, run.task.kind, event.agentId, end.result.error);
        finished.blame = blame;
        // Only the agent's own faults count towards its crash: a poison task crashes nobody.
        if (blame?.to === "agent" && ++entry.consecutiveFailures >= context.supervision.failAfter) {
          crash ??= `${entry.consecutiveFailures} attempts failed in a row where other agents succeed (last: ${blame.reason})`;
        }
      }
      if (entry !== undefined && crash !== undefined && entry.status === "up") crashAgent(context, entry, crash, event.at, plan);
      if (entry !== undefined && entry.status === "removing" && entry.view.busy === 0) removeNow(context, entry, event.at, plan);
      if (context.queue.size > 0) fill(context, event.at, plan, context.latency.value);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** A fault drill, or an outside report: the agent crashed. */
    crash: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.crash") return;
      const entry = context.agents.get(event.agentId);
      if (entry === undefined || entry.status !== "up") return;
      const plan = new Plan();
      crashAgent(context, entry, event.reason, event.at, plan);
      if (context.queue.size > 0) fill(context, event.at, plan, context.latency.value);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** Backoff over: the agent is back, with its context. */
    restart: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.restart") return;
      const entry = context.agents.get(event.agentId);
      if (entry === undefined || entry.status !== "restarting") return;
      entry.status = "up";
      adjust(context, entry, (v) => (v.available = true));
      entry.consecutiveFailures = 0;
      entry.restartDueAt = undefined;
      enqueue.sendTo(entry.ref, { type: "agent.ready", at: event.at } satisfies AgentEvent);
      const plan = new Plan();
      (plan.agentEvents ??= []).push({ type: "agent.restarted", agentId: entry.spec.id, at: event.at });
      if (context.healing) {
        // The first agent back after a heal: the swarm works again.
        context.healing = false;
        plan.healed = true;
      }
      if (context.queue.size > 0) fill(context, event.at, plan, context.latency.value);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    addAgent: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.addAgent" || context.agents.has(event.spec.id)) return;
      const spec = event.spec;
      enqueue.assign(({ context: c, spawn }) => {
        const entry = newEntry(spec, spawn("agent", { id: spec.id, input: { ...spec, startsOnDispatch: c.startsOnDispatch } }) as AgentEntry["ref"], c.nextOrdinal++);
        c.agents.set(spec.id, entry);
        c.views.push(entry.view);
        c.index.add(entry.view, canReturn(entry));
        c.order.push(spec.id);
        c.free += slotsOf(entry.view);
        return {};
      });
      const plan = new Plan();
      (plan.agentEvents ??= []).push({ type: "agent.added", agentId: spec.id, at: event.at });
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
      enqueue.raise({ type: "supervisor.enqueue", tasks: [], at: event.at });
    }),
    /** Takes an agent out of allocation; it leaves once its running attempts have ended. */
    removeAgent: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.removeAgent") return;
      const entry = context.agents.get(event.agentId);
      if (entry === undefined || entry.status === "removing") return;
      entry.status = "removing";
      adjust(context, entry, (v) => (v.available = false));
      enqueue.cancel(`restart:${entry.spec.id}`);
      const plan = new Plan();
      if (entry.view.busy === 0) removeNow(context, entry, event.at, plan);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** An agent's breaker changed state: open takes it out of allocation, closing refills it. */
    breaker: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.breaker") return;
      const entry = context.agents.get(event.agentId);
      if (entry === undefined) return;
      adjust(context, entry, (v) => (v.breaker = event.state));
      const plan = new Plan();
      if (event.state !== "open" && context.queue.size > 0) fill(context, event.at, plan, context.latency.value);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** Drops the newest queued task of `priority` to make room; the Queen ends it as shed. */
    shed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.shed") return;
      const task = context.queue.shedNewest(event.priority);
      if (task === undefined) return;
      const error = new QueueFullError(`Task ${task.id} was shed: the queue was full and a higher-priority task arrived ("queue.overflow" is shed-lowest)`, { taskId: task.id });
      enqueue(
        sendParent(
          { type: "queen.finished", finished: [{ id: task.id, agentId: undefined, attempt: task.attempt, durationMs: 0, result: { ok: false, error } }], at: event.at } satisfies SupervisorToQueen,
        ),
      );
    }),
    cancel: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.cancel") return;
      if (context.queue.remove(event.id)) return;
      const run = context.running.get(event.id);
      if (run === undefined) return;
      const agent = context.agents.get(run.agentId);
      if (agent) enqueue.sendTo(agent.ref, { type: "agent.cancel", ids: [event.id], reason: event.reason, at: event.at } satisfies AgentEvent);
    }),
    /**
     * After a restore: XState does not re-arm delayed events from a saved state, so the restart
     * backoffs that were running are scheduled again for the time they had left, and agents that
     * were down are put back in their failed / restarting state.
     */
    rearm: enqueueActions(({ context, enqueue }) => {
      for (const entry of context.agents.values()) {
        if (entry.status === "up") continue;
        const at = entry.restartDueAt ?? 0;
        enqueue.sendTo(entry.ref, { type: "agent.fail", reason: entry.lastCrash ?? "restored down", at } satisfies AgentEvent);
        if (entry.status !== "restarting" || entry.restartDueAt === undefined) continue;
        enqueue.sendTo(entry.ref, { type: "agent.restart", at } satisfies AgentEvent);
        const delayMs = Math.max(0, entry.restartDueAt - context.restoredAt);
        enqueue.raise({ type: "supervisor.restart", agentId: entry.spec.id, at: entry.restartDueAt } as never, { id: `restart:${entry.spec.id}`, delay: delayMs });
      }
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
      const plan = new Plan();
      if (finished.length > 0) plan.ended = finished;
      const byAgent = new Map<string, string[]>();
      for (const [id, run] of context.running) {
        let ids = byAgent.get(run.agentId);
        if (ids === undefined) byAgent.set(run.agentId, ids = []);
        ids.push(id);
      }
      for (const [agentId, ids] of byAgent) {
        const agent = context.agents.get(agentId);
        if (agent) enqueue.sendTo(agent.ref, { type: "agent.cancel", ids, reason: "the hive stopped", at: event.at } satisfies AgentEvent);
      }
      for (const e of context.agents.values()) {
        e.view.available = false;
        touch(context, e);
      }
      context.free = 0;
      context.healing = false;
      enqueue.cancel("heal");
      for (const window of context.limits?.values() ?? []) {
        if (window.wakeAt !== undefined) enqueue.cancel(`limit:${window.kind}`);
        window.wakeAt = undefined;
      }
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /**
     * Stopped, and every attempt has reported its end: the agents are stopped together (one
     * action for all: stopping them one by one, as a machine stops its children, costs O(n²)).
     */
    release: enqueueActions(({ context, enqueue }) => {
      if (context.released || context.running.size > 0) return;
      context.released = true;
      const refs: AgentEntry["ref"][] = [];
      for (const entry of context.agents.values()) refs.push(entry.ref);
      enqueue(stopChildren(refs));
    }),
    /** Starts of attempts that waited for a thread travel on to the Queen (those of the attempt on record). */
    started: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.started") return;
      const started: Started[] = [];
      let counted = false;
      for (const s of event.starts) {
        const run = context.running.get(s.id);
        if (run === undefined || run.seq !== s.seq || run.agentId !== event.agentId) continue;
        started.push({ id: s.id, agentId: event.agentId, attempt: run.task.attempt, at: s.startedAt });
        if (run.startPending) {
          startKnown(context, run, s.startedAt ?? event.at, enqueue);
          counted = true;
        }
      }
      if (started.length > 0) enqueue(sendParent({ type: "queen.started", started, at: event.at } satisfies SupervisorToQueen));
      // A window that counted these as pending may take more now, or knows when it will.
      if (counted) {
        const plan = new Plan();
        if (context.queue.size > 0) fill(context, event.at, plan, context.latency.value);
        for (const action of flush(plan, context, event.at)) enqueue(action as never);
      }
    }),
    /** `hive.pause()` / `hive.resume()`: placement stops; on resume the queue is offered at once. */
    pause: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "supervisor.pause");
      context.paused = event.paused;
      const plan = new Plan();
      if (!context.paused && context.queue.size > 0) fill(context, event.at, plan, context.latency.value);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** A limited kind's window freed: its waiting tasks are offered to the agents. */
    window: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "supervisor.window");
      const window = context.limits?.get(event.kind);
      if (window !== undefined) window.wakeAt = undefined;
      const plan = new Plan();
      if (context.queue.size > 0) fill(context, event.at, plan, context.latency.value);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /** Another allocation strategy from now on; queued work is offered to it at once. */
    setAllocation: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "supervisor.allocation");
      context.allocation = createStrategy(event.allocation);
      context.fallbackReported = false;
      const plan = new Plan();
      if (context.queue.size > 0) fill(context, event.at, plan, context.latency.value);
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
    /**
     * The escalation is over (its cool-down passed, or `hive.heal()`): the agents it failed are
     * restarted with backoff on a fresh intensity window; the hive clears `degraded` once the
     * first of them is back.
     */
    heal: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "supervisor.heal") return;
      enqueue.cancel("heal");
      const plan = new Plan();
      const wasEscalated = context.escalated !== null;
      context.escalated = null;
      context.restartLog.length = 0;
      let restarting = 0;
      for (const e of context.agents.values()) {
        if (e.status !== "failed" || (e.spec.restart ?? context.supervision.restart) === "temporary") continue;
        e.heals = false;
        scheduleRestart(context, e, e.lastCrash ?? "restarted after the escalation", event.at, plan);
        restarting++;
      }
      if (restarting > 0) context.healing = true;
      else if (wasEscalated || context.healing) {
        context.healing = false;
        plan.healed = true;
      }
      for (const action of flush(plan, context, event.at)) enqueue(action as never);
    }),
  },
}).createMachine({
  id: "supervisor",
  context: ({ input, spawn }) => {
    const agents = new Map<string, AgentEntry>();
    const views: AgentView[] = [];
    const specs = input.restore === undefined ? input.agents : restoredSpecs(input.agents, input.restore);
    const startsOnDispatch = input.startsOnDispatch ?? true;
    // Not persisted: a recovered hive starts every kind with an empty window.
    const limits = dispatchWindows(input.limits);
    // Tie keys come from a stream of their own, seeded from the hive's: placements do not shift
    // the draws of retries and backoffs.
    const index = new AllocationIndex(createRandom(Math.floor(input.random.next() * 4_294_967_296)));
    let free = 0;
    for (const spec of specs) {
      const entry = newEntry(spec, spawn("agent", { id: spec.id, input: { ...spec, startsOnDispatch } }) as AgentEntry["ref"], views.length);
      if (input.restore !== undefined) applyRestore(entry, input.restore, input.supervision);
      views.push(entry.view);
      agents.set(spec.id, entry);
      index.add(entry.view, canReturn(entry));
      free += slotsOf(entry.view);
    }
    const latency = new MeanLatency();
    for (const view of views) latency.add(view.health);
    return {
      agents,
      views,
      index,
      latency,
      allocation: createStrategy(input.allocation ?? "scored"),
      fallbackReported: false,
      paused: input.restore?.paused === true,
      nextOrdinal: views.length,
      queue: new ReadyQueue(limits),
      limits,
      running: new Map(),
      seq: 0,
      random: input.random,
      agingMs: input.agingMs,
      supervision: input.supervision,
      order: specs.map((a) => a.id),
      restartLog: input.restore === undefined ? [] : input.restore.restartLog.map((ago) => input.restore!.at - ago),
      // A new process starts healthy: an escalation of the last one is not carried over (its
      // restart log is, so a swarm that keeps crashing escalates again soon).
      escalated: null,
      restoredAt: input.restore?.at ?? 0,
      startsOnDispatch,
      evidence: new FaultEvidence(),
      free,
      received: 0,
      reported: { free, received: 0 },
      healing: false,
      released: false,
    };
  },
  initial: "running",
  states: {
    running: {
      entry: "rearm",
      on: {
        "supervisor.enqueue": { actions: "enqueue" },
        "supervisor.done": { actions: "done" },
        "supervisor.cancel": { actions: "cancel" },
        "supervisor.breaker": { actions: "breaker" },
        "supervisor.shed": { actions: "shed" },
        "supervisor.crash": { actions: "crash" },
        "supervisor.restart": { actions: "restart" },
        "supervisor.addAgent": { actions: "addAgent" },
        "supervisor.removeAgent": { actions: "removeAgent" },
        "supervisor.started": { actions: "started" },
        "supervisor.heal": { actions: "heal" },
        "supervisor.allocation": { actions: "setAllocation" },
        "supervisor.window": { actions: "window" },
        "supervisor.pause": { actions: "pause" },
        "supervisor.stop": { target: "stopped", actions: "stopAll" },
      },
    },
    stopped: {
      entry: "release",
      on: {
        "supervisor.done": { actions: ["done", "release"] },
        "supervisor.started": { actions: "started" },
        "supervisor.cancel": { actions: "cancel" },
      },
    },
  },
});

/**
 * The start of a running attempt its kind's window counted as pending became known (`at`), or it
 * ended without one (`undefined`). The window's wake-up, if set, may now be too late: it is
 * cancelled, and the step's `flush` sets it again.
 */
function startKnown(context: SupervisorContext, run: { task: ReadyTask; startPending: boolean }, at: number | undefined, enqueue: { cancel(id: string): void }): void {
  run.startPending = false;
  const window = context.limits!.get(run.task.kind)!;
  if (at === undefined) window.unstarted();
  else window.started(at);
  if (window.wakeAt === undefined) return;
  enqueue.cancel(`limit:${window.kind}`);
  window.wakeAt = undefined;
}

/**
 * Moves queued tasks onto agents with free slots, most urgent first, until none fits. A task the
 * strategy declines (a user's function left it queued) goes back to the head of its lane, and the
 * agent at hand is passed over until the next fill.
 */
function fill(context: SupervisorContext, at: number, plan: Plan, meanMs: number): void {
  if (context.paused) return;
  // The agents that can take work and suit some waiting task, in declaration order (the others
  // would take nothing): a placement may fill one already passed (the strategy picks the agent),
  // never one not yet reached.
  const queue = context.queue;
  for (
    let view = context.index.nextCandidateFor(-1, queue.waitingRequirements(at));
    view !== undefined && queue.size > 0;
    view = context.index.nextCandidateFor(view.ordinal, queue.waitingRequirements(at))
  ) {
    while (view.available && view.busy < view.concurrency && breakerAllows(view) && queue.size > 0) {
      const task = queue.takeFor(view.capabilities, at, context.agingMs);
      if (task === undefined) break;
      if (place(context, task, at, plan, meanMs) !== "placed") {
        queue.putBack(task);
        break;
      }
    }
  }
}

/**
 * Sets a timer on the hive clock for each limited kind that has tasks waiting and a full window:
 * when the window frees, `supervisor.window` places them without waiting for another event.
 */
function wake(context: SupervisorContext, at: number, actions: unknown[]): void {
  for (const window of context.limits!.values()) {
    if (window.wakeAt !== undefined || window.allows(at) || context.queue.waitingOf(window) === 0) continue;
    const dueAt = window.freeAt(at);
    // Its placed attempts not yet started fill it: a reported start or end decides, not a timer.
    if (dueAt === undefined) continue;
    window.wakeAt = dueAt;
    const event: SupervisorEvent = { type: "supervisor.window", kind: window.kind, at: dueAt };
    actions.push(raise(event as never, { id: `limit:${window.kind}`, delay: dueAt - at }));
  }
}

/** The actions that send a plan: one assignment per agent, one report to the Queen, one explanation. */
function flush(plan: Plan, context: SupervisorContext, at: number): unknown[] {
  const actions: unknown[] = [];
  if (context.limits !== undefined) wake(context, at, actions);
  const toQueen: SupervisorToQueen[] = [];
  if (plan.ended !== undefined) toQueen.push({ type: "queen.finished", finished: plan.ended, at });
  for (const { ref, event } of plan.agentMessages ?? []) actions.push(sendTo(ref, event));
  for (const ref of plan.stops ?? []) actions.push(stopChild(ref));
  for (const { agentId, delayMs } of plan.restarts ?? []) {
    const event: SupervisorEvent = { type: "supervisor.restart", agentId, at: at + delayMs };
    actions.push(raise(event as never, { id: `restart:${agentId}`, delay: delayMs }));
  }
  if (plan.healInMs !== undefined) actions.push(raise({ type: "supervisor.heal", at: at + plan.healInMs } as never, { id: "heal", delay: plan.healInMs }));
  if (plan.escalated !== undefined) toQueen.push({ type: "queen.escalated", reason: plan.escalated, at });
  if (plan.healed) toQueen.push({ type: "queen.healed", at });
  // Before `queen.placed`: a re-queued task that is placed again in the same step starts again.
  if (plan.requeued !== undefined) toQueen.push({ type: "queen.requeued", ids: plan.requeued, at });
  if (plan.agentEvents !== undefined) actions.push(emit({ type: "supervisor.agents", events: plan.agentEvents }));
  for (const [agentId, assignments] of plan.byAgent ?? []) {
    actions.push(sendTo(context.agents.get(agentId)!.ref, { type: "agent.assign", assignments, at } satisfies AgentEvent));
  }
  if (plan.started !== undefined) toQueen.push({ type: "queen.placed", started: plan.started, at });
  if (plan.failed !== undefined) toQueen.push({ type: "queen.finished", finished: plan.failed, at });
  // The Queen bounds its queue by what waits, not by what is about to be placed: the last
  // message of the step tells it how much room the swarm has now.
  const reported = context.reported;
  // Paused, no slot takes anything at once: every new task waits, and counts against the bound.
  const free = context.paused ? 0 : context.free;
  if (free !== reported.free || context.received !== reported.received) {
    const capacity: Capacity = { free, received: context.received };
    context.reported = capacity;
    if (toQueen.length === 0) toQueen.push({ type: "queen.capacity", at });
    toQueen[toQueen.length - 1]!.capacity = capacity;
  }
  for (const m of toQueen) actions.push(sendParent(m));
  if (plan.decisions !== undefined) actions.push(emit({ type: "supervisor.decisions", decisions: plan.decisions }));
  if (plan.fallback !== undefined) actions.push(emit({ type: "supervisor.fallback", event: plan.fallback }));
  return actions;
}

function newEntry(spec: AgentSpec, ref: AgentEntry["ref"], ordinal: number): AgentEntry {
  return {
    view: { id: spec.id, capabilities: spec.capabilities, concurrency: spec.concurrency, busy: 0, health: FRESH_HEALTH, available: true, breaker: "closed", ordinal, tieKey: 0 },
    ref,
    spec,
    status: "up",
    consecutiveFailures: 0,
    backoffLevel: 0,
    lastRestartAt: undefined,
    restarts: 0,
    lastCrash: undefined,
    restartDueAt: undefined,
    heals: false,
    runs: new Set(),
  };
}

/**
 * `entry` crashed: by the strategy, it (and maybe others) lose their running attempts — back to
 * the ready queue — and are restarted after a backoff, or fail (temporary agents for good; past
 * the restart intensity the Supervisor escalates, and under `escalation.action: "restart"` the
 * agents it failed come back when the hive heals after `escalation.cooldownMs`).
 */
function crashAgent(context: SupervisorContext, entry: AgentEntry, reason: string, at: number, plan: Plan): void {
  const policy = context.supervision;
  const ids = affected(policy.strategy, context.order, entry.spec.id);
  entry.lastCrash = reason;
  for (const id of ids) {
    const e = context.agents.get(id);
    if (e === undefined || (e.status !== "up" && e !== entry)) continue;
    const why = e === entry ? reason : `${policy.strategy} restart after agent ${entry.spec.id} crashed`;
    // Its attempts did not fail on their own: they go back to the queue, preferring another agent.
    for (const taskId of e.runs) {
      const run = context.running.get(taskId)!;
      context.running.delete(taskId);
      // It may have begun on the agent that crashed, unreported: counted as starting now, to be safe.
      if (run.startPending) context.limits!.get(run.task.kind)!.started(at);
      context.queue.push({ ...run.task, avoid: id, enqueuedAt: at });
      (plan.requeued ??= []).push(taskId);
    }
    e.runs.clear();
    adjust(context, e, (v) => {
      v.busy = 0;
      v.available = false;
    });
    (plan.agentMessages ??= []).push({ ref: e.ref, event: { type: "agent.fail", reason: why, at } });
    (plan.agentEvents ??= []).push({ type: "agent.crashed", agentId: id, reason: why, at });
    const type = e.spec.restart ?? policy.restart;
    if (type === "temporary") {
      e.status = "failed";
      touch(context, e);
      (plan.agentEvents ??= []).push({ type: "agent.failed", agentId: id, reason: why, at });
      continue;
    }
    if (context.escalated === null && !withinIntensity(context.restartLog, at, policy)) {
      context.escalated = `more than ${policy.maxRestarts} restarts within ${policy.withinMs} ms (last: agent ${id}: ${why})`;
      plan.escalated = context.escalated;
      if (policy.escalation.action === "restart") plan.healInMs = policy.escalation.cooldownMs;
    }
    if (context.escalated !== null) {
      e.status = "failed";
      e.heals = policy.escalation.action === "restart";
      touch(context, e);
      (plan.agentEvents ??= []).push({ type: "agent.failed", agentId: id, reason: why, at });
      continue;
    }
    scheduleRestart(context, e, why, at, plan);
  }
  failOrphans(context, plan);
}

/** Puts a down agent on its restart backoff. */
function scheduleRestart(context: SupervisorContext, e: AgentEntry, why: string, at: number, plan: Plan): void {
  const policy = context.supervision;
  const id = e.spec.id;
  e.backoffLevel = nextLevel(e.backoffLevel, e.lastRestartAt, at, policy.backoff.resetAfterMs);
  e.lastRestartAt = at;
  e.restarts++;
  e.status = "restarting";
  touch(context, e);
  const delayMs = backoffMs(policy.backoff, e.backoffLevel, context.random.next());
  e.restartDueAt = at + delayMs;
  (plan.agentMessages ??= []).push({ ref: e.ref, event: { type: "agent.restart", at } });
  (plan.restarts ??= []).push({ agentId: id, delayMs });
  (plan.agentEvents ??= []).push({ type: "agent.restarting", agentId: id, reason: why, backoffMs: delayMs, restarts: e.restarts, at });
}

/** Whose fault a failed attempt is: a dependency's when its circuit was open, else by the evidence. */
function blameOf(context: SupervisorContext, kind: string, agentId: string, error: Error & { code?: string }): Blame | undefined {
  const code = error.code;
  // A handler that failed fast on an open dependency circuit says the dependency is down, not
  // the agent or the task: it must not crash every agent during an outage.
  const causeCode = (error.cause as { code?: unknown } | undefined)?.code;
  if (causeCode === "CIRCUIT_OPEN") return { to: "dependency", reason: `a dependency's circuit was open: ${(error.cause as Error).message}` };
  if (causeCode === "RATE_LIMITED") return { to: "dependency", reason: `a dependency was rate limited: ${(error.cause as Error).message}` };
  if (!isRetriableCode(code)) return undefined;
  context.evidence.record(kind, agentId, false);
  return context.evidence.blame(kind, agentId);
}

/** Fails queued tasks that no agent left in the swarm can ever run. */
function failOrphans(context: SupervisorContext, plan: Plan): void {
  if (context.queue.size === 0) return;
  for (const task of context.queue.drainAll()) {
    if (anyCanRun(context, task.requires)) context.queue.push(task);
    else (plan.failed ??= []).push(ineligible(context, task));
  }
}

/** Stops and forgets an agent being removed (its attempts have all ended). */
function removeNow(context: SupervisorContext, entry: AgentEntry, at: number, plan: Plan): void {
  const id = entry.spec.id;
  context.agents.delete(id);
  context.index.remove(entry.view);
  const v = context.views.indexOf(entry.view);
  if (v >= 0) {
    context.views.splice(v, 1);
    context.latency.remove(entry.view.health);
  }
  context.order = context.order.filter((x) => x !== id);
  (plan.stops ??= []).push(entry.ref);
  (plan.agentEvents ??= []).push({ type: "agent.removed", agentId: id, at });
  failOrphans(context, plan);
}

/** The Supervisor's state as plain JSON, times relative to `at` (see actors/persist.ts). */
export function persistSupervisor(context: SupervisorContext, at: number): PersistedSupervisor {
  const agents: PersistedAgent[] = [];
  for (const e of context.agents.values()) {
    if (e.status === "removing") continue;
    agents.push({
      spec: { id: e.spec.id, capabilities: e.spec.capabilities, concurrency: e.spec.concurrency, ...(e.spec.restart !== undefined ? { restart: e.spec.restart } : {}) },
      status: e.status,
      restarts: e.restarts,
      backoffLevel: e.backoffLevel,
      lastRestartAgoMs: e.lastRestartAt === undefined ? null : Math.max(0, at - e.lastRestartAt),
      lastCrash: e.lastCrash ?? null,
      consecutiveFailures: e.consecutiveFailures,
      health: { ...e.view.health },
      restartInMs: e.status === "restarting" && e.restartDueAt !== undefined ? Math.max(0, e.restartDueAt - at) : null,
    });
  }
  return { agents, restartLog: context.restartLog.map((t) => Math.max(0, at - t)), escalated: context.escalated, ...(context.paused ? { paused: true } : {}) };
}

/**
 * The agents to start from: the configured ones (their configured spec wins), then agents that
 * joined the last run through `addAgent` and are not configured.
 */
function restoredSpecs(configured: readonly AgentSpec[], restore: SupervisorRestore): AgentSpec[] {
  const ids = new Set(configured.map((a) => a.id));
  return [...configured, ...restore.agents.filter((a) => !ids.has(a.spec.id)).map((a) => a.spec)];
}

/** Lays a saved agent's history onto a fresh entry. An agent that had failed comes back up, unless it is temporary. */
function applyRestore(entry: AgentEntry, restore: SupervisorRestore, policy: SupervisionPolicy): void {
  const saved = restore.agents.find((a) => a.spec.id === entry.spec.id);
  if (saved === undefined) return;
  entry.restarts = saved.restarts;
  entry.backoffLevel = saved.backoffLevel;
  entry.lastRestartAt = saved.lastRestartAgoMs === null ? undefined : restore.at - saved.lastRestartAgoMs;
  entry.lastCrash = saved.lastCrash ?? undefined;
  entry.consecutiveFailures = saved.consecutiveFailures;
  entry.view.health = { ...saved.health };
  if (saved.status === "restarting" || (saved.status === "failed" && (entry.spec.restart ?? policy.restart) === "temporary")) {
    entry.status = saved.status;
    entry.view.available = false;
    entry.restartDueAt = saved.status === "restarting" ? restore.at + (saved.restartInMs ?? 0) : undefined;
  }
}
