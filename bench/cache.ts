/**
 * Cache scope: hit-path gets per second of apiary's `ResultCache` against lru-cache, same
 * process, same 100k keys read in the same order; with and without a TTL.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { ResultCache } from "../src/cache/cache.ts";
import { type BenchScope, compare, opsPerSecond } from "./harness.ts";

const KEYS = 100_000;
const BATCH = 10_000;

const scope: BenchScope = async ({ quick }) => {
  const timing = quick ? { minMs: 300, warmupMs: 100 } : { minMs: 1_000, warmupMs: 300 };
  // Random reads over 100k keys are memory-bound and drift with the neighbours' load: more rounds.
  const rounds = quick ? 2 : 5;
  const keys = Array.from({ length: KEYS }, (_, i) => `simulate:${i.toString(16).padStart(8, "0")}`);
  // A fixed pseudo-random read order, so both caches see the same access pattern.
  const order = new Uint32Array(BATCH * 10);
  let seed = 42;
  for (let i = 0; i < order.length; i++) {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    order[i] = seed % KEYS;
  }

  const apiary = new ResultCache<number>({ maxEntries: KEYS });
  const apiaryTtl = new ResultCache<number>({ maxEntries: KEYS, ttlMs: 3_600_000 });
  const lru = new LRUCache<string, number>({ max: KEYS });
  const lruTtl = new LRUCache<string, number>({ max: KEYS, ttl: 3_600_000 });
  for (const [i, key] of keys.entries()) {
    apiary.set(key, i);
    apiaryTtl.set(key, i);
    lru.set(key, i);
    lruTtl.set(key, i);
  }

  // A hot set: 1,000 keys that stay in the CPU caches, so the code path dominates.
  const hot = new Uint32Array(BATCH);
  for (let i = 0; i < hot.length; i++) hot[i] = order[i]! % 1_000;

  let cursor = 0;
  let sink = 0;
  const reads = (get: (key: string) => number | undefined) => () =>
    opsPerSecond(
      () => {
        const start = cursor;
        cursor = (cursor + BATCH) % order.length;
        for (let i = start; i < start + BATCH; i++) sink += get(keys[order[i]!]!) ?? 0;
      },
      BATCH,
      timing,
    );

  const hotReads = (get: (key: string) => number | undefined) => () =>
    opsPerSecond(
      () => {
        for (let i = 0; i < BATCH; i++) sink += get(keys[hot[i]!]!) ?? 0;
      },
      BATCH,
      timing,
    );

  const results = [
    await compare("cache hit get (no TTL)", "lru-cache", reads((k) => apiary.get(k)), reads((k) => lru.get(k)), rounds),
    await compare("cache hit get (TTL 1 h)", "lru-cache (ttl 1 h)", reads((k) => apiaryTtl.get(k)), reads((k) => lruTtl.get(k)), rounds),
    await compare("cache hit get, 1k hot keys (no TTL)", "lru-cache", hotReads((k) => apiary.get(k)), hotReads((k) => lru.get(k)), rounds),
  ];
  if (apiary.stats().misses + apiaryTtl.stats().misses > 0 || sink === 0) throw new Error("bench: expected hits only");
  await apiary.close();
  await apiaryTtl.close();
  return results;
};

export default scope;
