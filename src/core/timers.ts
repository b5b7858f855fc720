/**
 * The timer source the observability modules take: the two methods of XState's `SimulatedClock`
 * (and of the global timers), so one clock drives the actors, the bus's retries and its waits.
 *
 * @module
 */

/** Schedules and cancels callbacks. XState's `SimulatedClock` satisfies it. */
export interface TimerClock {
  /** Calls `fn` once after `ms` milliseconds; returns an id for {@link TimerClock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a callback scheduled by {@link TimerClock.setTimeout}; unknown ids are ignored. */
  clearTimeout(id: unknown): void;
}

/** The global timers (`setTimeout` / `clearTimeout`). */
export const realTimers: TimerClock = {
  setTimeout(fn, ms) {
    return setTimeout(fn, ms);
  },
  clearTimeout(id) {
    clearTimeout(id as ReturnType<typeof setTimeout>);
  },
};
