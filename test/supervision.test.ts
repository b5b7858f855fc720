// Supervision on a live hive (inline backend) driven by a SimulatedClock: restarts, strategies,
// backoff, intensity and escalation, agents joining and leaving, task groups, explanations.
import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { type AgentOptions, createHive, type Hive, type HiveEvent, type HiveOptions } from "../src/index.ts";
import { fixtureTasks, settle, sharedFlag } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

async function hive(agents: AgentOptions[], supervision: HiveOptions["supervision"] = {}, extra: Partial<HiveOptions> = {}) {
  const clock = new SimulatedClock();
  const h = createHive({ backend: "inline", tasks: fixtureTasks, clock, agents, supervision: { backoff: { minMs: 100, maxMs: 1_000, jitter: 0 }, ...supervision }, ...extra });
  hives.push(h);
  await h.start();
  const events: HiveEvent[] = [];
  h.on("*", (e) => events.push(e));
  return { h, clock, events };
}

/** Marks a promise's rejection as handled now (the test checks it later). */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

const agent = (id: string, concurrency = 1): AgentOptions => ({ id, capabilities: { s: 1 }, concurrency });
const status = (h: Hive) => Object.fromEntries(h.stats().agents.map((a) => [a.id, `${a.status}/${a.state}`]));

describe("restarts", () => {
  it("one-for-one: restarts only the crashed agent after its backoff; its work moves to another agent", async () => {
    const { h, clock, events } = await hive([agent("a"), agent("b")]);
    const flag = sharedFlag();
    const lost = quiet(h.run({ kind: "waitAbort", input: { flag: flag.flag }, requires: { s: 1 }, id: "long" }));
    await settle();
    const onA = h.stats().agents.find((a) => a.busy === 1)!.id;
    h.failAgent(onA, "drill");
    await settle();
    expect(status(h)[onA]).toBe("restarting/restarting");
    const other = onA === "a" ? "b" : "a";
    expect(status(h)[other]).toBe("up/saturated"); // the lost attempt was re-placed on the other agent
    expect(events).toContainEqual(expect.objectContaining({ type: "agent.restarting", agentId: onA, reason: "drill", backoffMs: 100, restarts: 1 }));
    clock.increment(99);
    expect(status(h)[onA]).toBe("restarting/restarting");
    clock.increment(1);
    await settle();
    expect(status(h)[onA]).toBe("up/idle");
    expect(events).toContainEqual(expect.objectContaining({ type: "agent.restarted", agentId: onA }));
    expect(h.stats().tasks).toMatchObject({ running: 1, retried: 0 }); // no retry was spent
    void lost;
  });

  it("counts a crashed agent's lost attempt as queued until an agent takes it again", async () => {
    const { h, clock } = await hive([agent("only")]);
    const flag = sharedFlag();
    const lost = quiet(h.run({ kind: "waitAbort", input: { flag: flag.flag } }));
    await settle();
    expect(h.stats().tasks).toMatchObject({ running: 1, queued: 0 });
    h.failAgent("only");
    await settle();
    expect(h.stats().tasks).toMatchObject({ running: 0, queued: 1, retried: 0 });
    clock.increment(100);
    await settle();
    expect(h.stats().tasks).toMatchObject({ running: 1, queued: 0 });
    void lost;
  });

  it("keeps a restarted agent's context: capabilities and health history", async () => {
    const { h, clock } = await hive([{ id: "a", capabilities: { s: 0.7, plan: 0.2 } }]);
    for (let i = 0; i < 3; i++) await Promise.all([h.run({ kind: "double", input: { n: i } }), settle()]);
    const before = h.stats().agents[0]!;
    h.failAgent("a");
    clock.increment(100);
    await settle();
    const after = h.stats().agents[0]!;
    expect(after).toMatchObject({ status: "up", state: "idle", restarts: 1, completed: before.completed, successRate: before.successRate });
    const run = h.run({ kind: "double", input: { n: 5 }, requires: { s: 0.6, plan: 0.1 } });
    await settle();
    expect(await run).toBe(10);
  });

  it("one-for-all restarts every agent; rest-for-one those declared after the crashed one", async () => {
    const all = await hive([agent("a"), agent("b"), agent("c")], { strategy: "one-for-all" });
    all.h.failAgent("b");
    expect(status(all.h)).toEqual({ a: "restarting/restarting", b: "restarting/restarting", c: "restarting/restarting" });
    const rest = await hive([agent("a"), agent("b"), agent("c")], { strategy: "rest-for-one" });
    rest.h.failAgent("b");
    expect(status(rest.h)).toEqual({ a: "up/idle", b: "restarting/restarting", c: "restarting/restarting" });
    rest.clock.increment(100);
    await settle();
    expect(status(rest.h)).toEqual({ a: "up/idle", b: "up/idle", c: "up/idle" });
  });

  it("backs off exponentially between restarts and resets after a stable period", async () => {
    const { h, clock, events } = await hive([agent("a")], { maxRestarts: 100, backoff: { minMs: 100, maxMs: 350, jitter: 0, resetAfterMs: 10_000 } });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      h.failAgent("a");
      await settle();
      const e = events.filter((x) => x.type === "agent.restarting").at(-1) as Extract<HiveEvent, { type: "agent.restarting" }>;
      delays.push(e.backoffMs);
      clock.increment(e.backoffMs);
      await settle();
    }
    expect(delays).toEqual([100, 200, 350, 350]);
    clock.increment(10_000);
    h.failAgent("a");
    await settle();
    expect((events.filter((x) => x.type === "agent.restarting").at(-1) as { backoffMs: number }).backoffMs).toBe(100);
  });

  it("draws restart jitter from the seed: the same seed, the same delays", async () => {
    const delays = async (seed: number) => {
      const { h, clock, events } = await hive([agent("a")], { maxRestarts: 100, backoff: { minMs: 1_000, maxMs: 1_000, jitter: 0.5 } }, { seed });
      for (let i = 0; i < 3; i++) {
        h.failAgent("a");
        clock.increment(2_000);
        await settle();
      }
      return events.filter((x) => x.type === "agent.restarting").map((x) => (x as { backoffMs: number }).backoffMs);
    };
    const first = await delays(11);
    expect(await delays(11)).toEqual(first);
    expect(first.every((d) => d >= 500 && d <= 1_500)).toBe(true);
    expect(new Set(first).size).toBeGreaterThan(1);
  });

  it("escalates past the restart intensity: the hive is degraded and says why; with escalation.action stop it gives up for good", async () => {
    const { h, clock, events } = await hive([agent("a"), { id: "p", capabilities: { plan: 1 } }], { maxRestarts: 2, withinMs: 1_000, escalation: { action: "stop" } });
    h.failAgent("a", "boom 1");
    clock.increment(100);
    await settle();
    h.failAgent("a", "boom 2");
    clock.increment(200);
    await settle();
    expect(h.stats().degraded).toBeNull();
    h.failAgent("a", "boom 3");
    await settle();
    const stats = h.stats();
    expect(stats.degraded?.reason).toContain("more than 2 restarts within 1000 ms");
    expect(stats.degraded?.reason).toContain("boom 3");
    expect(stats.agents.find((x) => x.id === "a")).toMatchObject({ status: "failed", state: "failed", restarts: 2 });
    expect(events).toContainEqual(expect.objectContaining({ type: "hive.degraded" }));
    expect(events.filter((e) => e.type === "agent.crashed").map((e) => (e as { reason: string }).reason)).toEqual(["boom 1", "boom 2", "boom 3"]);
    // Work only the failed agent could do fails at once, naming it; other work still runs.
    const orphan = quiet(h.run({ kind: "double", input: { n: 1 }, requires: { s: 1 } }));
    await settle();
    await expect(orphan).rejects.toMatchObject({ code: "NO_ELIGIBLE_AGENT", message: expect.stringContaining("every agent that could run it is gone — a (failed for good: boom 3)") });
    expect(await Promise.all([h.run({ kind: "double", input: { n: 4 }, requires: { plan: 1 } }), settle()]).then(([v]) => v)).toBe(8);
    clock.increment(60_000);
    await settle();
    expect(h.stats().agents.find((x) => x.id === "a")!.status).toBe("failed");
    expect(h.stats().degraded).not.toBeNull();
  });

  it("heals after the escalation's cool-down: the failed agents restart with backoff, waiting work runs, degraded clears", async () => {
    const { h, clock, events } = await hive([agent("a"), { id: "p", capabilities: { plan: 1 } }], { maxRestarts: 1, withinMs: 1_000, escalation: { cooldownMs: 5_000 } });
    const server = await h.serve({ port: 0 });
    const ready = async () => (await fetch(`${server.url}/health/ready`)).status;
    h.failAgent("a", "boom 1");
    clock.increment(100);
    await settle();
    h.failAgent("a", "boom 2");
    await settle();
    expect(h.stats().degraded?.reason).toContain("more than 1 restarts within 1000 ms");
    expect(await ready()).toBe(503);
    // Work only "a" can do waits for it (it will come back), instead of failing NO_ELIGIBLE_AGENT.
    const waiting = h.run({ kind: "double", input: { n: 5 }, requires: { s: 1 } });
    await settle();
    expect(h.stats().tasks).toMatchObject({ queued: 1, failed: 0 });
    clock.increment(4_999);
    await settle();
    expect(status(h).a).toBe("failed/failed");
    clock.increment(1); // the cool-down is over: "a" restarts after its backoff
    await settle();
    expect(status(h).a).toBe("restarting/restarting");
    expect(h.stats().degraded).not.toBeNull();
    clock.increment(1_000);
    await settle();
    expect(status(h).a).toMatch(/^up\//);
    expect(await Promise.all([waiting, settle()]).then(([v]) => v)).toBe(10);
    expect(h.stats().degraded).toBeNull();
    expect(events.map((e) => e.type)).toContain("hive.healed");
    expect(await ready()).toBe(200);
    // A fresh intensity window: one more crash restarts instead of escalating at once.
    h.failAgent("a", "boom 3");
    await settle();
    expect(status(h).a).toBe("restarting/restarting");
    expect(h.stats().degraded).toBeNull();
  });

  it("heals by hand: hive.heal() restarts the failed agents and clears degraded once one is back", async () => {
    const { h, clock, events } = await hive([agent("a")], { maxRestarts: 0, escalation: { action: "stop" } });
    h.failAgent("a", "boom");
    await settle();
    expect(h.stats().degraded).not.toBeNull();
    h.heal();
    await settle();
    expect(status(h).a).toBe("restarting/restarting");
    clock.increment(1_000);
    await settle();
    expect(status(h).a).toBe("up/idle");
    expect(h.stats().degraded).toBeNull();
    expect(events.filter((e) => e.type === "hive.healed")).toHaveLength(1);
    expect(await Promise.all([h.run({ kind: "double", input: { n: 2 } }), settle()]).then(([v]) => v)).toBe(4);
  });

  it("never restarts a temporary agent", async () => {
    const { h, clock } = await hive([{ ...agent("t"), restart: "temporary" }, agent("p")]);
    h.failAgent("t");
    clock.increment(10_000);
    await settle();
    expect(status(h)).toEqual({ t: "failed/failed", p: "up/idle" });
  });

  it("crashes an agent after failAfter attempts in a row that fail where other agents succeed, and never for a poison task", async () => {
    const { h, events } = await hive([{ id: "a", capabilities: { s: 1, onlyA: 1 } }, { id: "b", capabilities: { s: 1, onlyB: 1 } }], { failAfter: 2 }, { retry: { minMs: 0 } });
    // A kind that fails everywhere is the tasks' fault: nobody crashes, however many fail.
    const poison = Array.from({ length: 8 }, () => quiet(h.run({ kind: "fail", requires: { s: 1 }, retries: 1 })));
    await settle(20);
    expect((await Promise.allSettled(poison)).every((r) => r.status === "rejected")).toBe(true);
    expect(events.some((e) => e.type === "agent.crashed")).toBe(false);
    // The same kind succeeds on b and fails on a: a's fault.
    for (let i = 0; i < 20; i++) await Promise.all([h.run({ kind: "brokenOn", input: { agent: "a" }, requires: { onlyB: 1 } }), settle()]);
    const broken = Array.from({ length: 6 }, () => quiet(h.run({ kind: "brokenOn", input: { agent: "a" }, requires: { onlyA: 1 } })));
    await settle(20);
    void broken; // those that reach "a" after its crash wait for its restart (on the simulated clock)
    const crash = events.find((e) => e.type === "agent.crashed") as { agentId: string; reason: string } | undefined;
    expect(crash?.agentId).toBe("a");
    expect(crash?.reason).toContain("2 attempts failed in a row where other agents succeed");
    expect(events.some((e) => e.type === "agent.restarting" && e.agentId === "a")).toBe(true);
  });
});

describe("the swarm changes while it runs", () => {
  it("adds an agent that takes queued work, and removes one after its running task finishes", async () => {
    const { h } = await hive([{ id: "a", capabilities: { s: 1 } }]);
    const queued = quiet(h.run({ kind: "double", input: { n: 3 }, requires: { plan: 1 } }));
    await settle();
    expect(h.stats().tasks).toMatchObject({ queued: 0 });
    await expect(queued).rejects.toMatchObject({ code: "NO_ELIGIBLE_AGENT" });

    const flag = sharedFlag();
    const long = h.submit({ kind: "waitAbort", input: { flag: flag.flag } });
    quiet(long.result);
    await settle();
    const waiting = h.run({ kind: "double", input: { n: 3 } });
    await settle();
    expect(h.stats().tasks).toMatchObject({ queued: 1, running: 1 });
    h.addAgent({ id: "b", capabilities: { s: 1 } });
    await settle();
    expect(await waiting).toBe(6);
    expect(() => h.addAgent({ id: "b" })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"id" must be unique') }));
    expect(() => h.addAgent({ id: "c", concurrency: 0 })).toThrow(expect.objectContaining({ message: expect.stringContaining('"concurrency" must be an integer from 1 to 100000, received 0') }));

    let removed = false;
    const leaving = h.removeAgent("a").then(() => (removed = true));
    await settle();
    expect(removed).toBe(false); // its task is still running
    expect(h.stats().agents.find((x) => x.id === "a")!.status).toBe("removing");
    long.cancel();
    await leaving;
    expect(h.stats().agents.map((x) => x.id)).toEqual(["b"]);
    expect(() => h.removeAgent("zzz")).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
  });
});

describe("task groups and explanations", () => {
  it("map returns results in input order; settle reports each; fail-fast rejects with the first error", async () => {
    const { h } = await hive([agent("a", 4), agent("b", 4)]);
    const [values] = await Promise.all([h.map<number>("double", [1, 2, 3, 4, 5].map((n) => ({ n }))), settle(5)]);
    expect(values).toEqual([2, 4, 6, 8, 10]);
    const [settled] = await Promise.all([h.map("failTimes", [{ times: 0 }, { times: 5 }, { times: 0 }], { policy: "settle" }), settle(5)]);
    expect(settled.map((r) => r.ok)).toEqual([true, false, true]);
    expect(settled[1]).toMatchObject({ ok: false, error: { code: "TASK_FAILED" } });
    const failing = quiet(h.map("failTimes", [{ times: 0 }, { times: 5 }]));
    await settle(5);
    await expect(failing).rejects.toMatchObject({ code: "TASK_FAILED" });
    await expect(h.map("double", [{ n: 1 }, { f: () => 1 }])).rejects.toMatchObject({ code: "INVALID_TASK", message: expect.stringContaining("map task 1") });
    expect(h.stats().tasks.submitted).toBe(10); // the bad group submitted nothing
  });

  it("explains a placement: winner, runner-up and every term", async () => {
    const { h } = await hive([{ id: "strong", capabilities: { s: 0.9 } }, { id: "weak", capabilities: { s: 0.6 } }]);
    const handle = h.submit({ kind: "double", input: { n: 1 }, requires: { s: 0.5 } });
    await settle();
    await handle.result;
    const d = h.explain(handle.id)!;
    expect(d.winner).toMatchObject({ agentId: "strong", capability: 0.9, load: 1, health: 1, retry: 1 });
    expect(d.runnerUp).toMatchObject({ agentId: "weak", capability: 0.6 });
    expect(d.winner?.score).toBeGreaterThan(d.runnerUp!.score);
    expect(h.explain("nope")).toBeUndefined();
  });
});
