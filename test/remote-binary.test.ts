// Binary data and pool settings with the remote backend, on a real Redis with a worker node in
// this process: jobs are JSON, so binary inputs are refused at submit and binary results fail
// their task instead of arriving as {}; a node's own pool settings reach its handlers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHive, startWorkerNode } from "../src/index.ts";
import { redisAvailable, type RedisServer, REMOTE_TASKS, startRedisServer } from "./remote-cluster.ts";

describe.skipIf(!redisAvailable())("remote backend: binary data and node pool settings", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it("refuses binary inputs, fails binary results, and hands the node's workerData and env to its threads", async () => {
    const node = await startWorkerNode({
      redis: redis.url,
      prefix: "binary",
      id: "n1",
      agents: [{ id: "a", concurrency: 2 }],
      tasks: REMOTE_TASKS,
      minThreads: 1,
      maxThreads: 2,
      workerData: { zone: "b" },
      env: { APIARY_NODE_VARIABLE: "on the node" },
    });
    const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix: "binary" }, agents: [] });
    try {
      await hive.start();
      const bytes = new Uint8Array(8);
      expect(() => hive.submit({ kind: "work", input: { bytes } })).toThrow(
        expect.objectContaining({ code: "INVALID_TASK", message: expect.stringContaining('"input" must be JSON data with backend "remote"') }),
      );
      // Nor anything else JSON would change on the way: a Map, a Date, NaN.
      expect(() => hive.submit({ kind: "work", input: { seen: new Map([["a", 1]]) } })).toThrow(/"input\.seen" must be JSON data with backend "remote" .*, received a Map/);
      expect(() => hive.submit({ kind: "work", input: { at: new Date(0) } })).toThrow(/"input\.at" must be JSON data with backend "remote" .*, received a Date/);
      expect(() => hive.submit({ kind: "work", input: { n: Number.NaN } })).toThrow(/"input\.n" must be JSON data with backend "remote" .*, received NaN/);
      expect(() => hive.submit({ kind: "work", input: bytes, transfer: [bytes] })).toThrow(
        /"input" must be JSON data with backend "remote" \(jobs travel to worker nodes as JSON\), received one with "transfer"/,
      );
      await expect(hive.run({ kind: "bytes" })).rejects.toMatchObject({ code: "TASK_FAILED", message: expect.stringContaining("it holds an ArrayBuffer or typed array") });
      await expect(hive.run({ kind: "settings" })).resolves.toEqual({ workerData: { zone: "b" }, variable: "on the node" });
    } finally {
      await hive.stop();
      await node.stop();
    }
  });

  it("validates a node's pool settings, naming the field", async () => {
    await expect(startWorkerNode({ redis: redis.url, agents: [{ id: "a" }], threads: 2, maxThreads: 3 })).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining('"maxThreads" must not be set with "threads"'),
    });
  });
});
