/**
 * The message shapes that cross between the main thread and a worker thread, defined once.
 * Imported by both sides; imports nothing.
 *
 * @module
 */

/** One task attempt as the worker thread receives it. */
export interface TaskMessage {
  /** The task id (stable across attempts). */
  id: string;
  /** Attempt sequence number, unique per hive; indexes the shared abort flags. */
  seq: number;
  /** Handler name in the task module. */
  kind: string;
  /** The handler's input (structured-cloneable). */
  input: unknown;
  /** 1 for the first attempt. */
  attempt: number;
}

/** What a worker thread does with one message: run a batch of attempts, or describe itself. */
export type WorkerRequest = { op: "run"; tasks: TaskMessage[] } | { op: "describe" };

/** An error as it crosses back from a worker thread. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/**
 * The outcome of one attempt, as the worker thread reports it. `async` is set when the handler
 * returned a promise: the main thread then stops batching that kind, so a slow async handler
 * never holds back the attempts it would share a message with.
 */
export type TaskOutcome =
  | { ok: true; value: unknown; async?: true }
  | { ok: false; error: SerializedError; kind?: "handler" | "result" | "unknown-kind"; async?: true };

/** The reply to `describe`: the task kinds the loaded module offers. */
export interface Description {
  kinds: string[];
}

/** Data every worker thread starts with. */
export interface WorkerInit {
  /** URL (as a string) of the user's task module, or null for the built-ins only. */
  tasksUrl: string | null;
  /** Shared abort flags: slot `seq % length` holds `seq` once attempt `seq` is aborted. */
  abortFlags: SharedArrayBuffer;
}

/** Number of slots in the shared abort-flag array. */
export const ABORT_SLOTS = 4096;
