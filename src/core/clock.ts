/**
 * The one clock interface: XState's actor clock (`setTimeout` / `clearTimeout`, which
 * `SimulatedClock` has) plus `now()`. Everything that waits or reads the time takes it, so one
 * clock drives the actors, breakers, caches, the bus's retries and its waits; pass an XState
 * `SimulatedClock` to run a hive in virtual time. Parts that need less take a `Pick` of it.
 *
 * @module
 */

/** A clock: XState's `Clock` (setTimeout/clearTimeout) plus `now()` in ms. */
export interface HiveClock {
  /** Current time, ms. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; returns an id for {@link HiveClock.clearTimeout}. */
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  /** Cancels a callback scheduled by {@link HiveClock.setTimeout}; unknown ids are ignored. */
  clearTimeout(id: unknown): void;
  /**
   * Wall time at this clock's 0, epoch ms, for what reads wall time (cron schedules). A virtual
   * clock sets it so that a run is the same whatever day it is made on.
   * @default the real wall time minus `now()` when the hive is made
   */
  readonly epochMs?: number | undefined;
}

/** The timer half of {@link HiveClock}: schedules and cancels callbacks. */
export type TimerClock = Pick<HiveClock, "setTimeout" | "clearTimeout">;

/** The reading half of {@link HiveClock}. */
export type NowClock = Pick<HiveClock, "now">;

/** The real clock: `performance.now()` and the runtime's timers. */
export const realClock: HiveClock = {
  now: () => performance.now(),
  setTimeout: (fn, timeoutMs) => setTimeout(fn, timeoutMs),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** The global timers (`setTimeout` / `clearTimeout`). */
export const realTimers: TimerClock = realClock;
