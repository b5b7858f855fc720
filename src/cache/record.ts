/**
 * How the result cache persists: one store record per entry, under `prefix + stableHash(key)`
 * (store keys stay short and valid whatever the cache key), holding the key itself so that a
 * record is checked against the name it was found under.
 *
 * @module
 */
import type { CachePersistResult, CacheWarmResult } from "../../actors/cache.ts";
import { isStoreError } from "../core/errors.ts";
import type { Store } from "../store/types.ts";

/** A persisted entry. `null` stands for "never" (JSON has no Infinity) and for "no tags". */
export interface CacheRecord {
  key: string;
  value: unknown;
  expiresAt: number | null;
  staleUntil: number | null;
  tags: string[] | null;
}

// How many records the warm-up reads at once.
const CHUNK = 64;

/** True when `value` has a {@link CacheRecord}'s shape. */
export function isCacheRecord(value: unknown): value is CacheRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Partial<CacheRecord>;
  return (
    typeof r.key === "string" &&
    "value" in r &&
    (r.expiresAt === null || typeof r.expiresAt === "number") &&
    (r.staleUntil === null || typeof r.staleUntil === "number") &&
    (r.tags === null || (Array.isArray(r.tags) && r.tags.every((t) => typeof t === "string")))
  );
}

/**
 * Reads every record under `prefix` and hands the sound ones to `load`, which says whether it
 * kept the entry. Corrupt, unreadable and foreign records are counted as skipped and left in the
 * store as they are.
 */
export async function readCacheRecords(
  store: Store,
  prefix: string,
  storeKeyOf: (key: string) => string,
  load: (record: CacheRecord) => boolean,
  signal: AbortSignal,
): Promise<CacheWarmResult> {
  const keys = (await store.keys({ signal })).filter((k) => k.startsWith(prefix));
  let loaded = 0;
  let skipped = 0;
  for (let i = 0; i < keys.length; i += CHUNK) {
    const chunk = keys.slice(i, i + CHUNK);
    const settled = await Promise.allSettled(chunk.map((k) => store.get(k, { signal })));
    for (const [j, outcome] of settled.entries()) {
      const record = outcome.status === "fulfilled" ? outcome.value : undefined;
      if (isCacheRecord(record) && storeKeyOf(record.key) === chunk[j] && load(record)) loaded++;
      else skipped++;
    }
  }
  return { loaded, skipped };
}

/**
 * Writes `records` (one batch; one by one if the store refuses a value as too large, which is
 * then skipped rather than blocking every later flush) and deletes `deletions`.
 */
export async function writeCacheRecords(
  store: Store,
  records: readonly (readonly [string, CacheRecord])[],
  deletions: readonly string[],
): Promise<CachePersistResult & { tooLarge: number }> {
  let tooLarge = 0;
  if (records.length > 0) {
    try {
      await store.setMany(records);
    } catch (error) {
      if (!isStoreError(error, "VALUE_TOO_LARGE")) throw error;
      for (const record of records) {
        try {
          await store.set(record[0], record[1]);
        } catch (inner) {
          if (!isStoreError(inner, "VALUE_TOO_LARGE")) throw inner;
          tooLarge++;
        }
      }
    }
  }
  for (const key of deletions) await store.del(key);
  return { written: records.length - tooLarge, deleted: deletions.length, tooLarge };
}
