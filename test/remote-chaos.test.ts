// Every accepted task ends exactly once on a cluster under faults: a seeded mix of tasks that
// succeed, throw, time out (a spinning handler), are cancelled or retried, on three worker nodes
// of which one is killed with SIGKILL mid-run and started again, and another leaves cleanly.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHive, createRandom, type HiveEvent, type TaskHandle } from "../src/index.ts";
import { type NodeProcess, redisAvailable, type RedisServer, scratch, startNode, startRedisServer, until } from "./remote-cluster.ts";

const available = redisAvailable();
const TERMINAL = new Set(["task.completed", "task.failed", "task.cancelled", "task.deadLettered", "task.shed"]);

describe.skipIf(!available)("remote backend under faults", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it("ends every accepted task exactly once while nodes die, come back and leave", async () => {
    const files = scratch();
    const prefix = "chaos";
    const spec = (id: string) => ({ id, prefix, agents: [{ id: "w", capabilities: { work: 1 }, concurrency: 4 }], leaseMs: 1_000 });
    const nodes: NodeProcess[] = await Promise.all(["n1", "n2", "n3"].map((id) => startNode(redis.url, spec(id), files.dir)));
    const hive = createHive({
      backend: "remote",
      remote: { redis: redis.url, prefix, minNodes: 3 },
      agents: [],
      abortGraceMs: 200,
      defaults: { retries: 1, timeoutMs: 10_000 },
      retry: { minMs: 10, maxMs: 50 },
      supervision: { maxRestarts: 100 },
    });
    const ends = new Map<string, number>();
    hive.on("*" as never, (e: HiveEvent) => {
      if (TERMINAL.has(e.type)) {
        const id = (e as { taskId: string }).taskId;
        ends.set(id, (ends.get(id) ?? 0) + 1);
      }
    });
    const random = createRandom(7);
    const handles: TaskHandle[] = [];
    const settledTimes = new Map<string, number>();
    try {
      await hive.start();
      const submit = (n: number): void => {
        const r = random.next();
        const task = r < 0.6
          ? { kind: "work", input: { n, sleepMs: Math.floor(random.next() * 150) }, requires: { work: 1 } }
          : r < 0.75
          ? { kind: "fail", requires: { work: 1 } }
          : r < 0.85
          ? { kind: "politeSpin", timeoutMs: 150, retries: 0, requires: { work: 1 } }
          : { kind: "work", input: { n, sleepMs: 2_000 }, requires: { work: 1 } };
        const h = hive.submit(task);
        handles.push(h);
        h.result.then(() => settledTimes.set(h.id, (settledTimes.get(h.id) ?? 0) + 1), () => settledTimes.set(h.id, (settledTimes.get(h.id) ?? 0) + 1));
        if (r >= 0.85 && random.next() < 0.5) setTimeout(() => h.cancel("chaos"), Math.floor(random.next() * 1_500));
      };
      for (let n = 0; n < 80; n++) submit(n);
      await until(() => ends.size >= 10, 30_000, "some tasks to end");
      await nodes[0]!.kill();
      for (let n = 80; n < 140; n++) submit(n);
      nodes[0] = await startNode(redis.url, spec("n1"), files.dir);
      const leaving = nodes[1]!.stop();
      for (let n = 140; n < 200; n++) submit(n);
      await leaving;
      await Promise.allSettled(handles.map((h) => h.result));
      await hive.drain();
      const stats = hive.stats().tasks;
      expect(stats.accepted).toBe(200);
      expect(stats.completed + stats.failed + stats.cancelled + stats.deadLettered + stats.shed).toBe(200);
      expect(stats.queued + stats.running).toBe(0);
      expect([...ends.values()].filter((n) => n !== 1)).toEqual([]);
      expect(ends.size).toBe(200);
      expect([...settledTimes.values()].filter((n) => n !== 1)).toEqual([]);
      expect(settledTimes.size).toBe(200);
      expect(stats.completed).toBeGreaterThan(100);
    } finally {
      await hive.stop();
      await Promise.all(nodes.map((n) => n.kill()));
      files.remove();
    }
  });
});
