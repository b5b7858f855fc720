/**
 * Rate limits shared by every thread: each limited dependency has a sliding log of its last
 * `max` call times in shared memory ({@link RATE_LAYOUT}), taken under a spin lock held for a
 * few reads and writes. A call may go when the oldest of those is `perMs` old or more, so no
 * window of `perMs` holds more than `max` calls, counted over the main thread and every worker.
 * Times are `Date.now()`: the one clock every thread reads alike (`performance.timeOrigin` is
 * estimated per thread, and measured here tens of ms apart between threads).
 *
 * A limit counted beyond the process (a worker node's, counted in Redis over every node and the
 * coordinator) has no ring here: its slot says so ({@link COUNTED_ELSEWHERE}), and a thread asks
 * its main thread for each call ({@link RateRequests}), which asks the shared log.
 *
 * Imports nothing from `actors/` or `src/`.
 *
 * @module
 */
import { openProgressPort, RATE_LAYOUT, type RateReply, type RateRequest } from "./protocol.ts";

/** `ringAt` of a limit counted beyond this process: no ring in this buffer. */
export const COUNTED_ELSEWHERE = -1;

/** A dependency's limit as the windows hold it. */
export interface RateLimitOf {
  max: number;
  perMs: number;
  wait: boolean;
  /** Counted beyond this process: calls are asked for, not taken here. */
  elsewhere: boolean;
}

/** Asks whoever counts a limit beyond this process for one call: 0 when it may go, else ms until one may. */
export type TakeElsewhere = (slot: number, name: string) => Promise<number>;

/**
 * A limit counted beyond the process keeps each call this much longer than its window (25 ms, a
 * tenth of the window at most), and a call granted goes only if the answer came back within it:
 * one that took longer is not made (its slot is spent) and asked for again. So a call goes within
 * the margin of the moment it was counted, and no window of `perMs` holds more than `max` calls
 * as the API sees them, however slow a thread hop or a round trip.
 */
export function grantMarginMs(perMs: number): number {
  return Math.max(1, Math.min(25, Math.floor(perMs / 10)));
}

/** Grants that came back too late in a row before one is taken anyway (a machine too loaded to do better). */
const STALE_GRANTS = 3;

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

  /**
   * Sets `slot`'s limit (main thread, before the slot's name is published); `ringAt`
   * {@link COUNTED_ELSEWHERE} when another process counts it.
   */
  configure(slot: number, max: number, perMs: number, ringAt: number, wait: boolean): void {
    const at = slot * RATE_LAYOUT.WORDS_PER_SLOT;
    Atomics.store(this.#words, at + 5, wait ? 1 : 0);
    if (ringAt >= 0) this.#pool.fill(0, ringAt, ringAt + max);
    Atomics.store(this.#words, at + 1, 0);
    Atomics.store(this.#words, at + 3, perMs);
    Atomics.store(this.#words, at + 4, ringAt);
    Atomics.store(this.#words, at + 2, max);
  }

  /** Takes `slot`'s limit away. */
  clear(slot: number): void {
    Atomics.store(this.#words, slot * RATE_LAYOUT.WORDS_PER_SLOT + 2, 0);
  }

  /** `slot`'s limit, or undefined when it has none. */
  limitOf(slot: number): RateLimitOf | undefined {
    const at = slot * RATE_LAYOUT.WORDS_PER_SLOT;
    const max = Atomics.load(this.#words, at + 2);
    if (max === 0) return undefined;
    return { max, perMs: Atomics.load(this.#words, at + 3), wait: Atomics.load(this.#words, at + 5) === 1, elsewhere: Atomics.load(this.#words, at + 4) === COUNTED_ELSEWHERE };
  }

  /**
   * Takes a call slot of `slot` at `now`: 0 when taken (or the slot has no limit), else how long
   * until one frees, ms — or {@link COUNTED_ELSEWHERE} for a limit another process counts (see
   * {@link acquireRate}).
   */
  take(slot: number, now = epochNow()): number {
    const at = slot * RATE_LAYOUT.WORDS_PER_SLOT;
    const max = Atomics.load(this.#words, at + 2);
    if (max === 0) return 0;
    if (Atomics.load(this.#words, at + 4) === COUNTED_ELSEWHERE) return COUNTED_ELSEWHERE;
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
 * limit is taken at once. A limit counted elsewhere is asked of `elsewhere` (always a promise).
 */
export function acquireRate(
  windows: RateWindows,
  slot: number,
  name: string,
  wait = windows.limitOf(slot)?.wait ?? true,
  makeError: (waitMs: number) => Error = (ms) => rateLimited(name, windows.limitOf(slot)!, ms),
  elsewhere: TakeElsewhere | null = null,
): Promise<void> | undefined {
  const first = windows.take(slot);
  if (first === 0) return undefined;
  if (first === COUNTED_ELSEWHERE) {
    if (elsewhere === null) return Promise.reject(new Error(`Dependency ${JSON.stringify(name)}: its rate limit is counted beyond this process, and this thread has no way to ask`));
    return waitForCall(() => elsewhere(slot, name), wait, makeError, grantMarginMs(windows.limitOf(slot)!.perMs));
  }
  if (!wait) throw makeError(first);
  return (async () => {
    for (let waitMs = first; waitMs > 0; waitMs = windows.take(slot)) await sleep(waitMs);
  })();
}

/**
 * Asks `take` for a call until it grants one (0), sleeping as long as it says between asks; when
 * the limit does not wait, rejects with `makeError` at the first refusal. A grant that took
 * longer than `freshMs` to come back is let go and asked for again (see {@link grantMarginMs}).
 */
export async function waitForCall(take: () => Promise<number>, wait: boolean, makeError: (waitMs: number) => Error, freshMs = Number.POSITIVE_INFINITY): Promise<void> {
  for (let stale = 0;;) {
    const asked = performance.now();
    const waitMs = await take();
    if (waitMs <= 0) {
      if (performance.now() - asked <= freshMs || ++stale >= STALE_GRANTS) return;
      continue;
    }
    if (!wait) throw makeError(waitMs);
    await sleep(waitMs);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(ms))));
}

/**
 * A thread's side of the rate channel: posts a {@link RateRequest} per call and resolves with the
 * main thread's {@link RateReply}. Every thread of the process listens on the channel; each
 * takes only the replies to its own ids.
 */
export class RateRequests {
  readonly #channel: string;
  readonly #prefix = `${globalThis.crypto.randomUUID().slice(0, 8)}:`;
  #next = 0;
  #port: ReturnType<typeof openProgressPort> | undefined;
  readonly #pending = new Map<string, { resolve: (waitMs: number) => void; reject: (error: Error) => void }>();

  constructor(channel: string) {
    this.#channel = channel;
  }

  /** One call of `slot`'s limit: 0 when granted, else ms until one may be. */
  readonly take: TakeElsewhere = (slot, name) => {
    const port = this.#port ??= this.#open();
    const id = `${this.#prefix}${this.#next++}`;
    return new Promise<number>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      port.postMessage({ id, slot, name } satisfies RateRequest);
    });
  };

  #open(): ReturnType<typeof openProgressPort> {
    const port = openProgressPort(this.#channel);
    port.onmessage = (event) => {
      const reply = event.data as RateReply | null;
      if (reply === null || typeof reply !== "object" || typeof reply.id !== "string") return;
      const pending = this.#pending.get(reply.id);
      if (pending === undefined || (reply.waitMs === undefined && reply.error === undefined)) return; // another thread's, or a request
      this.#pending.delete(reply.id);
      if (reply.error !== undefined) pending.reject(new Error(reply.error));
      else pending.resolve(reply.waitMs ?? 0);
    };
    return port;
  }
}
