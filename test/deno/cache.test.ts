import { assertEquals, assertRejects } from "./assert.ts";
import { cacheKeyFor, ResultCache } from "../../src/cache/cache.ts";
import { createFileStore } from "../../src/store/index.ts";

Deno.test("cache computes identical keys in flight once, every caller gets the result or the error", async () => {
  const cache = new ResultCache<number>({ clock: { now: () => 0 } });
  let calls = 0;
  let release!: (n: number) => void;
  const gate = new Promise<number>((resolve) => (release = resolve));
  const all = Promise.all(Array.from({ length: 5 }, () => cache.getOrCompute("k", () => (calls++, gate))));
  release(7);
  assertEquals(await all, [7, 7, 7, 7, 7]);
  assertEquals(calls, 1);
  const failing = [cache.getOrCompute("e", () => Promise.reject(new Error("nope"))), cache.getOrCompute("e", () => 1)];
  for (const p of failing) await assertRejects(() => p, Error, "nope");
  assertEquals(cache.get("e"), undefined);
  await cache.close();
});

Deno.test("cache expires by TTL, evicts LRU, invalidates by tag", async () => {
  const clock = { t: 0, now: () => clock.t };
  const cache = new ResultCache<string>({ clock, maxEntries: 2, ttlMs: 100 });
  cache.set("a", "A", { tags: ["x"] });
  cache.set("b", "B");
  cache.get("a");
  cache.set("c", "C");
  assertEquals([...cache.keys()], ["c", "a"]);
  assertEquals(cache.invalidateTag("x"), 1);
  clock.t = 100;
  assertEquals(cache.get("c"), undefined);
  assertEquals(cache.stats().evictions, 1);
  await cache.close();
});

Deno.test("cache persists to a file store and warms from it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = createFileStore({ dir, fsync: "always" });
    const key = cacheKeyFor("simulate", { hours: 24, region: "NL" });
    const first = new ResultCache<{ mwh: number }>({ store });
    first.set(key, { mwh: 12.5 }, { tags: ["simulate"] });
    await first.close();
    const second = new ResultCache<{ mwh: number }>({ store });
    await second.ready();
    assertEquals(second.get(cacheKeyFor("simulate", { region: "NL", hours: 24 })), { mwh: 12.5 });
    assertEquals(second.invalidateTag("simulate"), 1);
    await second.close();
    assertEquals(await store.keys(), []);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
