/**
 * The result cache on the hive's task path. A task with `cacheKey`, or with `cache: true` (or
 * `cache: { ttlMs, tags }`), goes through {@link ResultCache.getOrCompute}: a fresh entry answers
 * at once, identical tasks in flight together run once (single flight) and every caller gets the
 * result, and a stale entry within `staleWhileRevalidateMs` answers while the task re-runs.
 *
 * Keys are per kind: `cacheKey` is stored as `kind#cacheKey` (the key itself validated as a store
 * key: no path separators, no `..`), so two kinds never answer each other's results; a task that
 * opts in with `cache: { shared: true }` stores its `cacheKey` as `#cacheKey`, one entry every kind
 * with that key shares. Without `cacheKey`: `kind:hash(input)` ({@link cacheKeyFor}). Persistence: only when asked — `store` given, or
 * `cache.persist: true`, which opens a file store in `.apiary/cache` under the working
 * directory. Warmed on `hive.start()`, flushed on `hive.stop()`.
 *
 * @module
 */
import { z } from "zod";
import { join } from "node:path";
import { cacheKeyFor, type CacheStats, ResultCache } from "../cache/cache.ts";
import type { HiveClock } from "../core/clock.ts";
import { describeValue, InvalidOptionsError, InvalidTaskError } from "../core/errors.ts";
import { parseOrThrow } from "./schema.ts";
import { createFileStore } from "../store/file.ts";
import type { Store } from "../store/types.ts";
import { validateKey } from "../store/value.ts";
import { nonNegativeInt, positiveInt } from "../core/validation.ts";

/** The hive's `cache` option. */
export interface HiveCacheOptions {
  /** Most entries kept (LRU). @default 10_000 */
  maxEntries?: number;
  /** Most bytes kept, as UTF-8 JSON; a larger single result is returned but not cached. @default 67_108_864 */
  maxBytes?: number;
  /** Freshness of an entry, ms; a task's `cache.ttlMs` overrides it. @default Infinity */
  ttlMs?: number;
  /** How long past its TTL an entry may still answer while the task re-runs, ms. @default 0 */
  staleWhileRevalidateMs?: number;
  /**
   * Persist entries: warmed on `start()`, written on `stop()`. Without a `store` option this
   * opens a file store in `.apiary/cache` under the working directory.
   * @default true when the hive has a `store`, else false
   */
  persist?: boolean;
}

/** The hive's `store` option: a store, or the folder of a file store. */
export type HiveStoreOption = Store | { dir: string };

/**
 * A task's `cache` option. `shared: true` (with a `cacheKey`) makes the key one entry for every
 * kind instead of one per kind.
 */
export type TaskCacheOption = boolean | { ttlMs?: number; tags?: string[]; shared?: boolean };

/** What the cache needs of a task. */
export interface CacheableTask {
  kind: string;
  input?: unknown;
  cache?: TaskCacheOption | undefined;
  cacheKey?: string | undefined;
}

/** Events the task cache publishes. */
export type CacheEvent =
  | { type: "cache.hit"; key: string; kind: string; at: number }
  | { type: "cache.miss"; key: string; kind: string; /** True when it joined an identical task in flight. */ coalesced: boolean; at: number };

/**
 * What to invalidate: a `cacheKey` (of every kind the hive runs, and the shared one), every
 * `cacheKey` with a prefix (likewise), every entry with a tag, or every entry of a kind. `kind`
 * beside `key` or `prefix` narrows them to that kind's keys.
 */
export type InvalidateSelector = { key: string; kind?: string } | { prefix: string; kind?: string } | { tag: string } | { kind: string };

const cacheSchema = z.strictObject(
  {
    maxEntries: positiveInt().optional(),
    maxBytes: positiveInt().optional(),
    ttlMs: positiveInt().or(z.literal(Number.POSITIVE_INFINITY)).optional(),
    staleWhileRevalidateMs: nonNegativeInt().optional(),
    persist: z.boolean({ error: "must be a boolean" }).optional(),
  },
  { error: "must be an object { maxEntries, maxBytes, ttlMs, staleWhileRevalidateMs, persist }" },
);

const storeSchema = z.union([
  z.custom<Store>((v) => typeof v === "object" && v !== null && typeof (v as Store).getMany === "function" && typeof (v as Store).setMany === "function"),
  z.strictObject({ dir: z.string().min(1) }),
], { error: "must be a Store (createFileStore, createMemoryStore, createIdbStore) or { dir: string }" });

/** Schema of a task's `cache` option. */
export const taskCacheSchema = z.union([
  z.boolean(),
  z.strictObject({ ttlMs: positiveInt().optional(), tags: z.array(z.string().min(1)).optional(), shared: z.boolean().optional() }),
], { error: "must be a boolean or an object { ttlMs, tags, shared }" });

const selectorName = z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" });

const selectorSchema = z.strictObject(
  { key: selectorName.optional(), prefix: z.string({ error: "must be a string" }).optional(), tag: selectorName.optional(), kind: selectorName.optional() },
  { error: "must be an object { key }, { prefix }, { tag } or { kind }" },
);

/** Store key of a `cacheKey` of one kind, and of a shared one (`kind` undefined). */
function userKey(kind: string | undefined, key: string): string {
  return `${kind ?? ""}#${key}`;
}

/** Folder of the default file store, relative to the working directory. */
export const DEFAULT_CACHE_DIR = join(".apiary", "cache");

/** A shared computation: the task running it and how many callers still wait on it. */
interface Flight {
  cancel: (reason?: string) => void;
  waiters: number;
}

/** The hive's result cache and its single-flight bookkeeping. */
export class TaskCache {
  readonly #cache: ResultCache;
  // Store this cache opened itself (closed on stop); undefined when the caller owns the store.
  readonly #ownStore: Store | undefined;
  // Per key, the task computing it while it runs; removed when it settles.
  readonly #flights = new Map<string, Flight>();
  readonly #clock: HiveClock;

  /**
   * @param cache the hive's `cache` option (unvalidated)
   * @param store the hive's `store` option (unvalidated)
   * @param clock the hive clock, or undefined for wall time (persisted TTLs need wall time)
   * @throws InvalidOptionsError naming `cache.*` or `store` and the value received
   */
  constructor(cache: unknown, store: unknown, clock: HiveClock | undefined, now: HiveClock) {
    const options = parseOrThrow(cacheSchema, cache ?? {}, "create hive", (m) => new InvalidOptionsError(m), ["cache"]);
    const parsedStore = store === undefined ? undefined : parseOrThrow(storeSchema, store, "create hive", (m) => new InvalidOptionsError(m), ["store"]);
    let backing: Store | undefined;
    if (parsedStore !== undefined && typeof (parsedStore as Partial<Store>).getMany !== "function") {
      backing = this.#ownStore = createFileStore({ dir: (parsedStore as { dir: string }).dir });
    } else if (parsedStore !== undefined) {
      backing = parsedStore as Store;
    } else if (options.persist === true) {
      backing = this.#ownStore = createFileStore({ dir: DEFAULT_CACHE_DIR });
    }
    if (options.persist === false) backing = undefined;
    const { persist: _persist, ...rest } = options;
    this.#cache = new ResultCache({
      ...(rest as Record<string, number>),
      ...(backing !== undefined ? { store: backing } : {}),
      ...(clock !== undefined ? { clock } : {}),
    });
    this.#clock = now;
  }

  /**
   * The cache key and entry options of a task, or undefined when the task is not cached.
   * @throws InvalidTaskError when `cache` is malformed or the input has no stable JSON form
   * @throws StoreError `INVALID_KEY` when `cacheKey` has a path separator, `..`, or is too long
   */
  keyOf(task: CacheableTask): { key: string; tags: string[] | undefined; ttlMs: number | undefined } | undefined {
    const option = task.cache === undefined ? undefined : parseOrThrow(taskCacheSchema, task.cache, "submit task", (m) => new InvalidTaskError(m), ["cache"]);
    if (option === false || (option === undefined && task.cacheKey === undefined)) return undefined;
    const entry = typeof option === "object" ? option : undefined;
    let key: string;
    if (task.cacheKey !== undefined) {
      validateKey(task.cacheKey);
      key = userKey(entry?.shared === true ? undefined : task.kind, task.cacheKey);
      validateKey(key);
    } else if (entry?.shared === true) {
      throw new InvalidTaskError(`Cannot submit task: "cache.shared" needs a "cacheKey" (a key derived from the input is always per kind), received true`);
    } else {
      key = cacheKeyFor(task.kind, task.input);
    }
    return { key, tags: entry?.tags, ttlMs: entry?.ttlMs };
  }

  /**
   * Answers from the cache, joins an identical task in flight, or runs `submit` once.
   *
   * @param submit starts the task; returns its result and how to cancel it
   * @param signal aborts this caller's wait; the task is cancelled when no caller waits any more
   * @param publish receives `cache.hit` / `cache.miss`
   */
  run<O>(
    entry: { key: string; tags: string[] | undefined; ttlMs: number | undefined },
    kind: string,
    submit: () => { result: Promise<O>; cancel: (reason?: string) => void },
    signal: AbortSignal,
    publish: (event: CacheEvent) => void,
  ): Promise<O> {
    const { key } = entry;
    const at = this.#clock.now();
    if (this.#cache.has(key)) publish({ type: "cache.hit", key, kind, at });
    else publish({ type: "cache.miss", key, kind, coalesced: this.#flights.has(key), at });
    const joined = this.#flights.get(key);
    if (joined !== undefined) joined.waiters++;
    const options = { signal, ...(entry.tags !== undefined ? { tags: entry.tags } : {}), ...(entry.ttlMs !== undefined ? { ttlMs: entry.ttlMs } : {}) };
    let mine: Flight | undefined;
    const promise = this.#cache.getOrCompute(key, () => {
      const handle = submit();
      mine = { cancel: handle.cancel, waiters: 1 };
      this.#flights.set(key, mine);
      const clear = (): void => {
        if (this.#flights.get(key) === mine) this.#flights.delete(key);
      };
      handle.result.then(clear, clear);
      return handle.result;
    }, options) as Promise<O>;
    const flight = mine ?? joined;
    signal.addEventListener("abort", () => {
      if (flight === undefined || this.#flights.get(key) !== flight) return;
      if (--flight.waiters === 0) flight.cancel("every caller waiting on the cached result cancelled");
    }, { once: true });
    return promise;
  }

  /**
   * Removes entries; in-flight ones of the same key are not cached.
   * @param kinds the kinds whose `cacheKey`s a `key` or `prefix` without `kind` reaches
   * @returns how many entries were removed
   * @throws InvalidOptionsError when the selector is not one of the {@link InvalidateSelector} forms
   */
  invalidate(selector: InvalidateSelector, kinds: Iterable<string>): number {
    const action = "invalidate cached results";
    const s = parseOrThrow(selectorSchema, selector, action, (m) => new InvalidOptionsError(m), ["selector"]);
    const named = (["key", "prefix", "tag"] as const).filter((k) => s[k] !== undefined);
    if (named.length === 0 && s.kind === undefined) throw new InvalidOptionsError(`Cannot ${action}: "selector" must name a key, prefix, tag or kind, received ${describeValue(selector)}`);
    if (named.length > 1) {
      throw new InvalidOptionsError(`Cannot ${action}: "selector" must name only one of key, prefix, tag (with kind to narrow a key or prefix), received ${describeValue(selector)}`);
    }
    if (s.tag !== undefined) {
      if (s.kind !== undefined) throw new InvalidOptionsError(`Cannot ${action}: "selector.kind" cannot narrow a tag (a tag spans kinds), received ${JSON.stringify(s.kind)}`);
      return this.#cache.invalidateTag(s.tag);
    }
    const scopes: (string | undefined)[] = s.kind !== undefined ? [s.kind] : [...kinds, undefined];
    if (s.key !== undefined) {
      let removed = 0;
      for (const kind of scopes) if (this.#cache.delete(userKey(kind, s.key))) removed++;
      return removed;
    }
    if (s.prefix !== undefined) {
      let removed = 0;
      for (const kind of scopes) removed += this.#cache.invalidatePrefix(userKey(kind, s.prefix));
      return removed;
    }
    // Every entry of one kind: its input-derived keys and its cacheKeys.
    return this.#cache.invalidatePrefix(`${s.kind}:`) + this.#cache.invalidatePrefix(userKey(s.kind, ""));
  }

  /** Resolves once warmed from the store. */
  ready(signal?: AbortSignal): Promise<void> {
    return this.#cache.ready(signal !== undefined ? { signal } : undefined);
  }

  /** Hit, miss, eviction and size figures. */
  stats(): CacheStats {
    return this.#cache.stats();
  }

  /** Writes pending entries to the store and closes what it opened. */
  async close(): Promise<void> {
    await this.#cache.close();
    await this.#ownStore?.close();
  }
}
