// The journal and recovery on a live hive (inline backend, a SimulatedClock for the hive's
// timers): results by id, idempotency keys, tasks resumed after a stop, retry and restart
// backoffs re-armed on restore, a torn journal tail, compaction, the option checks.
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { type AgentOptions, createHive, createMemoryStore, type Hive, type HiveOptions } from "../src/index.ts";
import { TaskIds } from "../src/journal/task-ids.ts";
import { fixtureTasks, settle } from "./helpers.ts";

const hives: Hive[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  (globalThis as { __apiaryRuns?: unknown }).__apiaryRuns = undefined;
  (globalThis as { __apiaryGates?: unknown }).__apiaryGates = undefined;
  (globalThis as { __apiaryBroken?: unknown }).__apiaryBroken = undefined;
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "apiary-journal-"));
  dirs.push(d);
  return d;
}

const agents: AgentOptions[] = [{ id: "a", capabilities: { s: 1 }, concurrency: 1 }];

async function hive(options: Partial<HiveOptions> = {}): Promise<{ h: Hive; clock: SimulatedClock }> {
  const clock = new SimulatedClock();
  const h = createHive({ backend: "inline", tasks: fixtureTasks, clock, agents, ...options });
  hives.push(h);
  await h.start();
  return { h, clock };
}

const runs = (): Record<string, number> => (globalThis as { __apiaryRuns?: Record<string, number> }).__apiaryRuns ?? {};
const releaseGates = (): void => {
  for (const open of (globalThis as { __apiaryGates?: (() => void)[] }).__apiaryGates?.splice(0) ?? []) open();
};
/** The `brokenUntilFixed` fixture throws for these keys. */
const broken = (): Set<string> => ((globalThis as { __apiaryBroken?: Set<string> }).__apiaryBroken ??= new Set());

describe("results and idempotency keys", () => {
  it("keeps no results without a journal unless asked (journal.maxResults), but still follows open tasks", async () => {
    const { h } = await hive();
    await h.run({ kind: "double", input: { n: 1 }, id: "gone" });
    expect(await h.result("gone")).toBeUndefined();
    const gated = h.submit({ kind: "gate", id: "open" });
    const pending = h.result("open");
    await settle();
    releaseGates();
    expect(await pending).toMatchObject({ state: "completed", value: "released" });
    await gated.result;
  });

  it("answers result(id) for finished, running and unknown tasks", async () => {
    const { h } = await hive({ journal: { maxResults: 100 } });
    await h.run({ kind: "double", input: { n: 21 }, id: "x" });
    expect(await h.result("x")).toMatchObject({ id: "x", kind: "double", state: "completed", value: 42, attempts: 1 });
    const failing = h.submit({ kind: "fail", input: { message: "nope" }, id: "f" });
    await expect(failing.result).rejects.toMatchObject({ code: "TASK_FAILED" });
    expect(await h.result("f")).toMatchObject({ state: "deadLettered", error: { code: "TASK_FAILED" } });
    const gated = h.submit({ kind: "gate", input: { value: "late" }, id: "g" });
    const pending = h.result("g");
    await settle();
    releaseGates();
    expect(await pending).toMatchObject({ state: "completed", value: "late" });
    await gated.result;
    expect(await h.result("nobody")).toBeUndefined();
    expect(() => h.result(42 as unknown as string)).toThrow(/"id" must be a non-empty string, received 42/);
  });

  it("runs a task submitted twice with one idempotency key once", async () => {
    const { h } = await hive();
    const first = h.submit({ kind: "countRun", input: { key: "k" }, idempotencyKey: "order-1" });
    const second = h.submit({ kind: "countRun", input: { key: "k" }, idempotencyKey: "order-1" });
    expect(second.id).toBe(first.id);
    expect(await first.result).toBe(1);
    expect(await second.result).toBe(1);
    const third = h.submit({ kind: "countRun", input: { key: "k" }, idempotencyKey: "order-1" });
    expect(await third.result).toBe(1);
    expect(runs()["k"]).toBe(1);
    expect(h.stats().tasks.submitted).toBe(1);
  });

  it("frees the key of a cancelled task", async () => {
    const { h } = await hive();
    const blocker = h.submit({ kind: "gate" });
    const first = h.submit({ kind: "countRun", input: { key: "c" }, idempotencyKey: "retry-me" });
    await settle();
    first.cancel();
    await expect(first.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
    const again = h.submit({ kind: "countRun", input: { key: "c" }, idempotencyKey: "retry-me" });
    expect(again.id).not.toBe(first.id);
    releaseGates();
    await blocker.result;
    expect(await again.result).toBe(1);
  });

  it("resolves accepted once the Queen took the task, and rejects it when the queue is full", async () => {
    const { h } = await hive({ queue: { maxQueued: 1 } });
    const running = h.submit({ kind: "gate" });
    await running.accepted;
    const queued = h.submit({ kind: "double", input: { n: 1 } });
    const overflow = h.submit({ kind: "double", input: { n: 2 } });
    await queued.accepted;
    await expect(overflow.accepted).rejects.toMatchObject({ code: "QUEUE_FULL" });
    releaseGates();
    await running.result;
  });
});

describe("journal and recovery", () => {
  it("resumes unfinished tasks after a stop and answers finished ones from the journal (every-task, file store)", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, durability: "every-task" });
    for (let i = 0; i < 3; i++) await h.run({ kind: "countRun", input: { key: `done-${i}` }, id: `done-${i}`, idempotencyKey: `done-${i}` });
    const blocker = h.submit({ kind: "gate", id: "blocker" });
    const waiting = [0, 1, 2].map((i) => h.submit({ kind: "countRun", input: { key: `open-${i}` }, id: `open-${i}`, priority: "high" }));
    await Promise.all(waiting.map((w) => w.accepted));
    await blocker.accepted;
    await h.stop();
    await expect(waiting[0]!.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
    expect(runs()).toEqual({ "done-0": 1, "done-1": 1, "done-2": 1 });

    const events: string[] = [];
    const clock = new SimulatedClock();
    const h2 = createHive({ backend: "inline", tasks: fixtureTasks, clock, agents, store: { dir }, recover: true });
    hives.push(h2);
    h2.on("hive.recovered", (e) => events.push(`recovered ${e.tasks} ${e.results}`));
    await h2.start();
    expect(h2.stats().tasks).toMatchObject({ accepted: 4, queued: 3, running: 1 });
    expect(await h2.result("done-1")).toMatchObject({ state: "completed", value: 1 });
    // Re-submitting a finished task under its key answers from the journal: it does not run again.
    expect(await h2.submit({ kind: "countRun", input: { key: "done-0" }, idempotencyKey: "done-0" }).result).toBe(1);
    releaseGates();
    const ends = await Promise.all(["blocker", "open-0", "open-1", "open-2"].map((id) => h2.result(id)));
    expect(ends.map((r) => r?.state)).toEqual(["completed", "completed", "completed", "completed"]);
    expect(runs()).toEqual({ "done-0": 1, "done-1": 1, "done-2": 1, "open-0": 1, "open-1": 1, "open-2": 1 });
    await settle();
    expect(events).toEqual(["recovered 4 3"]);
  });

  it("refuses, at submit, an input the journal cannot keep as JSON, naming its path, and keeps running", async () => {
    const { h } = await hive({ store: { dir: tmp() }, durability: "every-task" });
    const cases: [unknown, string][] = [
      [{ ids: new Set([1]) }, '"input.ids" must be JSON data in a durable hive'],
      [{ at: new Date(0) }, '"input.at" must be JSON data in a durable hive'],
      [{ n: 10n }, "received a BigInt"],
      [{ bytes: new Uint8Array(4) }, "received a typed array"],
      [[1, Number.NaN], '"input[1]" must be JSON data in a durable hive'],
      [new Map([["a", 1]]), '"input" must be JSON data in a durable hive'],
    ];
    for (const [input, message] of cases) {
      expect(() => h.submit({ kind: "double", input })).toThrow(expect.objectContaining({ code: "INVALID_TASK", message: expect.stringContaining(message) }));
    }
    // Plain JSON data, with an undefined field JSON drops, goes in and runs.
    expect(await h.run({ kind: "double", input: { n: 21, note: undefined } })).toBe(42);
    expect(h.stats().tasks).toMatchObject({ accepted: 1, completed: 1 });
  });

  it("re-arms a retry backoff that was running when the hive stopped (batched)", async () => {
    const dir = tmp();
    const { h, clock } = await hive({ store: { dir }, durability: "batched", journal: { flushMs: 1 }, retry: { minMs: 10_000, maxMs: 10_000, jitter: 0 }, breaker: false });
    const task = h.submit({ kind: "failTimes", input: { times: 1 }, id: "r", retries: 2 });
    await h.waitFor("task.retrying");
    expect(h.stats().tasks).toMatchObject({ queued: 1, running: 0, retried: 1 });
    clock.increment(1_000);
    await h.stop();
    await expect(task.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });

    const clock2 = new SimulatedClock();
    const h2 = createHive({ backend: "inline", tasks: fixtureTasks, clock: clock2, agents, store: { dir }, recover: true, durability: "batched", retry: { minMs: 10_000, maxMs: 10_000, jitter: 0 } });
    hives.push(h2);
    await h2.start();
    await settle();
    expect(h2.stats().tasks).toMatchObject({ queued: 1, running: 0, completed: 0 });
    // The backoff had (about) 10 s left on the wall clock when it was saved.
    clock2.increment(9_000);
    await settle();
    expect(h2.stats().tasks.completed).toBe(0);
    clock2.increment(1_500);
    expect(await h2.result("r")).toMatchObject({ state: "completed", value: "ok on attempt 2", attempts: 2 });
  });

  it("brings a restarting agent back with its restart count, after the backoff it had left", async () => {
    const dir = tmp();
    const supervision = { backoff: { minMs: 5_000, maxMs: 5_000, jitter: 0 } };
    const { h } = await hive({ store: { dir }, durability: "every-task", supervision });
    h.failAgent("a", "drill");
    await settle();
    expect(h.stats().agents[0]).toMatchObject({ status: "restarting", restarts: 1 });
    await h.stop();

    const clock = new SimulatedClock();
    const h2 = createHive({ backend: "inline", tasks: fixtureTasks, clock, agents, store: { dir }, recover: true, supervision });
    hives.push(h2);
    await h2.start();
    expect(h2.stats().agents[0]).toMatchObject({ id: "a", status: "restarting", state: "restarting", restarts: 1, lastCrash: "drill" });
    const task = h2.submit({ kind: "double", input: { n: 4 } });
    clock.increment(4_000);
    await settle();
    expect(h2.stats().tasks.completed).toBe(0);
    clock.increment(1_500);
    expect(await task.result).toBe(8);
    expect(h2.stats().agents[0]).toMatchObject({ status: "up", restarts: 1 });
  });

  it("keeps a task's deadline across a restart: what is left of it, counted from the first submit", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, recover: true });
    const began = h.waitFor((e) => e.type === "task.started");
    h.submit({ kind: "gate", id: "slow", deadlineMs: 60_000, timeoutMs: 120_000 }).result.catch(() => {});
    await began;
    await settle();
    await h.stop(); // a clean stop leaves it open in the journal
    const { h: h2, clock } = await hive({ store: { dir }, recover: true });
    const result = h2.result("slow");
    clock.increment(59_000);
    await settle();
    expect(h2.stats().tasks).toMatchObject({ failed: 0 });
    clock.increment(1_000);
    await settle();
    expect(await result).toMatchObject({ state: "failed", error: { code: "TASK_TIMEOUT", message: expect.stringContaining("missed its deadline (deadlineMs 60000") } });
  });

  it("starts a new process on the store of a degraded hive healthy, with the restart history kept", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, durability: "every-task", supervision: { maxRestarts: 0 } });
    h.failAgent("a", "drill");
    await settle();
    expect(h.stats().degraded?.reason).toMatch(/more than 0 restarts/);
    await h.stop();
    const { h: h2 } = await hive({ store: { dir }, recover: true, supervision: { maxRestarts: 0 } });
    expect(h2.stats().degraded).toBeNull();
    expect(h2.stats().agents[0]).toMatchObject({ status: "up", lastCrash: "drill" });
    expect(await Promise.all([h2.run({ kind: "double", input: { n: 3 } }), settle()]).then(([v]) => v)).toBe(6);
  });

  it("does not resume a task whose attempt was running each of the last maxCrashes times the process died", async () => {
    const dir = tmp();
    // A hive that "dies": never stopped, so nothing says its running attempt ended cleanly.
    const dies = async (first: boolean): Promise<void> => {
      const h = createHive({ backend: "inline", tasks: fixtureTasks, clock: new SimulatedClock(), agents, store: { dir }, recover: true });
      const started = h.waitFor((e) => e.type === "task.started" && e.taskId === "poison");
      await h.start();
      if (first) h.submit({ kind: "gate", id: "poison" });
      await started;
      await settle(); // the attempt's record reaches the disk
    };
    for (let i = 0; i < 3; i++) await dies(i === 0);
    const recovered: unknown[] = [];
    const h = createHive({ backend: "inline", tasks: fixtureTasks, clock: new SimulatedClock(), agents, store: { dir }, recover: true, journal: { maxCrashes: 3 } });
    hives.push(h);
    h.on("hive.recovered", (e) => recovered.push(e));
    await h.start();
    expect(await h.result("poison")).toMatchObject({ state: "deadLettered", error: { code: "WORKER_CRASHED", message: expect.stringContaining("the process died during attempt 1 3 times") } });
    expect(h.stats().tasks.accepted).toBe(0);
    await settle();
    expect(recovered).toEqual([expect.objectContaining({ tasks: 0, abandoned: 1 })]);
  });

  it("resumes a task however often the hive stopped cleanly while it ran", async () => {
    const dir = tmp();
    for (let i = 0; i < 4; i++) {
      const h = createHive({ backend: "inline", tasks: fixtureTasks, clock: new SimulatedClock(), agents, store: { dir }, recover: true });
      const started = h.waitFor((e) => e.type === "task.started" && e.taskId === "long");
      await h.start();
      if (i === 0) h.submit({ kind: "gate", id: "long" });
      await started;
      await h.stop();
    }
    const { h } = await hive({ store: { dir }, recover: true });
    await settle();
    releaseGates();
    expect(await h.result("long")).toMatchObject({ state: "completed" });
  });

  it("skips a torn journal tail with a warning naming the file and offset, and keeps the rest", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, durability: "every-task" });
    for (let i = 0; i < 3; i++) await h.run({ kind: "double", input: { n: i }, id: `d${i}` });
    await h.stop();
    const logs = readdirSync(join(dir, "journal")).filter((n) => n.endsWith(".log")).sort();
    const file = join(dir, "journal", logs.at(-1)!);
    const size = statSync(file).size;
    expect(size).toBeGreaterThan(0);
    appendFileSync(file, '0badc0de {"o":"e","id":"d9","ki'); // a write cut short by the crash
    const warnings: { file: string; offset: number; message: string }[] = [];
    const { h: h2 } = await hive({ store: { dir }, recover: true, journal: { onWarning: (w) => warnings.push(w) } });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ file, offset: size });
    expect(warnings[0]!.message).toContain(`${file} at byte offset ${size}`);
    expect(await h2.result("d2")).toMatchObject({ state: "completed", value: 4 });
    expect(await h2.result("d9")).toBeUndefined();
  });

  it("skips a corrupt record in the middle and recovers the records after it", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, durability: "every-task" });
    await h.run({ kind: "double", input: { n: 1 }, id: "before" });
    await h.stop();
    const journal = join(dir, "journal");
    const file = join(journal, readdirSync(journal).filter((n) => n.endsWith(".log")).sort().at(-1)!);
    appendFileSync(file, '00000000 {"o":"s","id":"bad"}\n');
    const { h: h2 } = await hive({ store: { dir }, recover: true, journal: { onWarning: () => {} } });
    await h2.run({ kind: "double", input: { n: 2 }, id: "after" });
    await h2.stop();
    const warnings: string[] = [];
    const { h: h3 } = await hive({ store: { dir }, recover: true, journal: { onWarning: (w) => warnings.push(w.message) } });
    expect(warnings).toEqual([]); // recovery compacted the damage away
    expect(await h3.result("before")).toMatchObject({ value: 2 });
    expect(await h3.result("after")).toMatchObject({ value: 4 });
    expect(await h3.result("bad")).toBeUndefined();
  });

  it("compacts: the journal stays a few files, and finished tasks past the retention are dropped", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, durability: "every-task", journal: { compactEvery: 20, maxResults: 10 } });
    for (let i = 0; i < 60; i++) await h.run({ kind: "double", input: { n: i }, id: `c${i}` });
    expect(h.stats().journal).toMatchObject({ durability: "every-task", open: 0 });
    expect(h.stats().journal!.compactions).toBeGreaterThanOrEqual(5);
    expect(h.stats().journal!.ended).toBeLessThanOrEqual(30);
    expect(readdirSync(join(dir, "journal")).length).toBeLessThanOrEqual(4);
    await h.stop();
    const { h: h2 } = await hive({ store: { dir }, recover: true, journal: { maxResults: 10 } });
    expect(await h2.result("c0")).toBeUndefined();
    expect(await h2.result("c59")).toMatchObject({ value: 118 });
  });

  it("journals to any store: a memory store shared by two hives", async () => {
    const store = createMemoryStore();
    const { h } = await hive({ store, durability: "batched", journal: { flushMs: 1 } });
    await h.run({ kind: "double", input: { n: 5 }, id: "m1" });
    const open = h.submit({ kind: "gate", id: "m2" });
    await open.accepted;
    await h.stop();
    const { h: h2 } = await hive({ store, recover: true });
    expect(await h2.result("m1")).toMatchObject({ value: 10 });
    releaseGates();
    await settle();
    releaseGates();
    expect(await h2.result("m2")).toMatchObject({ state: "completed" });
  });

  it("starts afresh without recover: an existing journal is discarded", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, durability: "every-task" });
    await h.run({ kind: "double", input: { n: 1 }, id: "old" });
    await h.stop();
    const { h: h2 } = await hive({ store: { dir }, durability: "every-task" });
    expect(await h2.result("old")).toBeUndefined();
    await h2.stop();
    const { h: h3 } = await hive({ store: { dir }, recover: true });
    expect(await h3.result("old")).toBeUndefined();
  });
});

describe("identities, results and dead letters across restarts", () => {
  const noBackoff = { minMs: 0, maxMs: 0, jitter: 0 };
  const stores = { "a file store": () => ({ dir: tmp() }), "a memory store": () => createMemoryStore() };

  for (const [name, makeStore] of Object.entries(stores)) {
    it(`never hands out a generated id twice on ${name}: clean stops, a crash, compactions, expired results, no recover`, async () => {
      const store = makeStore();
      const ids: string[] = [];
      const runSome = async (h: Hive, count: number): Promise<void> => {
        for (let i = 0; i < count; i++) {
          const handle = h.submit({ kind: "double", input: { n: ids.length + 1 } });
          ids.push(handle.id);
          expect(await handle.result).toBe(2 * ids.length);
        }
      };
      const journal = { compactEvery: 4 };
      // Run 1: three results, and a task still running at the stop.
      const { h: h1 } = await hive({ store, durability: "every-task", recover: true, journal });
      await runSome(h1, 3);
      const open = h1.submit({ kind: "gate", input: { value: "run 1's gate" } });
      ids.push(open.id);
      await open.accepted;
      await h1.stop();
      expect(ids).toEqual(["t1", "t2", "t3", "t4"]);

      // Run 2 takes t4 back; its own tasks carry on after it, and t1 is still run 1's task.
      const h2 = createHive({ backend: "inline", tasks: fixtureTasks, clock: new SimulatedClock(), agents, store, recover: true, journal });
      await h2.start();
      const fresh = h2.submit({ kind: "double", input: { n: 5 } });
      ids.push(fresh.id);
      await settle();
      releaseGates();
      expect(await h2.result("t4")).toMatchObject({ state: "completed", value: "run 1's gate" });
      expect(await fresh.result).toBe(10);
      await runSome(h2, 4);
      expect(ids.slice(4)).toEqual(["t5", "t6", "t7", "t8", "t9"]);
      expect(await h2.result("t1")).toMatchObject({ kind: "double", value: 2 });
      expect(h2.stats().journal!.compactions).toBeGreaterThan(0);
      // ... and dies: no stop, so the journal does not know how far its ids went.

      const { h: h3 } = await hive({ store, recover: true, journal });
      await runSome(h3, 6);
      expect(await h3.result("t1")).toMatchObject({ value: 2 });
      expect(await h3.result("t9")).toMatchObject({ value: 18 });
      await h3.stop();

      // Every result has expired: the ids still carry on.
      const { h: h4 } = await hive({ store, recover: true, journal: { retentionMs: 0 } });
      expect(await h4.result("t1")).toBeUndefined();
      await runSome(h4, 2);
      await h4.stop();

      // Without recover the old tasks are discarded, not the ids.
      const { h: h5 } = await hive({ store, durability: "batched", journal: { flushMs: 1 } });
      await runSome(h5, 2);
      await h5.stop();

      expect(new Set(ids).size).toBe(ids.length);
      const numbers = ids.map((id) => Number(id.slice(1)));
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
      // After a clean stop the next run carries on from the next id.
      expect(ids.slice(-4)).toEqual([ids.at(-4), `t${numbers.at(-4)! + 1}`, `t${numbers.at(-4)! + 2}`, `t${numbers.at(-4)! + 3}`]);
    });
  }

  it("reserves ids one to two thousand ahead, journaling a new reservation only when crossing into the last thousand", () => {
    const reserved: number[] = [];
    const ids = new TaskIds();
    expect(ids.next()).toBe("t1"); // no journal: a plain counter
    expect(ids.resume(37, (upTo) => reserved.push(upTo))).toBe(2_000);
    expect(ids.next()).toBe("t38");
    while (ids.last < 1_000) ids.next();
    expect(reserved).toEqual([]);
    expect(ids.next()).toBe("t1001");
    expect(reserved).toEqual([3_000]);
    ids.saw("t5500");
    ids.saw("t05"); // not the generated shape
    expect(reserved).toEqual([3_000, 7_000]);
    expect(ids.next()).toBe("t5501");
  });

  it("counts an end the caller has heard of before the batched write lands", async () => {
    const { h } = await hive({ store: { dir: tmp() }, durability: "batched", journal: { flushMs: 60_000 } });
    await h.run({ kind: "double", input: { n: 1 } });
    expect(h.stats().journal).toMatchObject({ open: 0, writes: 0 });
    const gated = h.submit({ kind: "gate" });
    await settle();
    expect(h.stats().journal).toMatchObject({ open: 1, writes: 0 });
    releaseGates();
    await gated.result;
    expect(h.stats().journal).toMatchObject({ open: 0, writes: 0 });
  });

  it("moves generated ids past a t<n> id a caller chose, in this run and the next", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, durability: "every-task" });
    await h.run({ kind: "double", input: { n: 1 }, id: "t7" });
    expect(h.submit({ kind: "double", input: { n: 2 } }).id).toBe("t8");
    await h.drain();
    await h.stop();
    const { h: h2 } = await hive({ store: { dir }, recover: true });
    expect(h2.submit({ kind: "double", input: { n: 3 } }).id).toBe("t9");
  });

  it("lists dead letters after recovery, in order, retries them with their task, and forgets a retried one", async () => {
    const dir = tmp();
    // No agent breaker, and five failures in a row at most (the agent restarts after that): both
    // would hold the tasks on the simulated clock.
    const options: Partial<HiveOptions> = { store: { dir }, recover: true, retry: noBackoff, breaker: false, journal: { compactEvery: 3 } };
    for (const key of ["a", "b", "c"]) broken().add(key);
    const { h: h1 } = await hive(options);
    const failing = ["a", "b", "c"].map((key) =>
      h1.submit({ kind: "brokenUntilFixed", input: { key, value: `${key} fixed` }, priority: "high", requires: { s: 0.5 }, timeoutMs: 5_000, retries: key === "a" ? 1 : 0 })
    );
    for (const f of failing) await expect(f.result).rejects.toMatchObject({ code: "TASK_FAILED" });
    await h1.run({ kind: "double", input: { n: 1 } });
    // t1 had a retry left, so it was dead-lettered last.
    expect(h1.deadLetters().map((d) => d.taskId)).toEqual(["t2", "t3", "t1"]);
    await h1.stop();

    const { h: h2, clock } = await hive(options);
    expect(h2.deadLetters()).toEqual(["b", "c", "a"].map((key) => ({
      taskId: `t${" abc".indexOf(key)}`,
      kind: "brokenUntilFixed",
      attempts: key === "a" ? 2 : 1,
      agentId: "a",
      error: expect.objectContaining({ code: "TASK_FAILED", message: expect.stringContaining(`${key} is broken`) }),
      at: expect.any(Number),
    })));
    expect(h2.deadLetters()[0]!.at).toBeLessThanOrEqual(clock.now());
    broken().delete("b");
    const queued: string[] = [];
    h2.on("task.queued", (e) => queued.push(`${e.taskId} ${e.priority}`));
    const retried = h2.retryDeadLetter("t2");
    expect(retried.id).toBe("t2");
    expect(await retried.result).toBe("b fixed");
    expect(await h2.result("t2")).toMatchObject({ state: "completed", value: "b fixed", attempts: 1 });
    await settle();
    expect(queued).toEqual(["t2 high"]);
    expect(h2.deadLetters().map((d) => d.taskId)).toEqual(["t3", "t1"]);
    expect(h2.stats().journal!.compactions).toBeGreaterThan(0);
    await h2.stop();

    // No result is kept any more (retentionMs 0), the dead letters still are.
    const { h: h3 } = await hive({ ...options, journal: { retentionMs: 0 } });
    expect(await h3.result("t1")).toBeUndefined();
    expect(h3.deadLetters().map((d) => d.taskId)).toEqual(["t3", "t1"]);
    broken().delete("c");
    expect(await h3.retryDeadLetter("t3").result).toBe("c fixed");
    // Still broken: it spends both attempts again (retries kept) and goes to the back of the list.
    await expect(h3.retryDeadLetter("t1").result).rejects.toMatchObject({ code: "TASK_FAILED" });
    expect(h3.deadLetters()).toEqual([expect.objectContaining({ taskId: "t1", attempts: 2 })]);
    await h3.stop();

    const { h: h4 } = await hive(options);
    expect(h4.deadLetters().map((d) => d.taskId)).toEqual(["t1"]);
    expect(() => h4.retryDeadLetter("t3")).toThrow(expect.objectContaining({ code: "INVALID_TASK", message: expect.stringContaining('received "t3"') }));
  });

  it("keeps a task taken back from the journal when a submit names its id: the submit is refused", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, durability: "every-task" });
    await h.submit({ kind: "gate", id: "long", input: { value: "done" } }).accepted;
    await h.stop();
    const { h: h2 } = await hive({ store: { dir }, recover: true });
    expect(() => h2.submit({ kind: "double", input: { n: 1 }, id: "long" })).toThrow(
      expect.objectContaining({ code: "INVALID_TASK", message: expect.stringContaining('in use by an unfinished task, received "long"') }),
    );
    await h2.stop();
    const { h: h3 } = await hive({ store: { dir }, recover: true });
    await settle();
    releaseGates();
    expect(await h3.result("long")).toMatchObject({ state: "completed", value: "done" });
    expect(h3.stats().journal!.open).toBe(0);
  });

  for (const durability of ["every-task", "batched"] as const) {
    it(`counts no open task in the journal (${durability}) once completed, failed, dead-lettered, cancelled, rejected, shed and resumed tasks have ended`, async () => {
      const dir = tmp();
      const options: Partial<HiveOptions> = { store: { dir }, durability, recover: true, retry: noBackoff, journal: { flushMs: 1 }, queue: { maxQueued: 1, overflow: "shed-lowest" } };
      const { h: h1 } = await hive(options);
      await h1.submit({ kind: "gate", id: "resumed" }).accepted;
      await h1.stop();
      expect(h1.stats().journal!.open).toBe(1); // stopped with it unfinished: the next run takes it back

      const { h } = await hive(options);
      expect(h.stats().journal!.open).toBe(1);
      const ends: string[] = [];
      h.on("*", (e) => {
        if (["task.completed", "task.failed", "task.deadLettered", "task.cancelled", "task.rejected", "task.shed"].includes(e.type)) ends.push(e.type.slice(5));
      });
      const low = h.submit({ kind: "double", input: { n: 1 }, priority: "low" });
      await low.accepted;
      const high = h.submit({ kind: "double", input: { n: 2 }, priority: "high" }); // sheds `low`
      await expect(low.result).rejects.toMatchObject({ code: "QUEUE_FULL" });
      const refused = h.submit({ kind: "double", input: { n: 3 }, priority: "low" }); // nothing lower to shed
      await expect(refused.result).rejects.toMatchObject({ code: "QUEUE_FULL" });
      high.cancel();
      await expect(high.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
      releaseGates();
      expect(await h.result("resumed")).toMatchObject({ state: "completed" });
      await h.run({ kind: "double", input: { n: 4 } });
      await expect(h.run({ kind: "double", input: { n: 5 }, requires: { absent: 1 } })).rejects.toMatchObject({ code: expect.any(String) });
      await expect(h.run({ kind: "fail", retries: 0 })).rejects.toMatchObject({ code: "TASK_FAILED" });
      await h.drain();
      await settle();
      expect(ends.sort()).toEqual(["cancelled", "completed", "completed", "deadLettered", "failed", "rejected", "shed"]);
      expect(h.stats().journal).toMatchObject({ open: 0 });
      await h.stop();
      const { h: h3 } = await hive(options);
      expect(h3.stats().journal).toMatchObject({ open: 0 });
      expect(h3.stats().tasks.accepted).toBe(0);
    });
  }
});

describe("options", () => {
  it("refuses recover without a journal, and bad journal options, naming the field", () => {
    expect(() => createHive({ agents, recover: true, durability: "none" })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"recover" needs a journal') }),
    );
    expect(() => createHive({ agents, durability: "always" as never })).toThrow(/"durability" must be one of none, batched, every-task, received "always"/);
    expect(() => createHive({ agents, durability: "batched", journal: { flushMs: 0 } })).toThrow(/"journal.flushMs" .*received 0/);
    expect(() => createHive({ agents, journal: { everyMs: 1 } as never })).toThrow(/"journal.everyMs" is not a known option/);
  });

  it("refuses an empty idempotency key", async () => {
    const { h } = await hive();
    expect(() => h.submit({ kind: "double", input: { n: 1 }, idempotencyKey: "" })).toThrow(
      expect.objectContaining({ code: "INVALID_TASK", message: expect.stringContaining('"idempotencyKey" must be a non-empty string, received ""') }),
    );
  });
});
