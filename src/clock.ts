/**
 * The hive clock: XState's actor clock plus `now()`. Pass an XState `SimulatedClock` to run a
 * hive in virtual time.
 *
 * @module
 */

/** A clock: XState's `Clock` (setTimeout/clearTimeout) plus `now()` in ms. */
export interface HiveClock {
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, timeoutMs: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The real clock: `performance.now()` and the runtime's timers. */
export const realClock: HiveClock = {
  now: () => performance.now(),
  setTimeout: (fn, timeoutMs) => setTimeout(fn, timeoutMs),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};
