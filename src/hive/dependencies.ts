/**
 * Named dependency breakers: `hive.dependency("llm", fn, options)` returns `fn` guarded by a
 * {@link CircuitBreaker} that fails fast with `CIRCUIT_OPEN` (or calls `fallback`) while open.
 *
 * Across threads (design): the main thread is the breaker's single owner. Each dependency gets
 * a slot in a SharedArrayBuffer ({@link DEP_LAYOUT}); every transition writes the slot's state
 * and resets its probe tokens, and a registration rewrites the slot names under a seqlock. A
 * handler's `ctx.dependency(name).call(fn)` reads the state lock-free: open fails fast in the
 * thread with no message; half-open takes a probe token by compare-and-swap, so at most
 * `halfOpenMaxProbes` probes run across all threads and the main thread together; closed calls
 * `fn`. Each call's outcome rides back on the attempt's outcome (no extra message, the same on
 * piscina, comlink and inline) and is recorded here. The price: a thread's failures count when
 * its attempt ends, not as they happen, so a long attempt that hammers a failing dependency
 * trips the breaker only once it returns — the threads' next calls then fail fast. A thread that
 * dies holding a probe token never reports; while half-open, tokens not given back within
 * `resetTimeoutMs` are handed out again.
 *
 * Rate limits hold over the main thread and every thread through a sliding log in the same
 * buffer; on a hive whose handlers run on worker nodes (the `remote` backend) they are counted in
 * Redis instead, by the store the backend hands over ({@link DependencyChannel.shareRates}):
 * main-thread calls made before it arrives wait for it.
 *
 * @module
 */
import { z } from "zod";
import { DEP_LAYOUT, DEP_STATE, type DependencyReport, RATE_LAYOUT } from "../../workers/protocol.ts";
import { acquireRate, grantMarginMs, RateWindows, waitForCall } from "../../workers/rate-window.ts";
import { type BreakerSummary, type BreakerTransitionEvent, summary } from "./agent-breakers.ts";
import type { DependencyChannel, RateStore } from "../backends/types.ts";
import { CircuitBreaker, type CircuitBreakerOptions } from "../breaker/breaker.ts";
import type { HiveClock } from "../core/clock.ts";
import { InvalidOptionsError, RateLimitedError } from "../core/errors.ts";
import { parseFor } from "../core/validation.ts";

/** A dependency's rate limit: at most `max` calls in any window of `perMs`, over every thread. */
export interface RateLimitOptions {
  /** Calls allowed per window (at most 16,384 over all of a hive's dependencies). */
  max: number;
  /** The window, ms. */
  perMs: number;
  /** When no call may go: wait for one (default), or fail fast with RATE_LIMITED. @default true */
  wait?: boolean;
}

/** Options of `hive.dependency`: a {@link CircuitBreaker}'s, on the hive clock, and a rate limit. */
export type DependencyOptions = Omit<CircuitBreakerOptions, "name" | "clock" | "inspect"> & {
  /**
   * Calls allowed per window, from the main thread and `ctx.dependency(name)` in every thread
   * together (real time: the APIs it protects count real time). @default none
   */
  rateLimit?: RateLimitOptions;
};

const rateLimitSchema = z.strictObject({
  max: z.number({ error: `must be an integer from 1 to ${RATE_LAYOUT.POOL}` }).int({ error: `must be an integer from 1 to ${RATE_LAYOUT.POOL}` }).min(1, {
    error: `must be an integer from 1 to ${RATE_LAYOUT.POOL}`,
  }).max(RATE_LAYOUT.POOL, {
    error: `must be an integer from 1 to ${RATE_LAYOUT.POOL}`,
  }),
  perMs: z.number({ error: "must be an integer from 1 to 2147483647" }).int({ error: "must be an integer from 1 to 2147483647" }).min(1, { error: "must be an integer from 1 to 2147483647" }).max(
    2_147_483_647,
    {
      error: "must be an integer from 1 to 2147483647",
    },
  ),
  wait: z.boolean({ error: "must be a boolean" }).optional(),
}, { error: "must be an object { max, perMs, wait }" });

const nameSchema = z
  .string({ error: "must be a non-empty string" })
  .min(1, { error: "must be a non-empty string" })
  .max(200, { error: "must be at most 200 characters" });

interface Entry {
  breaker: CircuitBreaker;
  slot: number;
  // Calls that failed fast inside worker threads (the breaker counts only main-thread ones).
  rejectedInThreads: number;
  // Cancels the half-open probe-token re-arm timer, if one is set.
  stopRearm: () => void;
}

/** The hive's named dependencies and the shared state mirror threads read. */
export class DependencyRegistry implements Disposable {
  readonly #clock: HiveClock;
  readonly #onTransition: (event: BreakerTransitionEvent) => void;
  readonly #buffer = new SharedArrayBuffer(RATE_LAYOUT.bytes);
  readonly #rates = new RateWindows(this.#buffer);
  /** Entries of the rate pool handed out so far. */
  #poolUsed = 0;
  readonly #words = new Int32Array(this.#buffer, 0, DEP_LAYOUT.namesAt / 4);
  readonly #names = new Uint8Array(this.#buffer, DEP_LAYOUT.namesAt, DEP_LAYOUT.NAME_BYTES);
  readonly #byName = new Map<string, Entry>();
  // Entries by slot (slot = registration order).
  readonly #bySlot: Entry[] = [];

  /** What backends hand to their threads. */
  readonly channel: DependencyChannel;
  /** Where rate-limited calls are counted when not in this buffer (worker nodes: Redis); undefined: here. */
  #store: Promise<RateStore> | undefined;
  #settleStore: { resolve: (store: RateStore) => void; reject: (error: Error) => void } | undefined;
  /** Set once the store is gone for good (the hive stopped): every later call fails with it. */
  #storeLost: Error | undefined;

  constructor(clock: HiveClock, onTransition: (event: BreakerTransitionEvent) => void) {
    this.#clock = clock;
    this.#onTransition = onTransition;
    this.channel = {
      states: this.#buffer,
      onReports: (reports) => this.#record(reports),
      shareRates: (store) => {
        if (this.#settleStore === undefined) this.#store = Promise.resolve(store);
        this.#settleStore?.resolve(store);
        this.#settleStore = undefined;
      },
    };
  }

  /**
   * Counts rate-limited calls in the store the backend will hand over (`channel.shareRates`):
   * main-thread calls wait for it. For a backend whose handlers run beyond this machine.
   */
  expectSharedRates(): void {
    this.#store = new Promise<RateStore>((resolve, reject) => {
      this.#settleStore = { resolve, reject };
    });
    this.#store.catch(() => {}); // rejected only for callers that wait on it
  }

  /** The store is gone, or will not come (the hive stopped, or did not start): calls waiting for it, and later ones, fail with `error`. */
  sharedRatesLost(error: Error): void {
    if (this.#store === undefined || this.#storeLost !== undefined) return;
    this.#storeLost = error;
    this.#settleStore?.reject(error);
    this.#settleStore = undefined;
  }

  /**
   * Registers `name` and returns `fn` guarded by its breaker.
   * @throws InvalidOptionsError when the name is invalid or taken, an option is invalid, or the slots are full
   */
  register<A extends unknown[], R>(name: string, fn: (...args: A) => R | PromiseLike<R>, options: DependencyOptions = {}): (...args: A) => Promise<Awaited<R>> {
    parseFor(nameSchema, name, "create dependency", (m) => new InvalidOptionsError(m), ["name"]);
    if (typeof fn !== "function") throw new InvalidOptionsError(`Cannot create dependency ${JSON.stringify(name)}: "fn" must be a function, received ${typeof fn}`);
    if (this.#byName.has(name)) throw new InvalidOptionsError(`Cannot create dependency: "name" must be unique in the hive, received ${JSON.stringify(name)}`);
    if (this.#bySlot.length >= DEP_LAYOUT.SLOTS) throw new InvalidOptionsError(`Cannot create dependency ${JSON.stringify(name)}: a hive holds at most ${DEP_LAYOUT.SLOTS} dependencies`);
    if (options === null || typeof options !== "object") throw new InvalidOptionsError(`Cannot create dependency ${JSON.stringify(name)}: "options" must be an object, received ${String(options)}`);
    for (const banned of ["name", "clock", "inspect"]) {
      if (banned in options) throw new InvalidOptionsError(`Cannot create dependency ${JSON.stringify(name)}: "${banned}" is set by the hive`);
    }
    const { rateLimit: rateInput, ...breakerOptions } = options;
    const rate = rateInput === undefined ? undefined : parseFor(rateLimitSchema, rateInput, `create dependency ${JSON.stringify(name)}`, (m) => new InvalidOptionsError(m), ["rateLimit"]);
    if (rate !== undefined && this.#poolUsed + rate.max > RATE_LAYOUT.POOL) {
      throw new InvalidOptionsError(
        `Cannot create dependency ${JSON.stringify(name)}: "rateLimit.max" must fit the ${
          RATE_LAYOUT.POOL - this.#poolUsed
        } calls left of the ${RATE_LAYOUT.POOL} a hive's rate limits share, received ${rate.max}`,
      );
    }
    const breaker = new CircuitBreaker({ ...breakerOptions, name, clock: this.#clock });
    const slot = this.#bySlot.length;
    const names = JSON.stringify([...this.#byName.keys(), name]);
    const bytes = new TextEncoder().encode(names);
    if (bytes.length > DEP_LAYOUT.NAME_BYTES) {
      breaker[Symbol.dispose]();
      throw new InvalidOptionsError(`Cannot create dependency ${JSON.stringify(name)}: the names of all dependencies must fit in ${DEP_LAYOUT.NAME_BYTES} bytes`);
    }
    const entry: Entry = { breaker, slot, rejectedInThreads: 0, stopRearm: () => {} };
    this.#byName.set(name, entry);
    this.#bySlot.push(entry);
    const at = DEP_LAYOUT.SLOTS_AT + slot * DEP_LAYOUT.WORDS_PER_SLOT;
    if (rate !== undefined) {
      // Before the name is published: a thread that finds the slot finds its limit too.
      this.#rates.configure(slot, rate.max, rate.perMs, this.#poolUsed, rate.wait ?? true);
      this.#poolUsed += rate.max;
    }
    Atomics.store(this.#words, at, DEP_STATE.closed);
    Atomics.store(this.#words, at + 1, 0);
    Atomics.store(this.#words, at + 2, options.halfOpenMaxProbes ?? 1);
    // Seqlock: odd while the names change, so a reading thread retries instead of reading half.
    Atomics.add(this.#words, 0, 1);
    this.#names.set(bytes);
    Atomics.store(this.#words, 1, bytes.length);
    Atomics.add(this.#words, 0, 1);
    const resetTimeoutMs = options.resetTimeoutMs ?? 30_000;
    let rearm: unknown;
    // A thread that dies mid-probe never reports, and its token would block every later probe:
    // while half-open, tokens not given back within resetTimeoutMs are handed out again.
    const scheduleRearm = (): void => {
      rearm = this.#clock.setTimeout(() => {
        rearm = undefined;
        if (breaker.state !== "halfOpen") return;
        Atomics.store(this.#words, at + 1, 0);
        scheduleRearm();
      }, resetTimeoutMs);
    };
    entry.stopRearm = () => {
      if (rearm !== undefined) this.#clock.clearTimeout(rearm);
      rearm = undefined;
    };
    breaker.onTransition((t) => {
      Atomics.store(this.#words, at + 1, 0);
      Atomics.store(this.#words, at, DEP_STATE[t.to]);
      entry.stopRearm();
      if (t.to === "halfOpen") scheduleRearm();
      this.#onTransition({ type: "breaker.transition", scope: "dependency", name, from: t.from, to: t.to, reason: t.reason, at: this.#clock.now() });
    });
    if (rate === undefined) return (...args: A) => breaker.execute(() => fn(...args)) as Promise<Awaited<R>>;
    const limit = { max: rate.max, perMs: rate.perMs };
    const makeError = (waitMs: number): Error =>
      new RateLimitedError(`Dependency ${JSON.stringify(name)} is rate limited (${limit.max} calls per ${limit.perMs} ms): the next call may go in ${Math.ceil(waitMs)} ms`);
    if (this.#store !== undefined) {
      const shared = this.#store;
      return async (...args: A): Promise<Awaited<R>> => {
        if (breaker.state !== "open") {
          const store = await shared;
          if (this.#storeLost !== undefined) throw this.#storeLost;
          await waitForCall(() => store.take(name, limit), rate.wait ?? true, makeError, grantMarginMs(limit.perMs));
        }
        return breaker.execute(() => fn(...args)) as Promise<Awaited<R>>;
      };
    }
    return (...args: A): Promise<Awaited<R>> => {
      // An open circuit fails fast without spending a call of the window.
      let waiting: Promise<void> | undefined;
      try {
        if (breaker.state !== "open") waiting = acquireRate(this.#rates, slot, name, rate.wait ?? true, makeError);
      } catch (error) {
        return Promise.reject(error);
      }
      if (waiting === undefined) return breaker.execute(() => fn(...args)) as Promise<Awaited<R>>;
      return waiting.then(() => breaker.execute(() => fn(...args)) as Promise<Awaited<R>>);
    };
  }

  /** The breaker of a dependency, if registered. */
  get(name: string): CircuitBreaker | undefined {
    return this.#byName.get(name)?.breaker;
  }

  /** Records what threads report; outcomes from before a transition that no longer apply are dropped. */
  #record(reports: readonly DependencyReport[]): void {
    for (const [slot, result] of reports) {
      const entry = this.#bySlot[slot];
      if (entry === undefined) continue;
      const breaker = entry.breaker;
      switch (result) {
        case "rejected":
          entry.rejectedInThreads++;
          break;
        case "ok":
        case "fail":
          if (breaker.state === "closed") breaker.record(result === "ok");
          break;
        case "probe-ok":
        case "probe-fail":
          if (breaker.state === "halfOpen") breaker.record(result === "probe-ok");
          break;
      }
    }
  }

  /** Figures of every dependency's breaker. */
  stats(): BreakerSummary[] {
    const out: BreakerSummary[] = [];
    for (const [name, entry] of this.#byName) {
      const s = summary("dependency", name, entry.breaker.stats());
      s.rejected += entry.rejectedInThreads;
      out.push(s);
    }
    return out;
  }

  /** Stops every breaker. */
  [Symbol.dispose](): void {
    for (const entry of this.#bySlot) {
      entry.stopRearm();
      entry.breaker[Symbol.dispose]();
    }
  }
}
