// Guards on the task path: per-agent circuit breakers, named dependencies (from the main thread
// and from handlers in threads) and the result cache.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { createHive, createMemoryStore, type Hive, type HiveEvent, type HiveOptions } from "../src/index.ts";
import { fixtureTasks, settle } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  for (const h of hives.splice(0)) await h.stop();
});

async function started(options: Partial<HiveOptions> = {}): Promise<Hive> {
  const hive = createHive({ tasks: fixtureTasks, backend: "inline", agents: [{ id: "a" }], ...options });
  hives.push(hive);
  await hive.start();
  return hive;
}

function record(hive: Hive): HiveEvent[] {
  const events: HiveEvent[] = [];
  hive.on("*", (e) => events.push(e));
  return events;
}

describe("per-agent circuit breakers", () => {
  it("stops giving work to an agent that fails where the others succeed, lets the other take it, and closes after a successful probe", async () => {
    const clock = new SimulatedClock();
    const hive = await started({
      clock,
      agents: [
        { id: "a", capabilities: { onlyA: 1, work: 1 } },
        { id: "b", capabilities: { onlyB: 1, work: 1 } },
      ],
      breaker: { consecutiveFailures: 2, resetTimeoutMs: 10_000 },
    });
    const events = record(hive);
    // The same kind succeeds on b: the evidence that a's failures are a's own.
    for (let i = 0; i < 20; i++) await expect(hive.run({ kind: "brokenOn", input: { agent: "a" }, requires: { onlyB: 1 } })).resolves.toBe("b");
    for (let i = 0; i < 5; i++) {
      await expect(hive.run({ kind: "brokenOn", input: { agent: "a" }, requires: { onlyA: 1 } })).rejects.toMatchObject({ code: "TASK_FAILED" });
    }
    await settle();
    const a = () => hive.stats().breakers.find((b) => b.scope === "agent" && b.name === "a")!;
    // Until a's failures are too many to be chance at b's rate (1 in 22), they are the tasks'.
    expect(a()).toMatchObject({ state: "open", failures: 2, opened: 1, lastOpenedAt: 0 });
    const blames = events.filter((e) => e.type === "task.deadLettered").map((e) => (e as { blame?: { to: string } }).blame?.to);
    expect(blames).toEqual(["task", "task", "task", "agent", "agent"]);

    const outs = await Promise.all([1, 2, 3, 4].map((n) => hive.run({ kind: "double", input: { n }, requires: { work: 1 } })));
    expect(outs).toEqual([2, 4, 6, 8]);
    await settle();
    const ranOn = events.filter((e) => e.type === "task.completed" && (e as { kind: string }).kind === "double").map((e) => (e as { agentId?: string }).agentId);
    expect(ranOn).toEqual(["b", "b", "b", "b"]);

    // Only "a" can run this one: it waits until the breaker lets a probe through.
    const probe = hive.submit({ kind: "double", input: { n: 21 }, requires: { onlyA: 1 } });
    await settle();
    expect(hive.stats().tasks.queued).toBe(1);
    clock.increment(10_000);
    await expect(probe.result).resolves.toBe(42);
    await settle();
    expect(a().state).toBe("closed");
    const transitions = events.filter((e) => e.type === "breaker.transition");
    expect(transitions).toEqual([
      { type: "breaker.transition", scope: "agent", name: "a", from: "closed", to: "open", reason: "consecutive-failures", at: 0 },
      { type: "breaker.transition", scope: "agent", name: "a", from: "open", to: "halfOpen", reason: "reset-timeout", at: 10_000 },
      { type: "breaker.transition", scope: "agent", name: "a", from: "halfOpen", to: "closed", reason: "probe-succeeded", at: 10_000 },
    ]);
  });

  it("reopens when the probe fails, and counts a failure that is retried against the agent that ran it", async () => {
    const clock = new SimulatedClock();
    const hive = await started({
      clock,
      agents: [{ id: "a", capabilities: { onlyA: 1 } }, { id: "b", capabilities: { onlyB: 1 } }],
      breaker: { consecutiveFailures: 2, resetTimeoutMs: 500 },
      retry: { minMs: 0 },
    });
    for (let i = 0; i < 20; i++) await hive.run({ kind: "brokenOn", input: { agent: "a" }, requires: { onlyB: 1 } });
    await expect(hive.run({ kind: "brokenOn", input: { agent: "a" }, requires: { onlyA: 1 }, retries: 4 })).rejects.toMatchObject({ code: "TASK_FAILED" });
    await settle();
    const a = () => hive.stats().breakers.find((b) => b.name === "a")!;
    expect(a()).toMatchObject({ state: "open", failures: 2 });
    const probe = hive.submit({ kind: "brokenOn", input: { agent: "a" }, requires: { onlyA: 1 } });
    clock.increment(500);
    await expect(probe.result).rejects.toMatchObject({ code: "TASK_FAILED" });
    await settle();
    expect(a()).toMatchObject({ state: "open", opened: 2, lastOpenedAt: 500 });
    expect(hive.stats().breakers.find((b) => b.name === "b")).toMatchObject({ state: "closed", failures: 0 });
  });

  it("never opens an agent's breaker for a task that fails on every agent (a poison task is the task's fault)", async () => {
    const hive = await started({ agents: [{ id: "a", concurrency: 2 }, { id: "b", concurrency: 2 }], breaker: { consecutiveFailures: 2 }, retry: { minMs: 0 } });
    const events = record(hive);
    const runs = await Promise.allSettled(Array.from({ length: 20 }, () => hive.run({ kind: "fail", retries: 1 })));
    expect(runs.every((r) => r.status === "rejected" && (r.reason as { code: string }).code === "TASK_FAILED")).toBe(true);
    await settle();
    expect(hive.stats().breakers.map((b) => [b.name, b.state, b.failures])).toEqual([["a", "closed", 0], ["b", "closed", 0]]);
    expect(events.some((e) => e.type === "agent.crashed")).toBe(false);
    expect(hive.stats().tasks).toMatchObject({ deadLettered: 20, failed: 0 });
  });

  it("rejects invalid breaker options with INVALID_OPTIONS naming the field, and `breaker: false` turns them off", async () => {
    expect(() => createHive({ agents: [{ id: "a" }], breaker: { resetTimeoutMs: 0 } })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"breaker.resetTimeoutMs" must be a positive integer, received 0') }),
    );
    expect(() => createHive({ agents: [{ id: "a" }], breaker: { failureThreshold: 3 } as never })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"breaker.failureThreshold" is not a known option') }),
    );
    const hive = await started({ breaker: false });
    for (let i = 0; i < 6; i++) await expect(hive.run({ kind: "fail" })).rejects.toMatchObject({ code: "TASK_FAILED" });
    expect(hive.stats().breakers).toEqual([]);
    await expect(hive.run({ kind: "double", input: { n: 1 } })).resolves.toBe(2);
  });
});

describe("named dependencies", () => {
  it("guards a main-thread function: fails fast with CIRCUIT_OPEN while open, half-opens on the hive clock, closes on success", async () => {
    const clock = new SimulatedClock();
    const hive = await started({ clock });
    const events = record(hive);
    let calls = 0;
    let down = true;
    const geo = hive.dependency("geo", async (q: string) => {
      calls++;
      if (down) throw new Error("geo down");
      return `geo(${q})`;
    }, { consecutiveFailures: 2, resetTimeoutMs: 1_000 });
    await expect(geo("x")).rejects.toThrow("geo down");
    await expect(geo("x")).rejects.toThrow("geo down");
    await expect(geo("x")).rejects.toMatchObject({ code: "CIRCUIT_OPEN" });
    expect(calls).toBe(2);
    down = false;
    clock.increment(1_000);
    await expect(geo("y")).resolves.toBe("geo(y)");
    await settle();
    expect(hive.stats().breakers.find((b) => b.scope === "dependency")).toMatchObject({ name: "geo", state: "closed", failures: 2, successes: 1, rejected: 1, opened: 1, lastOpenedAt: 0 });
    expect(events.filter((e) => e.type === "breaker.transition").map((e) => (e as { to: string }).to)).toEqual(["open", "halfOpen", "closed"]);

    const withFallback = hive.dependency("llm", () => Promise.reject(new Error("llm down")), { consecutiveFailures: 1, fallback: (e) => `cached answer (${e.code})` });
    await expect(withFallback()).rejects.toThrow("llm down");
    await expect(withFallback()).resolves.toBe("cached answer (CIRCUIT_OPEN)");
  });

  it("rejects a bad name, a taken name and bad options with INVALID_OPTIONS, and keeps running", async () => {
    const hive = await started();
    hive.dependency("geo", () => 1);
    expect(() => hive.dependency("", () => 1)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"name" must be a non-empty string') }));
    expect(() => hive.dependency("geo", () => 1)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('must be unique in the hive, received "geo"') }));
    expect(() => hive.dependency("x", () => 1, { resetTimeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"resetTimeoutMs" must be a positive integer, received -1') }),
    );
    await expect(hive.run({ kind: "double", input: { n: 2 } })).resolves.toBe(4);
  });

  it("does not crash an agent for failing fast on an open dependency circuit", async () => {
    const clock = new SimulatedClock();
    const hive = await started({ clock, backend: "inline", agents: [{ id: "a", concurrency: 1 }], supervision: { failAfter: 2 }, breaker: false });
    hive.dependency("geo", () => "unused", { consecutiveFailures: 1, resetTimeoutMs: 60_000 });
    await expect(hive.run({ kind: "useDep", input: { name: "geo", fail: true } })).rejects.toMatchObject({ code: "TASK_FAILED" });
    for (let i = 0; i < 5; i++) {
      await expect(hive.run({ kind: "useDep", input: { name: "geo" } })).rejects.toMatchObject({ cause: expect.objectContaining({ code: "CIRCUIT_OPEN" }) });
    }
    expect(hive.stats().agents[0]).toMatchObject({ status: "up", restarts: 0 });
    expect(hive.stats().degraded).toBeNull();
  });

  for (const backend of ["inline", "piscina", "comlink"] as const) {
    it(`lets handlers on ${backend} use the main thread's breaker: outcomes trip it, open fails fast in the thread, a probe closes it`, async () => {
      const clock = new SimulatedClock();
      const hive = await started({ clock, backend, threads: 2, agents: [{ id: "a", concurrency: 2 }] });
      hive.dependency("geo", () => "unused on the main thread", { consecutiveFailures: 2, resetTimeoutMs: 1_000 });
      const dep = () => hive.stats().breakers.find((b) => b.name === "geo")!;
      await expect(hive.run({ kind: "depState", input: { name: "geo" } })).resolves.toBe("closed");
      for (let i = 0; i < 2; i++) {
        await expect(hive.run({ kind: "useDep", input: { name: "geo", fail: true } })).rejects.toMatchObject({ code: "TASK_FAILED", cause: expect.objectContaining({ message: "dependency down" }) });
      }
      expect(dep()).toMatchObject({ state: "open", failures: 2 });
      await expect(hive.run({ kind: "depState", input: { name: "geo" } })).resolves.toBe("open");
      await expect(hive.run({ kind: "useDep", input: { name: "geo" } })).rejects.toMatchObject({ code: "TASK_FAILED", cause: expect.objectContaining({ code: "CIRCUIT_OPEN" }) });
      await expect(hive.run({ kind: "useDep", input: { name: "geo", fallback: true } })).resolves.toBe("fallback (CIRCUIT_OPEN)");
      expect(dep().rejected).toBe(2);
      clock.increment(1_000);
      await expect(hive.run({ kind: "useDep", input: { name: "geo" } })).resolves.toBe("dependency ok");
      expect(dep()).toMatchObject({ state: "closed", successes: 1 });
      await expect(hive.run({ kind: "useDep", input: { name: "nope" } })).rejects.toMatchObject({ cause: expect.objectContaining({ message: expect.stringContaining('Unknown dependency "nope"') }) });
      // A dependency outage is not the agent's fault: its breaker stays closed.
      expect(hive.stats().breakers.find((b) => b.name === "a")).toMatchObject({ state: "closed" });
    });
  }
});

describe("dependency probes across threads", () => {
  it("hands a half-open probe token out again when the thread holding it never reports", async () => {
    const clock = new SimulatedClock();
    const hive = await started({ clock, agents: [{ id: "a", concurrency: 4 }] });
    hive.dependency("geo", () => 0, { consecutiveFailures: 1, resetTimeoutMs: 1_000 });
    await expect(hive.run({ kind: "useDep", input: { name: "geo", fail: true } })).rejects.toMatchObject({ code: "TASK_FAILED" });
    clock.increment(1_000);
    hive.submit({ kind: "depHang", input: { name: "geo" }, timeoutMs: 100_000 }); // takes the only probe token, never reports
    await settle();
    await expect(hive.run({ kind: "useDep", input: { name: "geo" } })).rejects.toMatchObject({
      cause: expect.objectContaining({ code: "CIRCUIT_OPEN", message: expect.stringContaining("half-open") }),
    });
    clock.increment(1_000);
    await expect(hive.run({ kind: "useDep", input: { name: "geo" } })).resolves.toBe("dependency ok");
    expect(hive.stats().breakers.find((b) => b.name === "geo")?.state).toBe("closed");
  });
});

describe("result cache on the task path", () => {
  it("serves a stale entry within staleWhileRevalidateMs while the task re-runs in the background", async () => {
    const clock = new SimulatedClock();
    const hive = await started({ clock, cache: { ttlMs: 100, staleWhileRevalidateMs: 1_000 } });
    await hive.run({ kind: "double", input: { n: 1 }, cacheKey: "one" });
    clock.increment(500);
    await expect(hive.run({ kind: "double", input: { n: 2 }, cacheKey: "one" })).resolves.toBe(2);
    await settle();
    expect(hive.stats().tasks.completed).toBe(2);
    expect(hive.stats().cache.stale).toBe(1);
    await expect(hive.run({ kind: "double", input: { n: 3 }, cacheKey: "one" })).resolves.toBe(4);
  });

  it("answers a repeated cached task from the cache and runs identical in-flight tasks once", async () => {
    const hive = await started();
    const events = record(hive);
    const outs = await Promise.all([1, 2, 3].map(() => hive.run({ kind: "double", input: { n: 5 }, cache: true })));
    expect(outs).toEqual([10, 10, 10]);
    expect(hive.stats().tasks.submitted).toBe(1);
    await expect(hive.run({ kind: "double", input: { n: 5 }, cache: true })).resolves.toBe(10);
    expect(hive.stats().tasks.submitted).toBe(1);
    await expect(hive.run({ kind: "double", input: { n: 6 }, cache: true })).resolves.toBe(12);
    expect(hive.stats().tasks.submitted).toBe(2);
    expect(hive.stats().cache).toMatchObject({ hits: 1, misses: 4, coalesced: 2, size: 2 });
    await settle();
    expect(events.filter((e) => e.type === "cache.miss").map((e) => (e as { coalesced: boolean }).coalesced)).toEqual([false, true, true, false]);
    expect(events.filter((e) => e.type === "cache.hit")).toHaveLength(1);
  });

  it("expires entries after ttlMs on the hive clock and invalidates by key, prefix and tag", async () => {
    const clock = new SimulatedClock();
    const hive = await started({ clock, cache: { ttlMs: 1_000 } });
    await hive.run({ kind: "double", input: { n: 1 }, cache: true });
    clock.increment(999);
    await hive.run({ kind: "double", input: { n: 1 }, cache: true });
    expect(hive.stats().tasks.submitted).toBe(1);
    clock.increment(1);
    await hive.run({ kind: "double", input: { n: 1 }, cache: true });
    expect(hive.stats().tasks.submitted).toBe(2);

    await hive.run({ kind: "double", input: { n: 2 }, cacheKey: "user.1.a" });
    await hive.run({ kind: "double", input: { n: 3 }, cacheKey: "user.1.b" });
    await hive.run({ kind: "double", input: { n: 4 }, cache: { tags: ["reports"] } });
    await hive.run({ kind: "double", input: { n: 5 }, cache: { tags: ["reports"], ttlMs: 5 } });
    expect(hive.invalidate({ prefix: "user.1." })).toBe(2);
    expect(hive.invalidate({ tag: "reports" })).toBe(2);
    expect(hive.invalidate({ key: "double:nope" })).toBe(0);
    expect(hive.stats().cache.size).toBe(1);
  });

  it("persists to the store on stop and warms from it on start (memory and file stores)", async () => {
    const store = createMemoryStore();
    const first = await started({ store });
    await first.run({ kind: "double", input: { n: 7 }, cache: true });
    await first.stop();
    const second = await started({ store });
    await expect(second.run({ kind: "double", input: { n: 7 }, cache: true })).resolves.toBe(14);
    expect(second.stats().tasks.submitted).toBe(0);

    const dir = await mkdtemp(join(tmpdir(), "apiary-guards-"));
    try {
      const a = await started({ store: { dir } });
      await a.run({ kind: "double", input: { n: 8 }, cacheKey: "eight" });
      await a.stop();
      const b = await started({ store: { dir } });
      await expect(b.run({ kind: "double", input: { n: 999 }, cacheKey: "eight" })).resolves.toBe(16);
      expect(b.stats().cache.hits).toBe(1);
      await b.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("returns a result that cannot be stored or is too large without caching it, and keeps running", async () => {
    const hive = await started({ cache: { maxBytes: 1_000 } });
    const m = await hive.run<Map<string, number>>({ kind: "mapResult", cache: true });
    expect(m.get("a")).toBe(1);
    await expect(hive.run({ kind: "big", input: { n: 5_000 }, cache: true })).resolves.toHaveLength(5_000);
    expect(hive.stats().cache.size).toBe(0);
    await hive.run({ kind: "mapResult", cache: true });
    expect(hive.stats().tasks.submitted).toBe(3);
    await expect(hive.run({ kind: "big", input: { n: 10 }, cache: true })).resolves.toHaveLength(10);
    expect(hive.stats().cache.size).toBe(1);
  });

  it("rejects bad cache keys, cache options and stores with their codes, and keeps running", async () => {
    const hive = await started();
    expect(() => hive.submit({ kind: "double", cacheKey: "a/b" })).toThrow(expect.objectContaining({ code: "INVALID_KEY", message: expect.stringContaining("path separator") }));
    expect(() => hive.submit({ kind: "double", cacheKey: "..x" })).toThrow(expect.objectContaining({ code: "INVALID_KEY", message: expect.stringContaining('must not contain ".."') }));
    expect(() => hive.submit({ kind: "double", cache: { ttlMs: 0 } })).toThrow(
      expect.objectContaining({ code: "INVALID_TASK", message: expect.stringContaining('"cache.ttlMs" must be a positive integer, received 0') }),
    );
    expect(() => hive.submit({ kind: "double", input: { f: 1n }, cache: true })).toThrow(expect.objectContaining({ code: "INVALID_TASK" }));
    expect(() => createHive({ agents: [{ id: "a" }], cache: { maxEntries: 0 } })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"cache.maxEntries" must be a positive integer, received 0') }),
    );
    expect(() => createHive({ agents: [{ id: "a" }], store: { path: "x" } as never })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"store" must be a Store') }),
    );
    await expect(hive.run({ kind: "double", input: { n: 3 }, cache: true })).resolves.toBe(6);
  });

  it("cancels a cached task's wait, and the task itself once no caller waits on it", async () => {
    const hive = await started();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const one = hive.submit({ kind: "waitAbort", input: { flag }, cacheKey: "w" });
    const two = hive.submit({ kind: "waitAbort", input: { flag }, cacheKey: "w" });
    await settle();
    one.cancel();
    await expect(one.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
    expect(hive.stats().tasks.running).toBe(1);
    two.cancel();
    await expect(two.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
    await settle();
    expect(hive.stats().tasks).toMatchObject({ running: 0, cancelled: 1 });
  });
});
