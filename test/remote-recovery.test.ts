// Restarts around a cluster on a real Redis: the coordinator killed with SIGKILL and started
// again on its journal (the work nodes finished meanwhile is delivered, not run again), and
// Redis killed and restarted from its append-only file (nothing accepted is lost).
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHive, type HiveEvent } from "../src/index.ts";
import { type NodeProcess, redisAvailable, type RedisServer, scratch, startNode, startRedisServer, until } from "./remote-cluster.ts";

const available = redisAvailable();
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** A coordinator child process and the JSON lines it printed. */
function coordinator(args: string[]): { child: ChildProcess; lines: Record<string, unknown>[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [join(root, "test/fixtures/remote-coordinator.mjs"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: Record<string, unknown>[] = [];
  let rest = "";
  child.stdout?.on("data", (d: Buffer) => {
    rest += d.toString();
    const parts = rest.split("\n");
    rest = parts.pop()!;
    for (const p of parts) if (p.trim() !== "") lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, lines, exited };
}

describe.skipIf(!available)("remote backend: restarts", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it("a coordinator killed with SIGKILL and started again with recover delivers what the nodes ran meanwhile: every accepted task completes once, none runs twice", async () => {
    const files = scratch();
    const prefix = "restart";
    const spec = (id: string) => ({ id, prefix, agents: [{ id: "w", concurrency: 4 }], leaseMs: 2_000 });
    const nodes: NodeProcess[] = await Promise.all([startNode(redis.url, spec("n1"), files.dir), startNode(redis.url, spec("n2"), files.dir)]);
    const log = files.file("runs.log");
    const journal = files.file("journal");
    const total = 24;
    try {
      const first = coordinator([redis.url, prefix, journal, log, String(total), "submit"]);
      await until(() => first.lines.filter((l) => l["accepted"] !== undefined).length === total, 30_000, "every task accepted");
      await until(() => first.lines.filter((l) => l["ended"] !== undefined).length >= 4, 30_000, "some tasks to end");
      first.child.kill("SIGKILL");
      await first.exited;
      const endedBefore = first.lines.filter((l) => l["ended"] !== undefined).map((l) => l["ended"] as string);
      const runningAtKill = files.lines("runs.log").filter((l) => l["what"] === "start").length - endedBefore.length;
      expect(runningAtKill).toBeGreaterThan(0);
      // The nodes finish what they were running while no coordinator is up.
      await new Promise((r) => setTimeout(r, 800));
      const second = coordinator([redis.url, prefix, journal, log, String(total), "recover"]);
      expect(await second.exited).toBe(0);
      const results = second.lines.find((l) => l["results"] !== undefined)?.["results"] as Record<string, string | null>;
      expect(Object.values(results).filter((s) => s !== "completed")).toEqual([]);
      // From a caller's view no task completed twice: the second run reports only what the first had not.
      const endedAfter = second.lines.filter((l) => l["ended"] !== undefined).map((l) => l["ended"] as string);
      expect(endedAfter.filter((id) => endedBefore.includes(id))).toEqual([]);
      expect(new Set([...endedBefore, ...endedAfter]).size).toBe(total);
      // The attempts running at the kill were delivered, not run again.
      const starts = files.lines("runs.log").filter((l) => l["what"] === "start").map((l) => l["task"] as string);
      expect(starts.length).toBe(total);
      expect(new Set(starts).size).toBe(total);
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
      files.remove();
    }
  });

  it("Redis killed and restarted from its append-only file loses no accepted task: each completes once", async () => {
    const files = scratch();
    const prefix = "redis-restart";
    const spec = (id: string) => ({ id, prefix, agents: [{ id: "w", concurrency: 4 }], leaseMs: 2_000 });
    const nodes: NodeProcess[] = await Promise.all([startNode(redis.url, spec("n1"), files.dir), startNode(redis.url, spec("n2"), files.dir)]);
    const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix, minNodes: 2 }, agents: [], defaults: { retries: 0, timeoutMs: 60_000 } });
    const events: HiveEvent[] = [];
    hive.on("*" as never, (e: HiveEvent) => void events.push(e));
    try {
      await hive.start();
      const log = files.file("runs.log");
      const handles = Array.from({ length: 30 }, (_, n) => hive.submit({ kind: "work", input: { n, sleepMs: 300, log } }));
      await until(() => events.filter((e) => e.type === "task.completed").length >= 4, 30_000, "some tasks to complete");
      await redis.kill();
      await new Promise((r) => setTimeout(r, 500));
      await redis.restart();
      const settled = await Promise.allSettled(handles.map((h) => h.result));
      expect(settled.filter((s) => s.status === "rejected")).toEqual([]);
      const completed = events.filter((e) => e.type === "task.completed").map((e) => (e as { taskId: string }).taskId);
      expect(completed.length).toBe(30);
      expect(new Set(completed).size).toBe(30);
      expect(hive.stats().tasks).toMatchObject({ completed: 30, failed: 0 });
    } finally {
      await hive.stop();
      await Promise.all(nodes.map((n) => n.kill()));
      files.remove();
    }
  });
});
