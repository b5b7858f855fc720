/**
 * The hive clock: XState's actor clock plus `now()`. Pass an XState `SimulatedClock` to run a
 * hive in virtual time.
 *
 * @module
 */

import type { TimerClock } from "./timers.ts";

/** A clock: XState's `Clock` (setTimeout/clearTimeout) plus `now()` in ms. */
export interface HiveClock extends TimerClock {
  /** Current time, ms. */
  now(): number;
}

/** The real clock: `performance.now()` and the runtime's timers. */
export const realClock: HiveClock = {
  now: () => performance.now(),
  setTimeout: (fn, timeoutMs) => setTimeout(fn, timeoutMs),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};
