// A dependency's rate limit over worker nodes: counted in one Redis log by the coordinator's main
// thread and every node's threads, on a real redis-server with node processes. Real time: the
// calls cross processes, and the limit counts real time.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rateLogKey, RedisRateLog } from "../src/backends/remote/rate-log.ts";
import { createHive } from "../src/index.ts";
import { busiestWindow } from "./helpers.ts";
import { type NodeProcess, redisAvailable, type RedisServer, scratch, startNode, startRedisServer } from "./remote-cluster.ts";

describe.skipIf(!redisAvailable())("remote backend: dependency rate limits across worker nodes", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it("counts every process's calls in one log: of 25 calls at once under max 10, 10 go and the rest learn how long to wait", async () => {
    const a = new Redis(redis.url);
    const b = new Redis(redis.url);
    try {
      const logs = [new RedisRateLog(a, "log-test"), new RedisRateLog(b, "log-test")];
      const limit = { max: 10, perMs: 60_000 };
      const waits = await Promise.all(Array.from({ length: 25 }, (_, i) => logs[i % 2]!.take("api", limit)));
      expect(waits.filter((w) => w === 0)).toHaveLength(10);
      for (const w of waits.filter((w) => w !== 0)) {
        expect(w).toBeGreaterThan(59_000);
        expect(w).toBeLessThanOrEqual(60_025);
      }
      // The log holds the 10 calls counted, and lapses a window (and a second) after the last.
      expect(await a.zcard(rateLogKey("log-test", "api"))).toBe(10);
      expect(await a.pttl(rateLogKey("log-test", "api"))).toBeGreaterThan(60_000);
      // Another dependency has a log of its own.
      expect(await logs[0]!.take("search", limit)).toBe(0);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  it("holds max 10 per 1000 ms over the coordinator's main thread and two nodes' threads together", async () => {
    const dir = scratch();
    const nodes: NodeProcess[] = [];
    const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix: "rated", minNodes: 2 }, agents: [] });
    try {
      // Registered before start: the nodes know it before the first task reaches them.
      const api = hive.dependency("api", () => ({ at: Date.now(), from: "coordinator" }), { rateLimit: { max: 10, perMs: 1_000 } });
      nodes.push(
        await startNode(redis.url, { id: "n1", prefix: "rated", threads: 2, agents: [{ id: "a", concurrency: 2 }] }, dir.dir),
        await startNode(redis.url, { id: "n2", prefix: "rated", threads: 2, agents: [{ id: "b", concurrency: 2 }] }, dir.dir),
      );
      await hive.start();
      const began = Date.now();
      // 4 tasks × 5 calls on the nodes' threads, and 5 calls on the coordinator's main thread.
      const tasks = Array.from({ length: 4 }, () => hive.run<{ at: number; from: string }[]>({ kind: "callRated", input: { name: "api", calls: 5 } }));
      const mains = Array.from({ length: 5 }, () => api());
      const calls = [...(await Promise.all(tasks)).flat(), ...(await Promise.all(mains))];
      const took = Date.now() - began;
      expect(calls).toHaveLength(25);
      // From the coordinator and from both node processes.
      const sources = new Set(calls.map((c) => c.from));
      expect(sources.has("coordinator")).toBe(true);
      expect(sources.size).toBe(3);
      // 25 calls at 10 a second: the third ten-call window opens two seconds in.
      expect(took).toBeGreaterThanOrEqual(1_950);
      // No second holds more than 10 of them, as the API saw them: each went within 25 ms of
      // being counted, and Redis keeps each 25 ms longer than the window.
      expect(busiestWindow(calls.map((c) => c.at), 1_000)).toBeLessThanOrEqual(10);
    } finally {
      await hive.stop();
      await Promise.all(nodes.map((n) => n.stop()));
      dir.remove();
    }
  });

  it("fails fast with RATE_LIMITED on the nodes and on the main thread when the limit does not wait", async () => {
    const dir = scratch();
    const nodes: NodeProcess[] = [];
    const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix: "strict" }, agents: [] });
    try {
      const api = hive.dependency("quota", () => "ok", { rateLimit: { max: 3, perMs: 60_000, wait: false } });
      nodes.push(await startNode(redis.url, { id: "n1", prefix: "strict", threads: 1, agents: [{ id: "a" }] }, dir.dir));
      await hive.start();
      await expect(api()).resolves.toBe("ok");
      // Two calls are left of the minute: the node's thread makes them, the third is refused there.
      const calls = await hive.run<({ at: number } | { refused: string })[]>({ kind: "callRated", input: { name: "quota", calls: 3 } });
      expect(calls.map((c) => ("refused" in c ? c.refused : "went"))).toEqual(["went", "went", "RATE_LIMITED"]);
      await expect(api()).rejects.toMatchObject({
        code: "RATE_LIMITED",
        message: expect.stringMatching(/Dependency "quota" is rate limited \(3 calls per 60000 ms\): the next call may go in \d+ ms/),
      });
    } finally {
      await hive.stop();
      await Promise.all(nodes.map((n) => n.stop()));
      dir.remove();
    }
  });

  it("a main-thread call made before start waits for Redis; once the hive stops, calls fail with HIVE_STOPPED", async () => {
    const dir = scratch();
    const node = await startNode(redis.url, { id: "n1", prefix: "early", threads: 1, agents: [{ id: "a" }] }, dir.dir);
    const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix: "early" }, agents: [] });
    try {
      const api = hive.dependency("api", () => "went", { rateLimit: { max: 5, perMs: 1_000 } });
      const early = api();
      await hive.start();
      await expect(early).resolves.toBe("went");
      // It was counted in Redis, with the nodes' calls.
      const probe = new Redis(redis.url);
      expect(await probe.zcard(rateLogKey("early", "api"))).toBe(1);
      probe.disconnect();
      await hive.stop();
      await expect(api()).rejects.toMatchObject({ code: "HIVE_STOPPED", message: expect.stringContaining("the hive stopped") });
    } finally {
      await hive.stop();
      await node.stop();
      dir.remove();
    }
  });

  it("a hive that never starts fails the calls waiting for Redis with HIVE_STOPPED", async () => {
    const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix: "never" }, agents: [] });
    const api = hive.dependency("api", () => "went", { rateLimit: { max: 5, perMs: 1_000 } });
    const waiting = api();
    await hive.stop();
    await expect(waiting).rejects.toMatchObject({ code: "HIVE_STOPPED" });
  });
});
