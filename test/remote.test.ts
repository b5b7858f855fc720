// The remote backend on a real Redis with worker nodes in child processes (`apiary worker`):
// placement by capability across nodes, a node killed with SIGKILL mid-run, a node that comes
// back, a clean leave, timeouts and cancels that reach a handler spinning on a remote thread, and
// a kind's dispatch limit held across nodes on the handlers' own start times.
import { existsSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHive, type Hive, type HiveEvent } from "../src/index.ts";
import { busiestWindow } from "./helpers.ts";
import { type NodeProcess, redisAvailable, type RedisServer, scratch, startNode, startRedisServer, until } from "./remote-cluster.ts";

const available = redisAvailable();

describe.skipIf(!available)("remote backend on Redis", () => {
  let redis: RedisServer;
  let prefixes = 0;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.close();
  });

  async function untilAsync(predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await predicate())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** A fresh cluster (its own key prefix on the shared Redis), its nodes, a coordinator and what it published. */
  async function cluster(specs: Parameters<typeof startNode>[1][], hiveOptions: Record<string, unknown> = {}) {
    const prefix = `t${++prefixes}`;
    const files = scratch();
    const nodes: NodeProcess[] = await Promise.all(specs.map((s) => startNode(redis.url, { ...s, prefix }, files.dir)));
    const { checkMs, ...rest } = hiveOptions as { checkMs?: number };
    const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix, minNodes: specs.length, ...(checkMs !== undefined ? { checkMs } : {}) }, agents: [], ...rest });
    const events: HiveEvent[] = [];
    hive.on("*" as never, (e: HiveEvent) => void events.push(e));
    await hive.start();
    const close = async (): Promise<void> => {
      await hive.stop();
      await Promise.all(nodes.map((n) => n.kill()));
      files.remove();
    };
    return { prefix, files, nodes, hive, events, close };
  }

  it("places tasks by capability on the nodes that have it; explain names the node", async () => {
    const c = await cluster([
      { id: "n1", agents: [{ id: "cpu", capabilities: { cpu: 1 }, concurrency: 4 }] },
      { id: "n2", agents: [{ id: "gpu", capabilities: { gpu: 1 }, concurrency: 4 }] },
    ]);
    try {
      expect(c.hive.stats().agents.map((a) => a.id).sort()).toEqual(["n1/cpu", "n2/gpu"]);
      expect(c.hive.stats().backend).toBe("remote");
      const cpu = Array.from({ length: 12 }, (_, n) => c.hive.submit<{ agent: string; pid: number }>({ kind: "work", input: { n }, requires: { cpu: 0.5 } }));
      const gpu = Array.from({ length: 12 }, (_, n) => c.hive.submit<{ agent: string; pid: number }>({ kind: "work", input: { n }, requires: { gpu: 0.5 } }));
      const cpuOut = await Promise.all(cpu.map((h) => h.result));
      const gpuOut = await Promise.all(gpu.map((h) => h.result));
      expect(new Set(cpuOut.map((o) => o.agent))).toEqual(new Set(["cpu"]));
      expect(new Set(gpuOut.map((o) => o.agent))).toEqual(new Set(["gpu"]));
      expect(new Set(cpuOut.map((o) => o.pid)).size).toBe(1);
      expect(cpuOut[0]!.pid).not.toBe(gpuOut[0]!.pid);
      expect(c.hive.explain(cpu[0]!.id)?.winner?.agentId).toBe("n1/cpu");
      expect(c.hive.explain(gpu[0]!.id)?.winner?.agentId).toBe("n2/gpu");
      // A handler's error comes back with its name and message.
      const failed = await c.hive.run({ kind: "fail", requires: { cpu: 0.5 } }).catch((e: unknown) => e);
      expect(failed).toMatchObject({ code: "TASK_FAILED", cause: { name: "RangeError", message: "remote boom" } });
      // Kinds come from the nodes' task module.
      expect(() => c.hive.submit({ kind: "nope" })).toThrow(/kind/);
    } finally {
      await c.close();
    }
  });

  it("when a node is killed mid-run its tasks finish on another node: none lost, none ends twice, no retry spent; it joins again when it comes back", async () => {
    const spec = (id: string) => ({ id, agents: [{ id: "w", capabilities: { work: 1 }, concurrency: 4 }], leaseMs: 1_000 });
    const c = await cluster([spec("n1"), spec("n2")], { defaults: { retries: 0, timeoutMs: 30_000 } });
    try {
      const log = c.files.file("runs.log");
      const handles = Array.from({ length: 40 }, (_, n) => c.hive.submit<{ pid: number }>({ kind: "work", input: { n, sleepMs: 150, log }, requires: { work: 1 } }));
      const n1 = c.nodes[0]!;
      await until(() => c.files.lines("runs.log").some((l) => l["pid"] === n1.child.pid), 20_000, "a run on n1");
      await n1.kill();
      const settled = await Promise.allSettled(handles.map((h) => h.result));
      expect(settled.filter((s) => s.status === "rejected")).toEqual([]);
      const completed = c.events.filter((e) => e.type === "task.completed").map((e) => (e as { taskId: string }).taskId);
      expect(completed.length).toBe(40);
      expect(new Set(completed).size).toBe(40);
      const crashed = c.events.filter((e) => e.type === "agent.crashed");
      expect(crashed).toEqual([expect.objectContaining({ agentId: "n1/w", reason: expect.stringContaining("lost its lease") })]);
      expect(c.events.some((e) => e.type === "agent.removed" && (e as { agentId: string }).agentId === "n1/w")).toBe(true);
      const stats = c.hive.stats().tasks;
      expect(stats).toMatchObject({ completed: 40, failed: 0, deadLettered: 0 });
      // The coordinator cleans up after the dead incarnation: stalled check, then the queue goes.
      const incarnation = /incarnation (\w+)/.exec(n1.output())![1]!;
      const client = new Redis(redis.url);
      try {
        await untilAsync(async () => (await client.keys(`${c.prefix}:node.n1.${incarnation}:*`)).length === 0, 30_000, "the dead queue to be deleted");
      } finally {
        client.disconnect();
      }
      // It comes back (same id, a new incarnation) and gets work again.
      const again = await startNode(redis.url, { ...spec("n1"), prefix: c.prefix }, c.files.dir);
      c.nodes.push(again);
      // Added twice in all: when the hive started, and now (the node may be in before startNode resolves).
      await until(() => c.events.filter((e) => e.type === "agent.added" && (e as { agentId: string }).agentId === "n1/w").length === 2, 20_000, "n1/w to join again");
      const later = await Promise.all(Array.from({ length: 16 }, (_, n) => c.hive.run<{ pid: number }>({ kind: "work", input: { n, sleepMs: 50 }, requires: { work: 1 } })));
      expect(later.some((o) => o.pid === again.child.pid)).toBe(true);
    } finally {
      await c.close();
    }
  });

  it("a node that leaves cleanly finishes its running attempts first; its agents leave without a crash", async () => {
    const c = await cluster([{ id: "n1", agents: [{ id: "w", capabilities: { work: 1 }, concurrency: 4 }] }, { id: "n2", agents: [{ id: "w", capabilities: { work: 1 }, concurrency: 4 }] }]);
    try {
      const log = c.files.file("runs.log");
      const handles = Array.from({ length: 8 }, (_, n) => c.hive.submit({ kind: "work", input: { n, sleepMs: 400, log }, requires: { work: 1 } }));
      const n1 = c.nodes[0]!;
      await until(() => c.files.lines("runs.log").some((l) => l["pid"] === n1.child.pid), 20_000, "a run on n1");
      expect(await n1.stop()).toBe(0);
      await Promise.all(handles.map((h) => h.result));
      expect(c.events.filter((e) => e.type === "agent.crashed")).toEqual([]);
      expect(c.events.some((e) => e.type === "agent.removed" && (e as { agentId: string }).agentId === "n1/w")).toBe(true);
      // Every run on n1 that started also ended there: nothing was cut short.
      const onN1 = c.files.lines("runs.log").filter((l) => l["pid"] === n1.child.pid);
      expect(onN1.filter((l) => l["what"] === "end").length).toBe(onN1.filter((l) => l["what"] === "start").length);
      expect(n1.output()).toContain("left after");
    } finally {
      await c.close();
    }
  });

  it("a timeout reaches the remote thread: a polite handler sees its signal, one that spins is terminated after the grace period, and the node goes on", async () => {
    const c = await cluster([{ id: "n1", agents: [{ id: "w", concurrency: 2 }] }], { abortGraceMs: 200 });
    try {
      const marker = c.files.file("polite.marker");
      const polite = await c.hive.run({ kind: "politeSpin", input: { marker }, timeoutMs: 300 }).catch((e: unknown) => e);
      expect(polite).toMatchObject({ code: "TASK_TIMEOUT", message: expect.stringContaining("timed out after 300 ms") });
      await until(() => existsSync(marker), 10_000, "the abort to reach the thread");
      const spin = await c.hive.run({ kind: "spin", timeoutMs: 300 }).catch((e: unknown) => e);
      expect(spin).toMatchObject({ code: "TASK_TIMEOUT" });
      expect(await c.hive.run<{ agent: string }>({ kind: "work", input: { n: 1 } })).toMatchObject({ agent: "w" });
    } finally {
      await c.close();
    }
  });

  it("ctx.dependency in a node's thread obeys the coordinator's breaker: its calls count there, and an open circuit fails fast on the node", async () => {
    const c = await cluster([{ id: "n1", agents: [{ id: "w", concurrency: 2 }] }], { checkMs: 50 });
    try {
      c.hive.dependency("db", () => "main-thread call", { consecutiveFailures: 2, resetTimeoutMs: 60_000 });
      // The breaker's name reaches the node with the next mirror of the states.
      let state: unknown;
      for (let i = 0; i < 100 && state !== "closed"; i++) {
        state = await c.hive.run({ kind: "depState", input: { name: "db" } }).catch(() => undefined);
        if (state !== "closed") await new Promise((r) => setTimeout(r, 50));
      }
      expect(state).toBe("closed");
      expect(await c.hive.run({ kind: "useDep", input: { name: "db" } })).toBe("dependency ok");
      for (let i = 0; i < 2; i++) await expect(c.hive.run({ kind: "useDep", input: { name: "db", fail: true } })).rejects.toMatchObject({ code: "TASK_FAILED" });
      // The failures came back with the outcomes: the coordinator's breaker opened.
      expect(c.hive.stats().breakers.find((b) => b.name === "db")?.state).toBe("open");
      for (let i = 0; i < 100 && state !== "open"; i++) {
        state = await c.hive.run({ kind: "depState", input: { name: "db" } });
        if (state !== "open") await new Promise((r) => setTimeout(r, 50));
      }
      expect(state).toBe("open");
      const fast = await c.hive.run({ kind: "useDep", input: { name: "db" } }).catch((e: unknown) => e);
      expect(fast).toMatchObject({ code: "TASK_FAILED", cause: { code: "CIRCUIT_OPEN" } });
    } finally {
      await c.close();
    }
  });

  it("paces a limited kind across nodes: no window of perMs holds more than max starts, as the handlers saw them; a start counts once reported, before the outcome", async () => {
    const spec = (id: string) => ({ id, agents: [{ id: "w", concurrency: 3 }], threads: 3 });
    const c = await cluster([spec("n1"), spec("n2")], { limits: { work: { max: 3, perMs: 1_000 } } });
    try {
      const log = c.files.file("runs.log");
      const handles = Array.from({ length: 9 }, (_, n) => c.hive.submit({ kind: "work", input: { n, sleepMs: 1_500, log } }));
      await Promise.all(handles.map((h) => h.result));
      // When each handler began, by its own process's clock (one machine: one epoch).
      const began = c.files.lines("runs.log").filter((l) => l["what"] === "start").map((l) => l["at"] as number);
      expect(began).toHaveLength(9);
      // And when the coordinator says each attempt started (task.started, on the hive clock).
      const started = c.events.filter((e) => e.type === "task.started").map((e) => (e as { at: number }).at);
      expect(started).toHaveLength(9);
      expect(busiestWindow(began, 1_000)).toBeLessThanOrEqual(3);
      expect(busiestWindow(started, 1_000)).toBeLessThanOrEqual(3);
      // Three windows' worth: the last three began at least two windows after the first.
      expect(Math.max(...began) - Math.min(...began)).toBeGreaterThanOrEqual(2_000);
      // The second window's attempts began while the first's still ran: a node reports a start
      // (after 250 ms of it) ahead of its outcome, and the window counts it from there.
      const ended = c.files.lines("runs.log").filter((l) => l["what"] === "end").map((l) => l["at"] as number);
      expect([...began].sort((a, b) => a - b)[3]!).toBeLessThan(Math.min(...ended));
      expect(new Set(c.files.lines("runs.log").map((l) => l["pid"])).size).toBe(2);
    } finally {
      await c.close();
    }
  });

  it("turns a short window as fast as its starts arrive: a node reports a limited kind's start at once, not after 250 ms", async () => {
    const spec = (id: string) => ({ id, agents: [{ id: "w", concurrency: 5 }], threads: 5 });
    const c = await cluster([spec("n1"), spec("n2")], { limits: { work: { max: 2, perMs: 100 } } });
    try {
      const log = c.files.file("runs.log");
      const handles = Array.from({ length: 10 }, (_, n) => c.hive.submit({ kind: "work", input: { n, sleepMs: 1_500, log } }));
      await Promise.all(handles.map((h) => h.result));
      const began = c.files.lines("runs.log").filter((l) => l["what"] === "start").map((l) => l["at"] as number).sort((a, b) => a - b);
      expect(began).toHaveLength(10);
      // Five windows' worth: at least four windows from the first start to the last...
      const span = began[9]! - began[0]!;
      expect(span).toBeGreaterThanOrEqual(390);
      // ...and not a report delay per window: with starts reported after 250 ms of a run the
      // five pairs took 250 ms and a round trip each (1,039 ms measured; 428 ms reported at once).
      expect(span).toBeLessThan(900);
      // No 100 ms holds three of them (a few ms allowed for the threads' clocks).
      for (let i = 2; i < began.length; i++) expect(began[i]! - began[i - 2]!).toBeGreaterThanOrEqual(95);
    } finally {
      await c.close();
    }
  });

  it("cancel reaches the handler on its node", async () => {
    const c = await cluster([{ id: "n1", agents: [{ id: "w", concurrency: 2 }] }]);
    try {
      const marker = c.files.file("cancel.marker");
      const log = c.files.file("runs.log");
      const handle = c.hive.submit({ kind: "politeSpin", input: { marker, log }, timeoutMs: 60_000 });
      await until(() => c.files.lines("runs.log").length > 0, 20_000, "the handler to start");
      handle.cancel("changed my mind");
      await expect(handle.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
      await until(() => existsSync(marker), 10_000, "the cancel to reach the thread");
    } finally {
      await c.close();
    }
  });
});

describe("remote backend options", () => {
  it("needs a remote option with a Redis URL, and agents only elsewhere", () => {
    expect(() => createHive({ backend: "remote", agents: [] })).toThrow(/"remote" must be an object \{ redis, \.\.\. \} with backend "remote"/);
    expect(() => createHive({ backend: "remote", remote: { redis: "http://x" }, agents: [] })).toThrow(/"remote.redis" must be a redis:\/\/ or rediss:\/\/ URL, received "http:\/\/x"/);
    expect(() => createHive({ remote: { redis: "redis://x" }, agents: [{ id: "a" }] })).toThrow(/"remote" is only for backend "remote"/);
    expect(() => createHive({ agents: [] })).toThrow(/"agents" must list at least one agent/);
    expect(() => createHive({ backend: "remote", remote: { redis: "redis://127.0.0.1:1", prefix: "a:b" }, agents: [] })).toThrow(/"remote.prefix" must be a string of letters/);
  });

  it.skipIf(!available)("start() gives up with WAIT_TIMEOUT when no node joins in time", async () => {
    const redis = await startRedisServer();
    let hive: Hive | undefined;
    try {
      hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix: "empty" }, agents: [], startTimeoutMs: 500 });
      await expect(hive.start()).rejects.toMatchObject({ code: "WAIT_TIMEOUT", message: expect.stringContaining("0 of 1 worker node(s) joined within 500 ms") });
    } finally {
      await hive?.stop();
      await redis.close();
    }
  });
});
