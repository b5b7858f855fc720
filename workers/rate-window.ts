/**
 * Rate limits shared by every thread: each limited dependency has a sliding log of its last
 * `max` call times in shared memory ({@link RATE_LAYOUT}), taken under a spin lock held for a
 * few reads and writes. A call may go when the oldest of those is `perMs` old or more, so no
 * window of `perMs` holds more than `max` calls, counted over the main thread and every worker.
 * Times are `Date.now()`: the one clock every thread reads alike (`performance.timeOrigin` is
 * estimated per thread, and measured here tens of ms apart between threads).
 *
 * Imports nothing from `actors/` or `src/`.
 *
 * @module
 */
import { RATE_LAYOUT } from "./protocol.ts";

/** Epoch ms, comparable across threads. */
export function epochNow(): number {
  return Date.now();
}

/** The rate windows in a dependency buffer. */
export class RateWindows {
  readonly #words: Int32Array;
  readonly #pool: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#words = new Int32Array(buffer, RATE_LAYOUT.wordsAt, 256 * RATE_LAYOUT.WORDS_PER_SLOT);
    this.#pool = new Float64Array(buffer, RATE_LAYOUT.poolAt, RATE_LAYOUT.POOL);
  }

  /** Sets `slot`'s limit (main thread, before the slot's name is published). */
  configure(slot: number, max: number, perMs: number, ringAt: number, wait: boolean): void {
    const at = slot * RATE_LAYOUT.WORDS_PER_SLOT;
    Atomics.store(this.#words, at + 5, wait ? 1 : 0);
    this.#pool.fill(0, ringAt, ringAt + max);
    Atomics.store(this.#words, at + 1, 0);
    Atomics.store(this.#words, at + 3, perMs);
    Atomics.store(this.#words, at + 4, ringAt);
    Atomics.store(this.#words, at + 2, max);
  }

  /** `slot`'s limit, or undefined when it has none. */
  limitOf(slot: number): { max: number; perMs: number; wait: boolean } | undefined {
    const at = slot * RATE_LAYOUT.WORDS_PER_SLOT;
    const max = Atomics.load(this.#words, at + 2);
    return max === 0 ? undefined : { max, perMs: Atomics.load(this.#words, at + 3), wait: Atomics.load(this.#words, at + 5) === 1 };
  }

  /** Takes a call slot of `slot` at `now`: 0 when taken, else how long until one frees, ms. */
  take(slot: number, now = epochNow()): number {
    const at = slot * RATE_LAYOUT.WORDS_PER_SLOT;
    const max = Atomics.load(this.#words, at + 2);
    if (max === 0) return 0;
    while (Atomics.compareExchange(this.#words, at, 0, 1) !== 0); // spin: held for a few reads and writes
    try {
      const perMs = this.#words[at + 3]!;
      const ringAt = this.#words[at + 4]!;
      const head = this.#words[at + 1]!;
      const oldest = this.#pool[ringAt + head]!;
      if (oldest !== 0 && now - oldest < perMs) return oldest + perMs - now;
      this.#pool[ringAt + head] = now;
      this.#words[at + 1] = (head + 1) % max;
      return 0;
    } finally {
      Atomics.store(this.#words, at, 0);
    }
  }
}

/** An error a thread can throw or return: `code` RATE_LIMITED. */
export function rateLimited(name: string, limit: { max: number; perMs: number }, waitMs: number): Error {
  const error = new Error(`Dependency "${name}" is rate limited (${limit.max} calls per ${limit.perMs} ms): the next call may go in ${Math.ceil(waitMs)} ms`);
  error.name = "RateLimitedError";
  (error as Error & { code: string }).code = "RATE_LIMITED";
  return error;
}

/**
 * Takes a call slot of `slot`: undefined when taken at once (the caller calls now, in the same
 * turn, so the window counts the call's real time), else a promise that resolves once one is
 * taken — or, when the limit does not wait, throws RATE_LIMITED at once. A dependency with no
 * limit is taken at once.
 */
export function acquireRate(
  windows: RateWindows,
  slot: number,
  name: string,
  wait = windows.limitOf(slot)?.wait ?? true,
  makeError: (waitMs: number) => Error = (ms) => rateLimited(name, windows.limitOf(slot)!, ms),
): Promise<void> | undefined {
  const first = windows.take(slot);
  if (first === 0) return undefined;
  if (!wait) throw makeError(first);
  return (async () => {
    for (let waitMs = first; waitMs !== 0; waitMs = windows.take(slot)) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(waitMs))));
    }
  })();
}
