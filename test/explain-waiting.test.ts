// `hive.explain(id)` of a task that waits, on a live hive in virtual time (inline backend, a
// SimulatedClock): what it waits for (its kind's limit, a delay, a retry's backoff, the tasks it
// runs after, a busy or paused swarm), the branch without a decision for a task never placed, and
// no `waiting` once the task ran.
import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { createHive, type Explanation, type Hive, type HiveOptions } from "../src/index.ts";
import { fixtureTasks, settle } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
  for (const open of gates().splice(0)) open();
});

function gates(): (() => void)[] {
  return (globalThis as { __apiaryGates?: (() => void)[] }).__apiaryGates ??= [];
}

async function hive(options: Partial<HiveOptions> = {}): Promise<{ h: Hive; clock: SimulatedClock }> {
  const clock = new SimulatedClock();
  const h = createHive({ backend: "inline", tasks: fixtureTasks, clock, agents: [{ id: "a", concurrency: 2 }], ...options });
  hives.push(h);
  await h.start();
  return { h, clock };
}

/** Moves the clock on in small steps, letting the hive run between them (timers fire at their own time). */
async function advance(clock: SimulatedClock, ms: number, stepMs = 10): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.increment(stepMs);
    await settle(2);
  }
}

describe("explain() of a waiting task", () => {
  it("says when in whole milliseconds on a clock that reads fractions (a live hive's)", async () => {
    const { h, clock } = await hive({ limits: { double: { max: 1, perMs: 1_000 } } });
    clock.increment(0.4);
    [0, 1].forEach((n) => h.submit<number>({ kind: "double", input: { n }, id: `f${n}` }));
    await settle();
    clock.increment(250.3);
    expect(h.explain("f1")?.waiting?.reason).toContain("the next may go in 750 ms (at 1000 on the hive clock)");
  });

  it("says a task its kind's limit holds is limited, with the limit and when the next may go", async () => {
    const { h, clock } = await hive({ limits: { double: { max: 2, perMs: 1_000 } } });
    const handles = [0, 1, 2, 3].map((n) => h.submit<number>({ kind: "double", input: { n }, id: `d${n}` }));
    await settle();
    clock.increment(250);
    const e = h.explain("d2");
    expect(e).toEqual({
      taskId: "d2",
      attempt: 1,
      faults: [],
      waiting: { state: "limited", at: 1_000, reason: expect.stringContaining('kind "double" is at its dispatch limit of 2 per 1000 ms') },
    });
    expect(e?.waiting?.reason).toContain("the next may go in 750 ms (at 1000 on the hive clock)");
    expect(e?.winner).toBeUndefined();
    // Agrees with the queue's own view.
    expect(h.queued().find((t) => t.taskId === "d2")).toMatchObject({ state: e?.waiting?.state, at: e?.waiting?.at });
    // The first two ran: their latest placement, and no `waiting`.
    const ran = h.explain("d0");
    expect(ran).toMatchObject({ taskId: "d0", winner: { agentId: "a" }, faults: [] });
    expect(ran).not.toHaveProperty("waiting");
    await advance(clock, 750);
    expect(await Promise.all(handles.map((x) => x.result))).toEqual([0, 2, 4, 6]);
    const later = h.explain("d2");
    expect(later).toMatchObject({ winner: { agentId: "a" }, at: 1_000 });
    expect(later).not.toHaveProperty("waiting");
  });

  it("says a delayed task is delayed until its delayMs ends", async () => {
    const { h, clock } = await hive();
    const handle = h.submit<number>({ kind: "double", input: { n: 21 }, delayMs: 5_000 });
    expect(h.explain(handle.id)).toEqual({
      taskId: handle.id,
      attempt: 1,
      faults: [],
      waiting: { state: "delayed", at: 5_000, reason: "delayed (delayMs / runAt): it may go in 5000 ms (at 5000 on the hive clock)" },
    });
    clock.increment(5_000);
    expect(await handle.result).toBe(42);
    expect(h.explain(handle.id)).not.toHaveProperty("waiting");
  });

  it("says a task waiting out a retry's backoff is delayed, with its last placement and the failed attempt's fault", async () => {
    const { h, clock } = await hive({ retry: { minMs: 500, maxMs: 500, jitter: 0 } });
    const handle = h.submit<string>({ kind: "failTimes", input: { times: 1 }, retries: 1 });
    await settle();
    const e = h.explain(handle.id);
    expect(e).toMatchObject({ winner: { agentId: "a" }, attempt: 1, waiting: { state: "delayed", at: 500 }, faults: [{ attempt: 1, code: "TASK_FAILED", blame: "task" }] });
    expect(e?.waiting?.reason).toBe("retry backoff after attempt 1 failed: attempt 2 may go in 500 ms (at 500 on the hive clock)");
    clock.increment(500);
    expect(await handle.result).toBe("ok on attempt 2");
    expect(h.explain(handle.id)).not.toHaveProperty("waiting");
  });

  it("says a held task waits for the tasks it runs after that have not ended, naming them", async () => {
    const { h, clock } = await hive();
    const done = h.submit<number>({ kind: "double", input: { n: 1 }, id: "done", delayMs: 500 });
    const slow = h.submit<number>({ kind: "double", input: { n: 2 }, id: "slow", delayMs: 1_000 });
    const sum = h.submit<number>({ kind: "sumAfter", input: { n: 0 }, id: "sum", after: ["done", "slow"] });
    expect(h.explain("sum")).toEqual({ taskId: "sum", attempt: 1, faults: [], waiting: { state: "held", at: 0, reason: 'runs after "done", "slow", not ended yet' } });
    clock.increment(500);
    expect(await done.result).toBe(2);
    expect(h.explain("sum")?.waiting).toEqual({ state: "held", at: 0, reason: 'runs after "slow", not ended yet' });
    clock.increment(500);
    expect(await slow.result).toBe(4);
    expect(await sum.result).toBe(6);
    expect(h.explain("sum")).toMatchObject({ winner: { agentId: "a" } });
    expect(h.explain("sum")).not.toHaveProperty("waiting");
  });

  it("says a ready task waits for a free slot, or for the paused hive to resume", async () => {
    const { h, clock } = await hive({ agents: [{ id: "a", concurrency: 1 }] });
    const busy = h.submit({ kind: "gate", id: "busy" });
    clock.increment(40);
    const next = h.submit<number>({ kind: "double", input: { n: 5 }, id: "next" });
    await settle();
    expect(h.explain("next")).toEqual({ taskId: "next", attempt: 1, faults: [], waiting: { state: "ready", at: 40, reason: "no eligible agent has a free slot" } });
    h.pause();
    expect(h.explain("next")?.waiting).toEqual({ state: "ready", at: 40, reason: "the hive is paused (hive.resume() restarts dispatch)" });
    h.resume();
    gates().shift()!();
    expect(await busy.result).toBe("released");
    expect(await next.result).toBe(10);
    expect(h.explain("next")).toMatchObject({ winner: { agentId: "a" } });
  });

  it("tells the two branches apart by their winner, and knows nothing of an unknown id", async () => {
    const { h } = await hive({ limits: { double: { max: 1, perMs: 60_000 } } });
    h.submit({ kind: "double", input: { n: 1 }, id: "first" });
    h.submit({ kind: "double", input: { n: 2 }, id: "second" });
    await settle();
    const agentOf = (e: Explanation | undefined): string => e === undefined ? "unknown" : e.winner === undefined ? `waits (${e.waiting.state})` : e.winner.agentId;
    expect(["first", "second", "nope"].map((id) => agentOf(h.explain(id)))).toEqual(["a", "waits (limited)", "unknown"]);
  });
});
