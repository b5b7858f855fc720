/**
 * Turns a thread's {@link TaskOutcome} into the typed result the runtime uses.
 *
 * @module
 */
import { InvalidTaskError, TaskFailedError } from "../core/errors.ts";
import type { SerializedError, TaskOutcome } from "../../workers/protocol.ts";
import type { Attempt, AttemptResult } from "./types.ts";

/** Rebuilds a thrown error from its serialised form, keeping name, message, stack and code. */
export function reviveError(serialized: SerializedError): Error {
  const error = new Error(serialized.message);
  error.name = serialized.name;
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  if (serialized.code !== undefined) (error as Error & { code?: string }).code = serialized.code;
  return error;
}

/** Maps a thread outcome to an {@link AttemptResult}. */
export function toResult(attempt: Attempt, outcome: TaskOutcome): AttemptResult {
  if (outcome.ok) return { ok: true, value: outcome.value };
  const cause = reviveError(outcome.error);
  if (outcome.kind === "unknown-kind") {
    return {
      ok: false,
      error: new InvalidTaskError(`Cannot run task ${attempt.id}: "kind" names no handler in the tasks module, received ${JSON.stringify(attempt.kind)}`, { cause, taskId: attempt.id }),
    };
  }
  return {
    ok: false,
    error: new TaskFailedError(`Task ${attempt.id} (${attempt.kind}) failed: ${cause.name}: ${cause.message}`, { cause, taskId: attempt.id }),
  };
}
