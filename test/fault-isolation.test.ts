// Fault isolation on real worker threads: a bad task fails alone, with its own code, and the hive
// keeps its agents, its readiness and every good task. Then the edges that made one bad task take
// the swarm down: timeouts that ran while an attempt waited for a thread, a queue bound that
// counted tasks about to run, and a deadline on the whole task.
import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { type ApiaryError, createHive, type Hive, type HiveEvent, type HiveOptions } from "../src/index.ts";
import { fixtureTasks, settle, sharedFlag } from "./helpers.ts";

const poison = new URL("./fixtures/poison.mjs", import.meta.url);
const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

async function started(options: HiveOptions): Promise<{ hive: Hive; events: HiveEvent[] }> {
  const hive = createHive(options);
  hives.push(hive);
  const events: HiveEvent[] = [];
  hive.on("*", (e) => events.push(e));
  await hive.start();
  return { hive, events };
}

type Mode = "throw" | "exit" | "hang" | "oom";
const CODE: Record<Mode, string> = { throw: "TASK_FAILED", exit: "WORKER_CRASHED", hang: "TASK_TIMEOUT", oom: "WORKER_CRASHED" };

/**
 * 1,000 tasks of one kind on 6 agents × 4 slots over 2 Piscina threads; every tenth is poison
 * (`modes` in turn). Good tasks may retry once; poison ones that kill or hold a thread do not,
 * to keep the run short.
 */
async function poisonRun(modes: readonly Mode[]) {
  const agents = Array.from({ length: 6 }, (_, i) => ({ id: `agent-${i + 1}`, concurrency: 4 }));
  const { hive, events } = await started({
    tasks: poison,
    threads: 2,
    agents,
    abortGraceMs: 30,
    resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    retry: { minMs: 0, maxMs: 0, jitter: 0 },
  });
  const tasks = Array.from({ length: 1_000 }, (_, i) => {
    const mode = i % 10 === 0 ? modes[(i / 10) % modes.length]! : undefined;
    // Poison that kills or holds its thread does not retry, to keep the run short. Hangs time
    // out after 150 ms — and so do the good tasks beside them when only hangs are the poison, to
    // show a thread held by a hang costs them nothing. A thread's death takes longer to reach
    // the pool under load than that: those runs give every task 2 s.
    const killsThread = mode === "hang" || mode === "oom" || mode === "exit";
    const timeoutMs = mode === "hang" || (mode === undefined && modes.every((m) => m === "hang")) ? 150 : 2_000;
    return { mode, handle: hive.submit({ kind: "work", input: { i, mode }, timeoutMs, retries: killsThread ? 0 : 1 }) };
  });
  const outcomes = await Promise.allSettled(tasks.map((t) => t.handle.result));
  return { hive, events, tasks, outcomes };
}

function expectIsolated(run: Awaited<ReturnType<typeof poisonRun>>): void {
  const { hive, events, tasks, outcomes } = run;
  let good = 0;
  tasks.forEach((t, i) => {
    const o = outcomes[i]!;
    if (t.mode === undefined) {
      good++;
      expect(o, `good task ${i}`).toMatchObject({ status: "fulfilled", value: { i, doubled: 2 * i } });
    } else {
      expect(o.status, `poison task ${i} (${t.mode})`).toBe("rejected");
      expect((o as PromiseRejectedResult).reason as ApiaryError, `poison task ${i} (${t.mode})`).toMatchObject({ code: CODE[t.mode] });
    }
  });
  expect(good).toBe(900);
  const stats = hive.stats();
  expect(stats.tasks).toMatchObject({ completed: 900, deadLettered: 100, failed: 0, queued: 0, running: 0 });
  expect(stats.degraded).toBeNull();
  expect(stats.agents.every((a) => a.status === "up")).toBe(true);
  expect(stats.breakers.filter((b) => b.scope === "agent").every((b) => b.state === "closed")).toBe(true);
  expect(events.filter((e) => e.type === "agent.crashed" || e.type === "agent.failed" || e.type === "hive.degraded")).toEqual([]);
  // Poison failures are the tasks' own fault. The rule is statistical (a binomial test at 1e-5
  // per failure, over a few hundred failures here), so a rare wrong attribution may happen on a
  // heavily loaded machine; it never adds up to a crash (asserted above).
  const blamed = events.filter((e) => (e.type === "task.deadLettered" || e.type === "task.retrying") && e.blame?.to === "agent");
  expect(blamed.length).toBeLessThanOrEqual(2);
}

describe("a bad task fails alone on real threads (1,000 tasks, 10% poison)", () => {
  it("handlers that throw: each poison task spends its retries and is dead-lettered TASK_FAILED", async () => {
    const run = await poisonRun(["throw"]);
    expectIsolated(run);
    expect(run.hive.stats().tasks.retried).toBeGreaterThanOrEqual(100);
    const id = run.tasks[10]!.handle.id;
    expect(run.hive.explain(id)?.faults.map((f) => [f.code, f.blame])).toEqual([["TASK_FAILED", "task"], ["TASK_FAILED", "task"]]);
  });

  it("handlers that exit the thread: WORKER_CRASHED for the culprit only, the pool heals", async () => {
    const run = await poisonRun(["exit"]);
    expectIsolated(run);
    expect(run.hive.stats().pool.threadRestarts).toBeGreaterThanOrEqual(100);
  });

  it("handlers that hang: TASK_TIMEOUT for the culprit, its thread replaced, nobody else timed out", async () => {
    const run = await poisonRun(["hang"]);
    expectIsolated(run);
    const timedOut = run.events.filter((e) => e.type === "task.retrying" && (e.error as ApiaryError).code === "TASK_TIMEOUT");
    expect(timedOut).toEqual([]); // no good task lost an attempt to a thread held by a hang
  });

  it("handlers that run out of memory under resourceLimits: WORKER_CRASHED, the pool heals", async () => {
    const run = await poisonRun(["oom"]);
    expectIsolated(run);
  });

  it("a mix of all four", async () => {
    const run = await poisonRun(["throw", "exit", "hang", "oom"]);
    expectIsolated(run);
  });
});

describe("attribution", () => {
  it("crashes one broken agent among healthy ones; the others carry its work", async () => {
    const agents = ["a", "b", "c", "broken"].map((id) => ({ id, concurrency: 2 }));
    // Round-robin keeps offering the broken agent work until it is crashed: the scored strategy
    // learns from its failures and may stop placing there before the fourth one that blames it
    // (met once in a full run on the loaded machine: 200 tasks done, no crash).
    const { hive, events } = await started({ tasks: poison, threads: 2, agents, allocation: "round-robin", retry: { minMs: 0, maxMs: 0, jitter: 0 }, supervision: { failAfter: 3 } });
    const outs = await Promise.all(Array.from({ length: 200 }, () => hive.run<string>({ kind: "brokenOn", input: { agent: "broken" }, retries: 3 })));
    expect(outs.every((agent) => agent !== "broken")).toBe(true);
    const crashed = events.filter((e) => e.type === "agent.crashed").map((e) => (e as { agentId: string }).agentId);
    expect(crashed.length).toBeGreaterThan(0);
    expect(new Set(crashed)).toEqual(new Set(["broken"]));
    const agentFaults = events.filter((e) => e.type === "task.retrying" && e.blame?.to === "agent");
    expect(agentFaults.length).toBeGreaterThan(0);
    expect(agentFaults.every((e) => (e as { agentId?: string }).agentId === "broken")).toBe(true);
    // The healthy agents never went down (the broken one may have restarted often enough to
    // escalate, which is its own story: it keeps failing after every restart).
    expect(hive.stats().agents.filter((a) => a.id !== "broken").every((a) => a.status === "up" && a.restarts === 0)).toBe(true);
  });
});

describe("timeouts measure the attempt's own run (start-to-close)", () => {
  it("attempts waiting behind a long one on the only thread neither start nor time out until they run", async () => {
    const clock = new SimulatedClock();
    const { hive, events } = await started({ tasks: poison, threads: 1, clock, agents: [{ id: "a", concurrency: 10 }] });
    const gate = sharedFlag();
    const began = hive.waitFor((e) => e.type === "task.started");
    const long = hive.run({ kind: "block", input: { flag: gate.flag }, timeoutMs: 1_000_000 });
    await began;
    const short = Array.from({ length: 5 }, (_, i) => hive.run({ kind: "work", input: { i }, timeoutMs: 1_000 }));
    await settle(10);
    clock.increment(5_000); // far past their timeout, but they have not started
    await settle(10);
    expect(events.filter((e) => e.type === "task.started")).toHaveLength(1);
    expect(hive.stats().tasks).toMatchObject({ running: 6, retried: 0, deadLettered: 0 });
    Atomics.store(gate.flag, 0, 1);
    Atomics.notify(gate.flag, 0);
    expect(await long).toBe("released");
    expect((await Promise.all(short)).map((o) => (o as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    expect(events.filter((e) => e.type === "task.started")).toHaveLength(6);
    expect(hive.stats().tasks).toMatchObject({ completed: 6, retried: 0, deadLettered: 0 });
  });
});

describe("deadlineMs bounds the whole task", () => {
  it("ends a task still queued at its deadline with TASK_TIMEOUT, and one running by aborting it", async () => {
    const clock = new SimulatedClock();
    const { hive } = await started({ backend: "inline", tasks: fixtureTasks, clock, agents: [{ id: "a" }] });
    const flag = sharedFlag();
    const running = hive.run({ kind: "waitAbort", input: { flag: flag.flag }, deadlineMs: 2_000 });
    const queued = hive.run({ kind: "double", input: { n: 1 }, deadlineMs: 1_000 });
    running.catch(() => {});
    queued.catch(() => {});
    await settle();
    clock.increment(1_000);
    await expect(queued).rejects.toMatchObject({ code: "TASK_TIMEOUT", message: expect.stringContaining("missed its deadline (deadlineMs 1000") });
    clock.increment(1_000);
    await expect(running).rejects.toMatchObject({ code: "TASK_TIMEOUT", message: expect.stringContaining("while running") });
    await flag.raised(); // the running attempt's signal fired
    expect(hive.stats().tasks).toMatchObject({ failed: 2, queued: 0, running: 0 });
    await expect(hive.run({ kind: "double", input: { n: 2 }, deadlineMs: 1_000 })).resolves.toBe(4);
  });
});

describe("the queue bound counts waiting tasks only", () => {
  it("accepts a burst onto free slots: maxQueued 1, four submits in one tick onto four free slots", async () => {
    const { hive } = await started({ backend: "inline", tasks: fixtureTasks, agents: [{ id: "a", concurrency: 4 }], queue: { maxQueued: 1 } });
    const outs = await Promise.all([1, 2, 3, 4].map((n) => hive.run({ kind: "double", input: { n } })));
    expect(outs).toEqual([2, 4, 6, 8]);
    expect(hive.stats().tasks.rejected).toBe(0);
  });

  it("maps 150 inputs onto 64 free slots with maxQueued 100 without a QUEUE_FULL", async () => {
    const { hive } = await started({ backend: "inline", tasks: fixtureTasks, agents: Array.from({ length: 16 }, (_, i) => ({ id: `a${i}`, concurrency: 4 })), queue: { maxQueued: 100 } });
    const outs = await hive.map<number>("double", Array.from({ length: 150 }, (_, n) => ({ n })));
    expect(outs.reduce((a, b) => a + b, 0)).toBe(149 * 150);
  });

  it("still rejects past the bound of waiting tasks", async () => {
    const { hive } = await started({ backend: "inline", tasks: fixtureTasks, agents: [{ id: "a", concurrency: 2 }], queue: { maxQueued: 1 } });
    const flag = sharedFlag();
    const handles = Array.from({ length: 4 }, () => hive.submit({ kind: "waitAbort", input: { flag: flag.flag } }));
    const results = await Promise.allSettled(handles.map((h) => h.accepted));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected"]);
    expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ code: "QUEUE_FULL" });
    expect(hive.stats().tasks).toMatchObject({ running: 2, queued: 1, rejected: 1 });
  });
});
