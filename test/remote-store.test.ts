// The Redis store passes the store contract on a real redis-server, and serves as the result
// cache's second level: a second hive on the same Redis answers a cached task without running it.
import { afterAll, beforeAll, describe, expect, it, test } from "vitest";
import { createHive, createRedisStore } from "../src/index.ts";
import type { BaseStoreOptions } from "../src/store/index.ts";
import { redisAvailable, type RedisServer, startRedisServer } from "./remote-cluster.ts";
import { storeConformance } from "./store-conformance.ts";

const available = redisAvailable();

describe.skipIf(!available)("redis store", () => {
  let redis: RedisServer;
  let n = 0;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.close();
  });

  storeConformance("redis", (options?: BaseStoreOptions) => createRedisStore({ redis: redis.url, name: `conformance-${++n}`, ...options }), test);

  it("keeps values across store objects and Redis restarts (from its append-only file)", async () => {
    const first = createRedisStore({ redis: redis.url, name: "restart" });
    await first.setMany([["a", { n: 1 }], ["b", [2]]]);
    await first.close();
    await new Promise((r) => setTimeout(r, 1_100)); // appendfsync everysec
    await redis.restart();
    const second = createRedisStore({ redis: redis.url, name: "restart" });
    expect((await second.entries()).sort(([x], [y]) => x.localeCompare(y))).toEqual([["a", { n: 1 }], ["b", [2]]]);
    await second.close();
  });

  it("is the result cache's second level: a second hive on the same Redis answers a cached task without running it", async () => {
    const run = async (): Promise<{ value: unknown; misses: number; hits: number }> => {
      const store = createRedisStore({ redis: redis.url, name: "cache-level-2" });
      const hive = createHive({ backend: "inline", agents: [{ id: "a" }], store, cache: { persist: true } });
      try {
        await hive.start();
        const value = await hive.run({ kind: "echo", input: { hello: "world" }, cacheKey: "greeting" });
        const { misses, hits } = hive.stats().cache;
        return { value, misses, hits };
      } finally {
        await hive.stop();
        await store.close();
      }
    };
    expect(await run()).toEqual({ value: { hello: "world" }, misses: 1, hits: 0 });
    expect(await run()).toEqual({ value: { hello: "world" }, misses: 0, hits: 1 });
  });

  it("rejects invalid options naming them", () => {
    expect(() => createRedisStore({ redis: "localhost:6379" })).toThrow(/"redis" must be a redis:\/\/ or rediss:\/\/ URL, received "localhost:6379"/);
  });
});
