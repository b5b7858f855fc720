/**
 * The result cache's options, per-entry options and figures, with the zod schemas that check
 * them at the edge.
 *
 * @module
 */
import type { InspectionEvent, Observer } from "xstate";
import { z } from "zod";
import type { Store } from "../store/types.ts";
import { fn, nonNegativeInt, positiveInt } from "../core/validation.ts";

/** Where the cache reads the time from. */
export interface CacheClock {
  /** Current time in milliseconds (wall time if entries are persisted across restarts). */
  now(): number;
}

/** Options of {@link ResultCache}. */
export interface ResultCacheOptions {
  /**
   * Most entries kept; the least recently used goes first.
   * @default 10_000
   */
  maxEntries?: number;
  /**
   * Most bytes kept, counting each value as the UTF-8 size of its JSON. A single value larger
   * than this is not cached.
   * @default 67_108_864 (64 MiB)
   */
  maxBytes?: number;
  /**
   * How long an entry stays fresh, in milliseconds. Per entry: `ttlMs` of `set`/`getOrCompute`.
   * @default Infinity (no expiry)
   */
  ttlMs?: number;
  /**
   * How long after expiring an entry may still be served by `getOrCompute` while it is
   * recomputed in the background, in milliseconds.
   * @default 0
   */
  staleWhileRevalidateMs?: number;
  /**
   * The time source; tests pass a controllable one.
   * @default `Date.now()`, read at most once a millisecond (a hit costs no clock read then)
   */
  clock?: CacheClock;
  /** Where entries are persisted: warmed from at start, written on `flush()` and `close()`. */
  store?: Store;
  /**
   * Prefix of the store keys this cache owns; two caches sharing a store need different ones.
   * @default "cache."
   */
  storePrefix?: string;
  /** Passed to `createActor` to watch the Cache actor. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** Per-entry options of `set` and `getOrCompute`. */
export interface CacheEntryOptions {
  /** Tags to invalidate the entry by. */
  tags?: readonly string[];
  /** Freshness of this entry in milliseconds; overrides the cache's `ttlMs`. */
  ttlMs?: number;
}

/** Options of `getOrCompute`. */
export interface GetOrComputeOptions extends CacheEntryOptions {
  /** Stops this caller's wait (rejecting with the signal's reason); the shared computation goes on. */
  signal?: AbortSignal;
}

/** A cache's figures. */
export interface CacheStats {
  state: "loading" | "ready" | "flushing" | "closed";
  /** Fresh reads. */
  hits: number;
  /** Reads that found nothing fresh (stale entries served by getOrCompute count under `stale`). */
  misses: number;
  /** Stale entries served while being recomputed. */
  stale: number;
  /** Entries pushed out by the entry or byte bound. */
  evictions: number;
  /** Callers that joined a computation already in flight. */
  coalesced: number;
  /** Entries held now. */
  size: number;
  /** Bytes held now. */
  bytes: number;
  /** Computations in flight now. */
  inflight: number;
}

const tagList = z.array(z.string({ error: "must be an array of strings" }), { error: "must be an array of strings" });

export const cacheOptionsSchema = z.strictObject({
  maxEntries: positiveInt().optional(),
  maxBytes: positiveInt().optional(),
  ttlMs: positiveInt().or(z.literal(Number.POSITIVE_INFINITY)).optional(),
  staleWhileRevalidateMs: nonNegativeInt().optional(),
  clock: z.custom<CacheClock>((v) => typeof v === "object" && v !== null && typeof (v as CacheClock).now === "function", { error: "must have a now() method" }).optional(),
  store: z.custom<Store>((v) => typeof v === "object" && v !== null && typeof (v as Store).getMany === "function", { error: "must be a Store" }).optional(),
  storePrefix: z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" }).optional(),
  inspect: z.any().optional(),
});

export const cacheEntrySchema = z.strictObject({
  tags: tagList.optional(),
  ttlMs: positiveInt().or(z.literal(Number.POSITIVE_INFINITY)).optional(),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: "must be an AbortSignal" }).optional(),
});

export const computeSchema = z.object({ compute: fn<() => unknown>() });
