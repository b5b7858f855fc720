/**
 * What `hive.explain(taskId)` answers from: the latest placement decision of each task and whose
 * fault each of its failed attempts was, both bounded.
 *
 * @module
 */
import type { Blame } from "../../actors/blame.ts";
import type { LifecycleEvent } from "../../actors/queen.ts";
import type { Decision } from "../../actors/supervisor.ts";
import type { Waiting } from "./queue-view.ts";

/** Whose fault one failed attempt was, as `explain()` lists it. */
export interface FaultAttribution {
  attempt: number;
  /** The agent it ran on. */
  agentId: string | undefined;
  /** The attempt's error code (TASK_FAILED, TASK_TIMEOUT, WORKER_CRASHED, …). */
  code: string;
  /** `task`: the task's own fault; `agent`: the agent's (counts towards its crash and breaker); `dependency`: an open dependency circuit. */
  blame: Blame["to"];
  /** The evidence, in words. */
  reason: string;
  /** Hive clock, ms. */
  at: number;
}

/**
 * `explain(taskId)` of a task placed at least once: its latest placement, whose fault each failed
 * attempt was, and — while it waits again (a retry's backoff, a crashed agent's requeue) — what for.
 */
export type PlacementExplanation = Decision & {
  faults: FaultAttribution[];
  /** Present while the task waits; absent once it runs or ended. */
  waiting?: Waiting;
};

/** `explain(taskId)` of a task never placed yet: what it waits for. It has no decision (no `winner`). */
export interface WaitingExplanation {
  taskId: string;
  /** The attempt it waits to make (1 for the first). */
  attempt: number;
  /** Whose fault each failed attempt was: empty for a task never placed. */
  faults: FaultAttribution[];
  waiting: Waiting;
  winner?: undefined;
  runnerUp?: undefined;
  strategy?: undefined;
}

/**
 * What `explain(taskId)` returns: {@link PlacementExplanation} once the task was placed, else
 * {@link WaitingExplanation}. `explanation.winner !== undefined` tells them apart.
 */
export type Explanation = PlacementExplanation | WaitingExplanation;

/** Tasks kept for `explain()`; the oldest go first. */
const EXPLAINED_LIMIT = 10_000;

type FailureEvent = Extract<LifecycleEvent, { type: "task.retrying" | "task.failed" | "task.deadLettered" }>;

/**
 * Decisions and attributions in two generations each, instead of evicting the oldest one by one:
 * deleting from the front of a Map leaves holes that every later `keys().next()` walks over.
 */
export class Explanations {
  #decisions = new Map<string, Decision>();
  #olderDecisions = new Map<string, Decision>();
  #faults = new Map<string, FaultAttribution[]>();
  #olderFaults = new Map<string, FaultAttribution[]>();

  /** Keeps the Supervisor's latest decisions. */
  decided(decisions: readonly Decision[]): void {
    for (const d of decisions) {
      if (this.#decisions.size >= EXPLAINED_LIMIT) {
        this.#olderDecisions = this.#decisions;
        this.#decisions = new Map();
      }
      this.#decisions.set(d.taskId, d);
    }
  }

  /** A lifecycle observer: keeps the blame of every failed attempt that carries one. */
  readonly observe = (event: LifecycleEvent): void => {
    if ((event.type === "task.retrying" || event.type === "task.failed" || event.type === "task.deadLettered") && event.blame !== undefined) this.#attribute(event);
  };

  #attribute(event: FailureEvent): void {
    const blame = event.blame!;
    const attempt = event.type === "task.retrying" ? event.attempt - 1 : event.attempts;
    const entry: FaultAttribution = { attempt, agentId: event.agentId, code: (event.error as { code?: string }).code ?? "TASK_FAILED", blame: blame.to, reason: blame.reason, at: event.at };
    let list = this.#faults.get(event.taskId);
    if (list === undefined) {
      if (this.#faults.size >= EXPLAINED_LIMIT) {
        this.#olderFaults = this.#faults;
        this.#faults = new Map();
      }
      list = this.#olderFaults.get(event.taskId) ?? [];
      this.#faults.set(event.taskId, list);
    }
    list.push(entry);
  }

  /**
   * The explanation of `taskId` with what it waits for (`waiting`, from the Queen; `attempt` is the
   * one it waits to make), or undefined when it neither waits nor has a kept decision.
   */
  explain(taskId: string, waiting: { attempt: number; waiting: Waiting } | undefined): Explanation | undefined {
    const decision = this.#decisions.get(taskId) ?? this.#olderDecisions.get(taskId);
    const faults = [...(this.#faults.get(taskId) ?? this.#olderFaults.get(taskId) ?? [])];
    if (decision === undefined) return waiting === undefined ? undefined : { taskId, attempt: waiting.attempt, faults, waiting: waiting.waiting };
    return waiting === undefined ? { ...decision, faults } : { ...decision, faults, waiting: waiting.waiting };
  }
}
