/**
 * `ResultCache`: the hive's result cache. Reads and writes are plain code on an LRU list of
 * its own, laid out as lru-cache lays out its own: a `Map` from key to slot, and per slot the
 * key, value, expiry and list links in parallel arrays (typed arrays for the numbers), so a hit
 * is one `Map.get` and a few writes to compact arrays. Bounded by entry count and by bytes of JSON, with TTL, stale-while-revalidate,
 * invalidation by key, prefix and tag, and single-flight computation. The Cache actor
 * ({@link cacheMachine}) runs the I/O lifecycle: warm-up from a {@link Store}, flushes, close.
 *
 * @module
 */
import { type Actor, type AnyActorRef, createActor, fromPromise, waitFor } from "xstate";
import { cacheMachine, type CachePersistResult, type CacheWarmResult } from "../../actors/cache.ts";
import { stableHash } from "./key.ts";
import { type CacheClock, type CacheEntryOptions, cacheEntrySchema, cacheOptionsSchema, type CacheStats, computeSchema, type GetOrComputeOptions, type ResultCacheOptions } from "./options.ts";
import { type CacheRecord, readCacheRecords, writeCacheRecords } from "./record.ts";
import { isStoreError } from "../core/errors.ts";
import type { Store } from "../store/types.ts";
import { toJson, utf8Length } from "../store/value.ts";
import { parseOptions } from "../core/validation.ts";

export { cacheKeyFor } from "./key.ts";
export type { CacheClock, CacheEntryOptions, CacheStats, GetOrComputeOptions, ResultCacheOptions } from "./options.ts";

/** No slot: the end of the recency list. */
const NONE = -1;

interface Flight<V> {
  promise: Promise<V>;
  tags: readonly string[] | undefined;
  /** Set when the key was invalidated mid-flight: the result goes to the callers, not the cache. */
  invalidated: boolean;
}

/**
 * The result cache.
 *
 * @example
 * ```ts
 * const cache = new ResultCache<number>({ maxEntries: 1_000, ttlMs: 60_000, store });
 * await cache.ready();
 * const key = cacheKeyFor("simulate", input);
 * const out = await cache.getOrCompute(key, () => hive.run({ kind: "simulate", input }), { tags: ["simulate"] });
 * cache.invalidateTag("simulate");
 * await cache.close();
 * ```
 */
export class ResultCache<V = unknown> implements AsyncDisposable {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  readonly #swrMs: number;
  // The injected clock, or undefined for the default coarse wall clock (see #now).
  readonly #clock: CacheClock | undefined;
  // Default clock only: Date.now() as last read, reused until a 1 ms timer clears it.
  #cachedNow: number | undefined;
  readonly #store: Store | undefined;
  readonly #prefix: string;
  readonly #actor: Actor<typeof cacheMachine>;
  // Slot of every entry, by key. A slot's arrays below describe the entry; freed slots go to #free.
  readonly #slots = new Map<string, number>();
  #keyOf: (string | undefined)[] = [];
  #valueOf: (V | undefined)[] = [];
  #tagsOf: (readonly string[] | undefined)[] = [];
  #bytesOf = new Float64Array(0);
  // Fresh until / servable stale until (clock ms; Infinity: never expires).
  #expiresAt = new Float64Array(0);
  #staleUntil = new Float64Array(0);
  // Recency list links between slots: #newer toward #newest, #older toward #oldest; NONE at the ends.
  #newer = new Int32Array(0);
  #older = new Int32Array(0);
  #newest = NONE;
  // False until an entry with a finite expiry is stored: until then a hit reads no expiry.
  #mayExpire = false;
  #oldest = NONE;
  readonly #free: number[] = [];
  // Slots handed out so far (used or free); the arrays' length is the capacity.
  #used = 0;
  // Sum of #bytesOf over live slots; never above #maxBytes after a write returns.
  #bytes = 0;
  // Per tag, the keys of the entries carrying it; no empty sets are kept.
  readonly #tags = new Map<string, Set<string>>();
  readonly #flights = new Map<string, Flight<V>>();
  // Keys written / removed since the last flush began (a key is in at most one of them).
  #dirty = new Set<string>();
  #removed = new Set<string>();
  // While the warm-up runs: the invalidations made so far, so that it loads nothing they cover.
  #warmLog: ((key: string, tags: readonly string[] | null) => boolean)[] | undefined;
  #hits = 0;
  #misses = 0;
  #stale = 0;
  #evictions = 0;
  #coalesced = 0;

  /** @throws {InvalidOptionsError} when an option is invalid. */
  constructor(options: ResultCacheOptions = {}) {
    const parsed = parseOptions(cacheOptionsSchema, options, "result cache");
    this.#maxEntries = parsed.maxEntries ?? 10_000;
    this.#maxBytes = parsed.maxBytes ?? 67_108_864;
    this.#ttlMs = parsed.ttlMs ?? Number.POSITIVE_INFINITY;
    this.#swrMs = parsed.staleWhileRevalidateMs ?? 0;
    this.#clock = parsed.clock;
    this.#store = parsed.store;
    this.#prefix = parsed.storePrefix ?? "cache.";
    if (this.#store !== undefined) this.#warmLog = [];
    const machine = cacheMachine.provide({
      actors: {
        warm: fromPromise<CacheWarmResult>(({ signal }) => this.#warm(signal)),
        persist: fromPromise<CachePersistResult>(() => this.#persist()),
      },
    });
    this.#actor = createActor(machine, options.inspect === undefined ? {} : { inspect: options.inspect });
    this.#actor.start();
  }

  /** The Cache actor, for inspection or to link into an actor tree. */
  get actor(): AnyActorRef {
    return this.#actor;
  }

  /** Entries held. */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * Resolves once the warm-up from the store is over (whether it loaded anything or not).
   * @param options `signal` stops the wait (not the warm-up).
   */
  async ready(options?: { signal?: AbortSignal }): Promise<void> {
    await waitFor(this.#actor, (s) => !s.matches("loading"), waitOptions(options?.signal));
  }

  /** The fresh value under `key`, or `undefined`. Marks the entry most recently used. */
  get(key: string): V | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) {
      this.#misses++;
      return undefined;
    }
    const expiresAt = this.#mayExpire ? this.#expiresAt[slot]! : Number.POSITIVE_INFINITY;
    if (expiresAt !== Number.POSITIVE_INFINITY) {
      const now = this.#now();
      if (now >= expiresAt) {
        this.#misses++;
        if (now >= this.#staleUntil[slot]!) this.#remove(slot);
        return undefined;
      }
    }
    this.#hits++;
    if (slot !== this.#newest) this.#promote(slot);
    return this.#valueOf[slot];
  }

  /** True when a fresh value is held under `key`. Does not change recency or stats. */
  has(key: string): boolean {
    const slot = this.#slots.get(key);
    return slot !== undefined && (this.#expiresAt[slot] === Number.POSITIVE_INFINITY || this.#now() < this.#expiresAt[slot]!);
  }

  /**
   * Stores `value` under `key`.
   *
   * @returns false when the value alone is over `maxBytes` (then nothing is stored and any
   *   previous value under `key` is dropped).
   * @throws {StoreError} `INVALID_VALUE` when `value` is not JSON data.
   * @throws {InvalidOptionsError} when an entry option is invalid.
   */
  set(key: string, value: V, options?: CacheEntryOptions): boolean {
    if (options !== undefined) parseOptions(cacheEntrySchema, options, `cache entry ${JSON.stringify(key)}`);
    const flight = this.#flights.get(key);
    if (flight !== undefined) flight.invalidated = true; // an explicit write beats a computation started before it
    return this.#put(key, value, options?.tags, options?.ttlMs);
  }

  /**
   * The value under `key`: fresh from the cache; or stale (within `staleWhileRevalidateMs`)
   * while `compute` refreshes it in the background; or from `compute`, run once however many
   * callers ask for the same key at the same time. Every caller gets the result or the error;
   * errors are not cached.
   */
  async getOrCompute(key: string, compute: () => V | PromiseLike<V>, options?: GetOrComputeOptions): Promise<V> {
    options?.signal?.throwIfAborted();
    const slot = this.#slots.get(key);
    if (slot !== undefined) {
      const expiresAt = this.#expiresAt[slot]!;
      const now = expiresAt === Number.POSITIVE_INFINITY ? 0 : this.#now();
      if (now < expiresAt) {
        this.#hits++;
        if (slot !== this.#newest) this.#promote(slot);
        return this.#valueOf[slot] as V;
      }
      if (now < this.#staleUntil[slot]!) {
        this.#stale++;
        if (slot !== this.#newest) this.#promote(slot);
        if (!this.#flights.has(key)) {
          this.#validateCompute(key, compute, options);
          this.#compute(key, compute, options).promise.catch(() => {
            // a failed background refresh leaves the stale value until it runs out
          });
        }
        return this.#valueOf[slot] as V;
      }
      this.#remove(slot);
    }
    this.#misses++;
    let flight = this.#flights.get(key);
    if (flight === undefined) {
      this.#validateCompute(key, compute, options);
      flight = this.#compute(key, compute, options);
    } else this.#coalesced++;
    const signal = options?.signal;
    if (signal === undefined) return flight.promise;
    return new Promise<V>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /** Removes `key`; a computation of it in flight will not be cached. @returns whether an entry was removed. */
  delete(key: string): boolean {
    const flight = this.#flights.get(key);
    if (flight !== undefined) flight.invalidated = true;
    this.#warmLog?.push((k) => k === key);
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#remove(slot);
    return true;
  }

  /** Removes every key starting with `prefix` (and stops in-flight ones from being cached). @returns how many entries. */
  invalidatePrefix(prefix: string): number {
    for (const [key, flight] of this.#flights) if (key.startsWith(prefix)) flight.invalidated = true;
    this.#warmLog?.push((k) => k.startsWith(prefix));
    let removed = 0;
    for (const [key, slot] of [...this.#slots]) {
      if (key.startsWith(prefix)) {
        this.#remove(slot);
        removed++;
      }
    }
    return removed;
  }

  /** Removes every entry tagged `tag` (and stops in-flight ones so tagged from being cached). @returns how many entries. */
  invalidateTag(tag: string): number {
    for (const flight of this.#flights.values()) if (flight.tags?.includes(tag) === true) flight.invalidated = true;
    this.#warmLog?.push((_, tags) => tags?.includes(tag) === true);
    const keys = this.#tags.get(tag);
    if (keys === undefined) return 0;
    let removed = 0;
    for (const key of [...keys]) {
      const slot = this.#slots.get(key);
      if (slot !== undefined) {
        this.#remove(slot);
        removed++;
      }
    }
    return removed;
  }

  /** Removes every entry (and stops in-flight computations from being cached). */
  clear(): void {
    for (const flight of this.#flights.values()) flight.invalidated = true;
    this.#warmLog?.push(() => true);
    for (const slot of [...this.#slots.values()]) this.#remove(slot);
  }

  /** Removes entries past their stale window. @returns how many. */
  prune(): number {
    const now = this.#now();
    let removed = 0;
    for (const slot of [...this.#slots.values()]) {
      if (now >= this.#staleUntil[slot]!) {
        this.#remove(slot);
        removed++;
      }
    }
    return removed;
  }

  /** Keys from most to least recently used. */
  *keys(): IterableIterator<string> {
    for (let slot = this.#newest; slot !== NONE; slot = this.#older[slot]!) yield this.#keyOf[slot]!;
  }

  /** The cache's figures. */
  stats(): CacheStats {
    return {
      state: this.#actor.getSnapshot().value,
      hits: this.#hits,
      misses: this.#misses,
      stale: this.#stale,
      evictions: this.#evictions,
      coalesced: this.#coalesced,
      size: this.#slots.size,
      bytes: this.#bytes,
      inflight: this.#flights.size,
    };
  }

  /**
   * Persists what changed since the last flush to the store (a no-op without one).
   * @param options `signal` stops the wait (the flush itself completes).
   * @throws the store's error when the flush fails (the changes stay pending for the next one).
   */
  async flush(options?: { signal?: AbortSignal }): Promise<void> {
    options?.signal?.throwIfAborted();
    const snapshot = this.#actor.getSnapshot();
    if (snapshot.status === "done") return;
    // A flush under way may have taken its list of changes before this call: wait for the next.
    const target = snapshot.context.flushes + (snapshot.matches("flushing") ? 2 : 1);
    this.#actor.send({ type: "cache.flush" });
    const done = await waitFor(this.#actor, (s) => s.context.flushes >= target || s.status === "done", waitOptions(options?.signal));
    const failure = done.context.lastError;
    if (failure !== undefined && failure.flush === target) throw failure.error;
  }

  /** Flushes, then closes the Cache actor. The entries stay readable in memory. */
  async close(): Promise<void> {
    if (this.#actor.getSnapshot().status === "done") return;
    this.#actor.send({ type: "cache.close" });
    const done = await waitFor(this.#actor, (s) => s.status === "done");
    const failure = done.context.lastError;
    if (failure !== undefined && failure.flush === done.context.flushes && failure.flush > 0) throw failure.error;
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The time: the injected clock's, exact; or the wall clock's, to the millisecond (as lru-cache's `ttlResolution`). */
  #now(): number {
    if (this.#clock !== undefined) return this.#clock.now();
    if (this.#cachedNow !== undefined) return this.#cachedNow;
    const now = Date.now();
    this.#cachedNow = now;
    const timer = setTimeout(() => {
      this.#cachedNow = undefined;
    }, 1);
    (timer as { unref?: () => void }).unref?.();
    return now;
  }

  #validateCompute(key: string, compute: unknown, options: GetOrComputeOptions | undefined): void {
    parseOptions(computeSchema, { compute }, `cache entry ${JSON.stringify(key)}`);
    if (options !== undefined) parseOptions(cacheEntrySchema, options, `cache entry ${JSON.stringify(key)}`);
  }

  #compute(key: string, compute: () => V | PromiseLike<V>, options: CacheEntryOptions | undefined): Flight<V> {
    const flight: Flight<V> = { promise: undefined as unknown as Promise<V>, tags: options?.tags, invalidated: false };
    flight.promise = (async () => {
      try {
        const value = await compute();
        if (!flight.invalidated) {
          try {
            this.#put(key, value, options?.tags, options?.ttlMs);
          } catch (error) {
            if (!isStoreError(error, "INVALID_VALUE")) throw error;
            // a result that is not JSON data goes to the callers uncached
          }
        }
        return value;
      } finally {
        if (this.#flights.get(key) === flight) this.#flights.delete(key);
      }
    })();
    this.#flights.set(key, flight);
    return flight;
  }

  #put(key: string, value: V, tags: readonly string[] | undefined, ttlMs: number | undefined, expiresAt?: number, staleUntil?: number): boolean {
    const bytes = utf8Length(toJson(key, value));
    const old = this.#slots.get(key);
    if (old !== undefined) this.#remove(old);
    if (bytes > this.#maxBytes) return false;
    let fresh = expiresAt;
    if (fresh === undefined) {
      const ttl = ttlMs ?? this.#ttlMs;
      fresh = ttl === Number.POSITIVE_INFINITY ? ttl : this.#now() + ttl;
    }
    const slot = this.#allocate();
    const list = tags === undefined || tags.length === 0 ? undefined : [...tags];
    this.#keyOf[slot] = key;
    this.#valueOf[slot] = value;
    this.#tagsOf[slot] = list;
    this.#bytesOf[slot] = bytes;
    this.#expiresAt[slot] = fresh;
    this.#staleUntil[slot] = staleUntil ?? fresh + this.#swrMs;
    if (fresh !== Number.POSITIVE_INFINITY) this.#mayExpire = true;
    this.#newer[slot] = NONE;
    this.#older[slot] = this.#newest;
    if (this.#newest !== NONE) this.#newer[this.#newest] = slot;
    this.#newest = slot;
    if (this.#oldest === NONE) this.#oldest = slot;
    this.#slots.set(key, slot);
    this.#bytes += bytes;
    if (list !== undefined) {
      for (const tag of list) {
        let keys = this.#tags.get(tag);
        if (keys === undefined) this.#tags.set(tag, keys = new Set());
        keys.add(key);
      }
    }
    if (expiresAt === undefined) {
      this.#removed.delete(key);
      this.#dirty.add(key);
    }
    while (this.#slots.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const victim = this.#oldest;
      if (victim === NONE || victim === slot) break;
      this.#evictions++;
      this.#remove(victim);
    }
    return true;
  }

  /** A free slot, growing the arrays (doubling, up to maxEntries + 1) when none is left. */
  #allocate(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const slot = this.#used++;
    if (slot >= this.#newer.length) {
      // +1: a new entry is placed before the eviction that makes room for it.
      const capacity = Math.min(Math.max(16, this.#newer.length * 2), this.#maxEntries + 1);
      const grow = <A extends Float64Array | Int32Array>(old: A, make: (n: number) => A): A => {
        const next = make(capacity);
        next.set(old);
        return next;
      };
      this.#bytesOf = grow(this.#bytesOf, (n) => new Float64Array(n));
      this.#expiresAt = grow(this.#expiresAt, (n) => new Float64Array(n));
      this.#staleUntil = grow(this.#staleUntil, (n) => new Float64Array(n));
      this.#newer = grow(this.#newer, (n) => new Int32Array(n));
      this.#older = grow(this.#older, (n) => new Int32Array(n));
    }
    return slot;
  }

  #promote(slot: number): void {
    // Unlink (the slot is not the newest, so it has a newer neighbour)...
    const newer = this.#newer[slot]!;
    const older = this.#older[slot]!;
    this.#older[newer] = older;
    if (older === NONE) this.#oldest = newer;
    else this.#newer[older] = newer;
    // ...and relink at the newest end.
    this.#newer[slot] = NONE;
    this.#older[slot] = this.#newest;
    this.#newer[this.#newest] = slot;
    this.#newest = slot;
  }

  #remove(slot: number): void {
    const newer = this.#newer[slot]!;
    const older = this.#older[slot]!;
    if (newer === NONE) this.#newest = older;
    else this.#older[newer] = older;
    if (older === NONE) this.#oldest = newer;
    else this.#newer[older] = newer;
    const key = this.#keyOf[slot]!;
    const tags = this.#tagsOf[slot];
    this.#slots.delete(key);
    this.#bytes -= this.#bytesOf[slot]!;
    this.#keyOf[slot] = undefined;
    this.#valueOf[slot] = undefined; // let the value be collected
    this.#tagsOf[slot] = undefined;
    this.#free.push(slot);
    if (tags !== undefined) {
      for (const tag of tags) {
        const keys = this.#tags.get(tag);
        keys?.delete(key);
        if (keys?.size === 0) this.#tags.delete(tag);
      }
    }
    this.#dirty.delete(key);
    if (this.#store !== undefined) this.#removed.add(key);
  }

  #storeKey(key: string): string {
    return this.#prefix + stableHash(key);
  }

  async #warm(signal: AbortSignal): Promise<CacheWarmResult> {
    try {
      return await this.#load(signal);
    } finally {
      this.#warmLog = undefined;
    }
  }

  async #load(signal: AbortSignal): Promise<CacheWarmResult> {
    if (this.#store === undefined) return { loaded: 0, skipped: 0 };
    const now = this.#now();
    return readCacheRecords(
      this.#store,
      this.#prefix,
      (key) => this.#storeKey(key),
      (record) => {
        const expiresAt = record.expiresAt ?? Number.POSITIVE_INFINITY;
        const staleUntil = record.staleUntil ?? Number.POSITIVE_INFINITY;
        // Skip the expired, what was written since start (the newer value wins) and what was invalidated since.
        if (now >= staleUntil || this.#slots.has(record.key) || this.#warmLog?.some((covers) => covers(record.key, record.tags)) === true) return false;
        return this.#put(record.key, record.value as V, record.tags ?? undefined, undefined, expiresAt, staleUntil);
      },
      signal,
    );
  }

  async #persist(): Promise<CachePersistResult> {
    const dirty = this.#dirty;
    const removed = this.#removed;
    this.#dirty = new Set();
    this.#removed = new Set();
    if (this.#store === undefined) return { written: 0, deleted: 0 };
    const records: [string, CacheRecord][] = [];
    for (const key of dirty) {
      const slot = this.#slots.get(key);
      if (slot === undefined) continue;
      const expiresAt = this.#expiresAt[slot]!;
      const staleUntil = this.#staleUntil[slot]!;
      const tags = this.#tagsOf[slot];
      records.push([
        this.#storeKey(key),
        {
          key,
          value: this.#valueOf[slot],
          expiresAt: expiresAt === Number.POSITIVE_INFINITY ? null : expiresAt,
          staleUntil: staleUntil === Number.POSITIVE_INFINITY ? null : staleUntil,
          tags: tags === undefined ? null : [...tags],
        },
      ]);
    }
    try {
      const { written, deleted } = await writeCacheRecords(this.#store, records, [...removed].map((key) => this.#storeKey(key)));
      return { written, deleted };
    } catch (error) {
      // Keep the changes for the next flush, unless newer changes superseded them.
      for (const key of dirty) if (!this.#removed.has(key)) this.#dirty.add(key);
      for (const key of removed) if (!this.#dirty.has(key)) this.#removed.add(key);
      throw error;
    }
  }
}

function waitOptions(signal: AbortSignal | undefined): { timeout: number; signal?: AbortSignal } {
  return signal === undefined ? { timeout: Number.POSITIVE_INFINITY } : { timeout: Number.POSITIVE_INFINITY, signal };
}
