/**
 * Reconciling a run's task counts: every accepted task must have ended in exactly one terminal
 * state, so `accepted = completed + failed + cancelled + deadLettered + shed`.
 *
 * @module
 */
import type { TaskTotals } from "./report.ts";

/** Accepted tasks with no terminal state (0 when nothing was lost; negative if counted twice). */
export function unaccounted(t: TaskTotals): number {
  return t.accepted - (t.completed + t.failed + t.cancelled + t.deadLettered + t.shed);
}

/** `completed / accepted`, or 1 when nothing was accepted (nothing failed either). */
export function successRate(t: TaskTotals): number {
  return t.accepted > 0 ? t.completed / t.accepted : 1;
}
