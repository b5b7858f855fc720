/**
 * Tasks that failed through their last attempt, oldest first and bounded: what
 * `hive.deadLetters()` lists and `retryDeadLetter` takes back.
 *
 * @module
 */
import type { LifecycleEvent } from "../../actors/queen.ts";
import { DEAD_LETTER_LIMIT } from "./durability.ts";

/** A task that failed through its last attempt. */
export interface DeadLetteredTask {
  taskId: string;
  kind: string;
  attempts: number;
  /** The last attempt's error. */
  error: Error;
  /** Agent of the last attempt. */
  agentId: string | undefined;
  /** Hive-clock time it was dead-lettered, ms. */
  at: number;
}

type DeadLetterEvent = Extract<LifecycleEvent, { type: "task.deadLettered" }>;

/** The dead-lettered tasks, by id. */
export class DeadLetters {
  readonly #letters = new Map<string, DeadLetterEvent>();

  /** Keeps one (recovered, or as it happens); the oldest goes past the limit. */
  add(event: DeadLetterEvent): void {
    this.#letters.set(event.taskId, event);
    if (this.#letters.size > DEAD_LETTER_LIMIT) this.#letters.delete(this.#letters.keys().next().value!);
  }

  /** The letter of `taskId`, if any. */
  get(taskId: string): DeadLetterEvent | undefined {
    return this.#letters.get(taskId);
  }

  /** Forgets the letter of `taskId` (it runs again). */
  delete(taskId: string): void {
    this.#letters.delete(taskId);
  }

  /** Every letter, oldest first. */
  list(): DeadLetteredTask[] {
    return [...this.#letters.values()].map((e) => ({ taskId: e.taskId, kind: e.kind, attempts: e.attempts, error: e.error, agentId: e.agentId, at: e.at }));
  }
}
