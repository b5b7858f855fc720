import { createActor, fromPromise } from "xstate";
import { describe, expect, it, vi } from "vitest";
import { cacheMachine } from "../actors/cache.ts";
import { cacheKeyFor, ResultCache, type ResultCacheOptions } from "../src/cache/cache.ts";
import { isApiaryError, isStoreError } from "../src/core/errors.ts";
import { createFileStore, createMemoryStore, type Store } from "../src/store/index.ts";
import { tempDir } from "./store-conformance.ts";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

function manualClock(start = 0) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

function make<V = unknown>(options: ResultCacheOptions = {}) {
  const clock = manualClock();
  const cache = new ResultCache<V>({ clock, ...options });
  return { clock, cache };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("ResultCache: LRU bounds", () => {
  it("counts hits and misses and evicts the least recently used entry", () => {
    const { cache } = make<number>({ maxEntries: 3 });
    cache.set("a", 1);
    cache.set("b", 2);
    cache.set("c", 3);
    expect(cache.get("a")).toBe(1); // a is now the most recent
    cache.set("d", 4);
    expect(cache.get("b")).toBeUndefined();
    expect([...cache.keys()]).toEqual(["d", "a", "c"]);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, evictions: 1, size: 3 });
  });

  it("matches a reference LRU model over every sequence of 5 operations on 3 keys", () => {
    const ops = ["get a", "get b", "get c", "set a", "set b", "set c"];
    let sequences = 0;
    const mismatches: string[] = [];
    const { cache } = make<number>({ maxEntries: 2 });
    const run = (prefix: string[]): void => {
      if (prefix.length === 5) {
        sequences++;
        cache.clear();
        const model: string[] = []; // most recent first
        let version = 0;
        const values = new Map<string, number>();
        for (const op of prefix) {
          const [verb, key] = op.split(" ") as [string, string];
          if (verb === "set") {
            version++;
            cache.set(key, version);
            values.set(key, version);
            const at = model.indexOf(key);
            if (at >= 0) model.splice(at, 1);
            model.unshift(key);
            if (model.length > 2) values.delete(model.pop()!);
          } else {
            const at = model.indexOf(key);
            const expected = at >= 0 ? values.get(key) : undefined;
            if (at >= 0) model.unshift(...model.splice(at, 1));
            const got = cache.get(key);
            if (got !== expected) mismatches.push(`${prefix.join(", ")}: ${op} gave ${got}, expected ${expected}`);
          }
          const order = [...cache.keys()].join();
          if (order !== model.join()) mismatches.push(`${prefix.join(", ")}: order ${order}, expected ${model.join()}`);
        }
        return;
      }
      for (const op of ops) run([...prefix, op]);
    };
    run([]);
    expect(sequences).toBe(6 ** 5);
    expect(mismatches).toEqual([]);
  });

  it("bounds the bytes held, counting each value's JSON in UTF-8", () => {
    const { cache } = make<string>({ maxBytes: 30 });
    cache.set("a", "x".repeat(8)); // 10 bytes
    cache.set("b", "é".repeat(4)); // 10 bytes
    cache.set("c", "y".repeat(8));
    expect(cache.stats().bytes).toBe(30);
    cache.set("d", "z".repeat(3)); // 5 bytes: pushes out a
    expect([...cache.keys()]).toEqual(["d", "c", "b"]);
    expect(cache.stats()).toMatchObject({ bytes: 25, evictions: 1 });
    expect(cache.set("huge", "h".repeat(40))).toBe(false);
    expect(cache.get("huge")).toBeUndefined();
    expect(cache.stats().bytes).toBe(25);
  });

  it("refuses a value that is not JSON data", () => {
    const { cache } = make();
    expect(() => cache.set("f", () => 1)).toThrow(expect.objectContaining({ code: "INVALID_VALUE" }));
    expect(() => cache.set("m", new Map())).toThrow("an instance of Map");
  });
});

describe("ResultCache: time", () => {
  it("expires entries after ttlMs, per entry overridable", () => {
    const { clock, cache } = make<string>({ ttlMs: 1_000 });
    cache.set("a", "A");
    cache.set("b", "B", { ttlMs: 5_000 });
    clock.t = 999;
    expect(cache.get("a")).toBe("A");
    clock.t = 1_000;
    expect(cache.get("a")).toBeUndefined();
    expect(cache.has("a")).toBe(false);
    expect(cache.get("b")).toBe("B");
    expect(cache.size).toBe(1); // a expired with no stale window: dropped on read
  });

  it("serves a stale value while one background recomputation refreshes it", async () => {
    const { clock, cache } = make<string>({ ttlMs: 1_000, staleWhileRevalidateMs: 500 });
    let calls = 0;
    const refresh = deferred<string>();
    await cache.getOrCompute("k", () => "v1");
    clock.t = 1_200;
    const compute = () => {
      calls++;
      return refresh.promise;
    };
    await expect(cache.getOrCompute("k", compute)).resolves.toBe("v1");
    await expect(cache.getOrCompute("k", compute)).resolves.toBe("v1");
    expect(calls).toBe(1);
    expect(cache.stats()).toMatchObject({ stale: 2, inflight: 1 });
    refresh.resolve("v2");
    await refresh.promise;
    await Promise.resolve();
    expect(cache.get("k")).toBe("v2");
    clock.t = 1_200 + 1_500; // past the new entry's stale window
    await expect(cache.getOrCompute("k", () => "v3")).resolves.toBe("v3");
  });

  it("keeps serving the stale value when the background refresh fails, until the window ends", async () => {
    const { clock, cache } = make<string>({ ttlMs: 100, staleWhileRevalidateMs: 100 });
    cache.set("k", "old");
    clock.t = 150;
    await expect(cache.getOrCompute("k", () => Promise.reject(new Error("down")))).resolves.toBe("old");
    await new Promise((r) => setImmediate(r));
    await expect(cache.getOrCompute("k", () => Promise.reject(new Error("down")))).resolves.toBe("old");
    clock.t = 200;
    await expect(cache.getOrCompute("k", () => Promise.reject(new Error("down")))).rejects.toThrow("down");
  });
});

describe("ResultCache: single flight", () => {
  it("computes identical keys in flight once and gives every caller the result", async () => {
    const { cache } = make<number>();
    const gate = deferred<number>();
    let calls = 0;
    const compute = () => {
      calls++;
      return gate.promise;
    };
    const all = Promise.all(Array.from({ length: 10 }, () => cache.getOrCompute("k", compute)));
    gate.resolve(42);
    expect(await all).toEqual(Array(10).fill(42));
    expect(calls).toBe(1);
    expect(cache.stats()).toMatchObject({ misses: 10, coalesced: 9, inflight: 0 });
    await expect(cache.getOrCompute("k", compute)).resolves.toBe(42);
    expect(calls).toBe(1);
  });

  it("gives every caller the error and caches nothing, so the next call computes again", async () => {
    const { cache } = make<number>();
    const gate = deferred<number>();
    let calls = 0;
    const first = cache.getOrCompute("k", () => (calls++, gate.promise));
    const second = cache.getOrCompute("k", () => (calls++, gate.promise));
    gate.reject(new Error("compute failed"));
    await expect(first).rejects.toThrow("compute failed");
    await expect(second).rejects.toThrow("compute failed");
    expect(calls).toBe(1);
    await expect(cache.getOrCompute("k", () => (calls++, 7))).resolves.toBe(7);
    expect(calls).toBe(2);
  });

  it("lets one caller stop waiting without cancelling the others", async () => {
    const { cache } = make<string>();
    const gate = deferred<string>();
    const controller = new AbortController();
    const leaving = cache.getOrCompute("k", () => gate.promise, { signal: controller.signal });
    const staying = cache.getOrCompute("k", () => gate.promise);
    controller.abort(new Error("left"));
    await expect(leaving).rejects.toThrow("left");
    gate.resolve("done");
    await expect(staying).resolves.toBe("done");
    expect(cache.get("k")).toBe("done");
  });

  it("returns a result that is not JSON data without caching it", async () => {
    const { cache } = make<unknown>();
    const fn = () => 1;
    await expect(cache.getOrCompute("k", () => fn)).resolves.toBe(fn);
    expect(cache.size).toBe(0);
  });
});

describe("ResultCache: invalidation", () => {
  it("invalidates by key, by prefix and by tag", () => {
    const { cache } = make<number>();
    cache.set("sim:1", 1, { tags: ["sim", "region:NL"] });
    cache.set("sim:2", 2, { tags: ["sim"] });
    cache.set("plan:1", 3, { tags: ["plan", "region:NL"] });
    cache.set("plan:2", 4);
    expect(cache.delete("plan:2")).toBe(true);
    expect(cache.delete("plan:2")).toBe(false);
    expect(cache.invalidateTag("region:NL")).toBe(2);
    expect([...cache.keys()]).toEqual(["sim:2"]);
    expect(cache.invalidateTag("region:NL")).toBe(0);
    cache.set("sim:3", 3);
    expect(cache.invalidatePrefix("sim:")).toBe(2);
    expect(cache.size).toBe(0);
    expect(cache.stats().bytes).toBe(0);
  });

  it("does not cache a computation whose key was invalidated while it ran", async () => {
    const { cache } = make<string>();
    for (const invalidate of [(c: ResultCache<string>) => c.delete("t:1"), (c: ResultCache<string>) => c.invalidatePrefix("t:"), (c: ResultCache<string>) => c.invalidateTag("t")]) {
      const gate = deferred<string>();
      const pending = cache.getOrCompute("t:1", () => gate.promise, { tags: ["t"] });
      invalidate(cache);
      gate.resolve("computed from old data");
      await expect(pending).resolves.toBe("computed from old data");
      expect(cache.get("t:1")).toBeUndefined();
    }
  });
});

describe("cacheKeyFor", () => {
  it("is stable under key order and differs for different inputs", () => {
    const a = cacheKeyFor("simulate", { hours: 8760, region: "NL", opts: { b: [1, 2], a: null } });
    const b = cacheKeyFor("simulate", { opts: { a: null, b: [1, 2] }, region: "NL", hours: 8760 });
    expect(a).toBe(b);
    expect(a).toMatch(/^simulate:[0-9a-f]{28}$/);
    expect(cacheKeyFor("simulate", { hours: 8761, region: "NL", opts: { b: [1, 2], a: null } })).not.toBe(a);
    expect(cacheKeyFor("plan", { hours: 8760, region: "NL", opts: { b: [1, 2], a: null } })).not.toBe(a);
    expect(cacheKeyFor("k", { b: [2, 1] })).not.toBe(cacheKeyFor("k", { b: [1, 2] }));
    expect(cacheKeyFor("k", { x: undefined })).toBe(cacheKeyFor("k", {}));
    expect(cacheKeyFor("k", "1")).not.toBe(cacheKeyFor("k", 1));
    expect(cacheKeyFor("k", undefined)).toBe(cacheKeyFor("k", null));
  });

  it("refuses inputs without a stable JSON form, naming the property", () => {
    expect(() => cacheKeyFor("sim", { deep: { run: () => 1 } })).toThrow('Cannot derive a cache key for "sim": input "deep.run" is a function');
    expect(() => cacheKeyFor("sim", { n: Number.NaN })).toThrow('input "n" is the non-finite number NaN');
    expect(() => cacheKeyFor("", {})).toThrow(expect.objectContaining({ code: "INVALID_TASK" }));
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    expect(() => cacheKeyFor("sim", cyclic)).toThrow("a cycle");
  });
});

describe("ResultCache: persistence", () => {
  it("persists on flush and warms a new cache from the store: values, tags, expiry", async () => {
    const store = createMemoryStore();
    const clock = manualClock(1_000);
    const first = new ResultCache<unknown>({ store, clock, ttlMs: 10_000 });
    await first.ready();
    expect(first.stats().state).toBe("ready");
    first.set("a", { n: 1 }, { tags: ["t"] });
    first.set("b", [2]);
    first.set("short", "s", { ttlMs: 100 });
    first.set("gone", 0);
    await first.flush();
    first.delete("gone");
    await first.close();
    expect(first.stats().state).toBe("closed");
    expect((await store.keys()).length).toBe(3);

    clock.t = 2_000; // "short" has expired
    const second = new ResultCache<unknown>({ store, clock });
    await second.ready();
    expect(second.actor.getSnapshot().context.warm).toEqual({ loaded: 2, skipped: 1 });
    expect(second.get("a")).toEqual({ n: 1 });
    expect(second.get("b")).toEqual([2]);
    expect(second.get("short")).toBeUndefined();
    expect(second.invalidateTag("t")).toBe(1);
    clock.t = 11_000; // the persisted expiry still holds
    expect(second.get("b")).toBeUndefined();
    await second.close();
  });

  it("does not let the warm-up override writes or invalidations made while it loads", async () => {
    const store = createMemoryStore();
    const seed = new ResultCache<string>({ store });
    seed.set("written", "old");
    seed.set("dropped", "old", { tags: ["x"] });
    seed.set("kept", "old");
    await seed.close();
    const cache = new ResultCache<string>({ store });
    cache.set("written", "new");
    cache.invalidateTag("x");
    await cache.ready();
    expect(cache.get("written")).toBe("new");
    expect(cache.get("dropped")).toBeUndefined();
    expect(cache.get("kept")).toBe("old");
    await cache.close();
  });

  it("rejects a failed flush and keeps the changes for the next one", async () => {
    const store = createMemoryStore();
    let failing = true;
    const flaky: Store = Object.create(store, {
      setMany: { value: (entries: readonly (readonly [string, unknown])[]) => (failing ? Promise.reject(new Error("disk full")) : store.setMany(entries)) },
    }) as Store;
    const cache = new ResultCache<number>({ store: flaky });
    await cache.ready();
    cache.set("a", 1);
    await expect(cache.flush()).rejects.toThrow("disk full");
    failing = false;
    await cache.flush();
    expect(await store.keys()).toHaveLength(1);
    await cache.close();
  });

  it("skips an entry the store refuses as too large instead of failing every flush", async () => {
    const store = createMemoryStore({ maxValueBytes: 200 });
    const cache = new ResultCache<string>({ store });
    cache.set("small", "s");
    cache.set("big", "b".repeat(300));
    await cache.flush();
    await cache.flush();
    const records = await store.entries<{ key: string }>();
    expect(records.map(([, r]) => r.key)).toEqual(["small"]);
    expect(cache.get("big")).toBe("b".repeat(300)); // still served from memory
    await cache.close();
  });

  it("warms from a file store, skipping a corrupt record", async () => {
    const { dir, remove } = await tempDir();
    try {
      const store = createFileStore({ dir, fsync: "never" });
      const first = new ResultCache<string>({ store });
      first.set("a", "A");
      first.set("b", "B");
      await first.close();
      const [victim] = (await readdir(dir)).filter((n) => n.endsWith(".rec"));
      await writeFile(join(dir, victim!), "garbage");
      const second = new ResultCache<string>({ store });
      await second.ready();
      expect(second.actor.getSnapshot().context.warm).toEqual({ loaded: 1, skipped: 1 });
      expect([second.get("a"), second.get("b")].filter((v) => v !== undefined)).toHaveLength(1);
      await expect(store.get(`cache.${victim!.slice(6, -4)}`)).rejects.toSatisfy((e: unknown) => isStoreError(e, "STORE_CORRUPT"));
      await second.close();
    } finally {
      await remove();
    }
  });

  it("rejects invalid options naming the option and the value", async () => {
    expect(() => new ResultCache({ maxEntries: 0 })).toThrow('Cannot create result cache: "maxEntries" must be a positive integer, received 0');
    expect(() => new ResultCache({ clock: { now: 5 } as never })).toThrow('"clock" must have a now() method');
    const { cache } = make();
    expect(() => cache.set("k", 1, { tags: "t" as never })).toThrow('Cannot create cache entry "k": "tags" must be an array of strings, received "t"');
    await expect(cache.getOrCompute("k", 5 as never)).rejects.toSatisfy(
      (e: unknown) => isApiaryError(e, "INVALID_OPTIONS") && e.message.includes('"compute" must be a function, received 5'),
    );
  });
});

describe("cacheMachine", () => {
  it("goes loading → ready → flushing → ready → closed, and runs a flush asked for mid-flush", async () => {
    const persisted = [deferred<{ written: number; deleted: number }>(), deferred<{ written: number; deleted: number }>(), deferred<{ written: number; deleted: number }>()];
    let flushes = 0;
    const actor = createActor(
      cacheMachine.provide({
        actors: {
          warm: fromPromise(async () => ({ loaded: 3, skipped: 0 })),
          persist: fromPromise(() => persisted[flushes++]!.promise),
        },
      }),
    );
    const seen: string[] = [];
    actor.subscribe((s) => {
      if (seen.at(-1) !== s.value) seen.push(s.value);
    });
    actor.start();
    await new Promise((r) => setImmediate(r));
    actor.send({ type: "cache.flush" });
    actor.send({ type: "cache.flush" }); // while flushing: runs after
    persisted[0]!.resolve({ written: 1, deleted: 0 });
    await new Promise((r) => setImmediate(r));
    expect(flushes).toBe(2);
    actor.send({ type: "cache.close" });
    persisted[1]!.resolve({ written: 0, deleted: 0 });
    await new Promise((r) => setImmediate(r));
    expect(flushes).toBe(3); // close asked mid-flush: one more flush, then closed
    persisted[2]!.resolve({ written: 0, deleted: 0 });
    await new Promise((r) => setImmediate(r));
    expect(actor.getSnapshot().status).toBe("done");
    // A flush asked for mid-flush starts within the same macrostep: "ready" is never observed between.
    expect(seen).toEqual(["loading", "ready", "flushing", "closed"]);
    expect(actor.getSnapshot().context.flushes).toBe(3);
  });
});

describe("ResultCache: default clock", () => {
  it("expires entries by the wall clock when no clock is given", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const cache = new ResultCache<string>({ ttlMs: 1_000 });
      cache.set("k", "v");
      vi.advanceTimersByTime(999);
      expect(cache.get("k")).toBe("v");
      vi.advanceTimersByTime(1);
      expect(cache.get("k")).toBeUndefined();
      await cache.close();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("ResultCache: invariants under random operations", () => {
  it("keeps size, bytes, recency order and tag index consistent over 20,000 seeded random operations", () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed % n;
    };
    const clock = manualClock();
    const cache = new ResultCache<string>({ clock, maxEntries: 20, maxBytes: 400, ttlMs: 50, staleWhileRevalidateMs: 20 });
    const model = new Map<string, { value: string; tags: string[]; expiresAt: number }>(); // what may still be served
    const sizeOf = (value: string): number => value.length + 2; // ASCII JSON strings
    for (let step = 0; step < 20_000; step++) {
      const key = `k${random(40)}`;
      switch (random(7)) {
        case 0:
        case 1: {
          const value = "v".repeat(random(60));
          const tags = random(2) === 0 ? [`t${random(3)}`] : [];
          cache.set(key, value, { tags });
          model.set(key, { value, tags, expiresAt: clock.t + 50 });
          break;
        }
        case 2: {
          const got = cache.get(key);
          const known = model.get(key);
          if (got !== undefined) {
            // A hit must be the last value set, and fresh.
            expect(known?.value).toBe(got);
            expect(clock.t).toBeLessThan(known!.expiresAt);
          }
          break;
        }
        case 3:
          cache.delete(key);
          model.delete(key);
          break;
        case 4: {
          const tag = `t${random(3)}`;
          cache.invalidateTag(tag);
          for (const [k, v] of model) if (v.tags.includes(tag)) model.delete(k);
          break;
        }
        case 5:
          cache.invalidatePrefix(`k${random(4)}`);
          break;
        default:
          clock.t += random(10);
      }
      const keys = [...cache.keys()];
      const stats = cache.stats();
      expect(keys.length).toBe(stats.size);
      expect(new Set(keys).size).toBe(keys.length);
      expect(stats.size).toBeLessThanOrEqual(20);
      expect(stats.bytes).toBeLessThanOrEqual(400);
      if (step % 500 === 0) {
        // Bytes held equal the sum over the entries still held.
        const sum = keys.reduce((total, k) => total + sizeOf(model.get(k)?.value ?? ""), 0);
        expect(stats.bytes).toBe(sum);
        // The tag index matches the entries: invalidating a tag removes exactly those tagged.
        const tag = `t${random(3)}`;
        const tagged = keys.filter((k) => model.get(k)!.tags.includes(tag));
        expect(cache.invalidateTag(tag)).toBe(tagged.length);
        expect([...cache.keys()]).toEqual(keys.filter((k) => !tagged.includes(k)));
        for (const [k, v] of model) if (v.tags.includes(tag)) model.delete(k);
      }
    }
    // The run did exercise hits, expiry and both bounds.
    const stats = cache.stats();
    expect(stats.hits).toBeGreaterThan(100);
    expect(stats.misses).toBeGreaterThan(100);
    expect(stats.evictions).toBeGreaterThan(100);
  });
});
