// What users of job queues expect, on a live hive in virtual time (inline backend, a
// SimulatedClock): delayed tasks, pause and resume, the queue listed in run order, cancel by id,
// tasks that run after others — and each across a recovery where it holds state.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { type ApiaryError, createHive, type Hive, type HiveEvent, type HiveOptions } from "../src/index.ts";
import { fixtureTasks, settle, sharedFlag } from "./helpers.ts";

const hives: Hive[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "apiary-jobs-"));
  dirs.push(d);
  return d;
}

async function hive(options: Partial<HiveOptions> = {}, clock = new SimulatedClock()): Promise<{ h: Hive; clock: SimulatedClock; events: HiveEvent[] }> {
  const h = createHive({ backend: "inline", tasks: fixtureTasks, clock, agents: [{ id: "a", concurrency: 2 }], ...options });
  hives.push(h);
  const events: HiveEvent[] = [];
  h.on("*", (e) => void events.push(e));
  await h.start();
  return { h, clock, events };
}

describe("delayed tasks", () => {
  it("accepts a task at once and runs it only once its delayMs has passed on the hive clock", async () => {
    const { h, clock, events } = await hive();
    const handle = h.submit<number>({ kind: "double", input: { n: 21 }, delayMs: 5_000 });
    await handle.accepted;
    clock.increment(4_999);
    await settle();
    expect(events.some((e) => e.type === "task.started")).toBe(false);
    expect(h.stats().tasks).toMatchObject({ accepted: 1, queued: 1, completed: 0 });
    expect(h.queued()).toEqual([{ taskId: handle.id, kind: "double", priority: "normal", attempt: 1, state: "delayed", at: 5_000 }]);
    clock.increment(1);
    expect(await handle.result).toBe(42);
  });

  it("takes runAt as an epoch time or a Date; a time past runs at once; not both delayMs and runAt", async () => {
    const { h } = await hive();
    expect(await h.run({ kind: "double", input: { n: 1 }, runAt: Date.now() - 1_000 })).toBe(2);
    expect(await h.run({ kind: "double", input: { n: 2 }, runAt: new Date(Date.now() - 5) })).toBe(4);
    expect(() => h.submit({ kind: "double", input: { n: 1 }, delayMs: 5, runAt: Date.now() })).toThrow(/"runAt" must not set both delayMs and runAt/);
    expect(() => h.submit({ kind: "double", input: { n: 1 }, runAt: "tomorrow" as never })).toThrow(/"runAt" must be epoch milliseconds or a Date, received "tomorrow"/);
    expect(() => h.submit({ kind: "double", input: { n: 1 }, delayMs: -1 })).toThrow(/"delayMs" must be/);
  });

  it("is cancelled while it waits, and a deadline shorter than the delay ends it TASK_TIMEOUT", async () => {
    const { h, clock } = await hive();
    const waiting = h.submit({ kind: "double", input: { n: 1 }, delayMs: 10_000 });
    expect(h.cancel(waiting.id)).toBe(true);
    await expect(waiting.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
    const late = h.submit({ kind: "double", input: { n: 1 }, delayMs: 10_000, deadlineMs: 1_000 });
    late.result.catch(() => {});
    await settle();
    clock.increment(1_000);
    await expect(late.result).rejects.toMatchObject({ code: "TASK_TIMEOUT" });
  });

  it("keeps what is left of its delay across a restart with recover: true", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, recover: true });
    await h.submit({ kind: "double", input: { n: 5 }, delayMs: 60_000, id: "later" }).accepted;
    await h.stop();
    const { h: h2, clock } = await hive({ store: { dir }, recover: true });
    const result = h2.result("later");
    await settle();
    expect(h2.stats().tasks).toMatchObject({ queued: 1, completed: 0 });
    clock.increment(60_000);
    expect(await result).toMatchObject({ state: "completed", value: 10 });
  });
});

describe("pause and resume", () => {
  it("stops dispatch (running attempts finish, intake continues), readiness says paused, resume places at once", async () => {
    const { h } = await hive();
    const flag = sharedFlag();
    const running = h.submit({ kind: "waitAbort", input: { flag: flag.flag } });
    running.result.catch(() => {});
    await settle();
    h.pause();
    expect(h.paused).toBe(true);
    const later = h.submit<number>({ kind: "double", input: { n: 3 } });
    await later.accepted;
    await settle();
    expect(h.stats()).toMatchObject({ paused: true, tasks: { running: 1, queued: 1, completed: 0 } });
    const server = await h.serve({ port: 0 });
    const ready = await fetch(`${server.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("paused");
    await server.close();
    h.resume();
    expect(await later.result).toBe(6);
    expect(h.stats().paused).toBe(false);
    h.cancel(running.id);
  });

  it("counts every task accepted while paused against the queue bound", async () => {
    const { h } = await hive({ queue: { maxQueued: 2 } });
    h.pause();
    const handles = [1, 2, 3].map((n) => h.submit({ kind: "double", input: { n } }));
    const accepted = await Promise.allSettled(handles.map((x) => x.accepted));
    expect(accepted.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    h.resume();
    expect(await Promise.all(handles.slice(0, 2).map((x) => x.result))).toEqual([2, 4]);
  });

  it("stays paused across a restart until resume()", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, recover: true });
    h.pause();
    await h.submit({ kind: "double", input: { n: 4 }, id: "p" }).accepted;
    await h.stop();
    const { h: h2 } = await hive({ store: { dir }, recover: true });
    await settle();
    expect(h2.paused).toBe(true);
    expect(h2.stats().tasks.completed).toBe(0);
    h2.resume();
    expect(await h2.result("p")).toMatchObject({ state: "completed", value: 8 });
  });
});

describe("the queue, listed and cancelled by id", () => {
  it("lists waiting tasks in the order they will run: priority, then longest waiting, then the delayed", async () => {
    const { h } = await hive();
    h.pause();
    const handles = [
      h.submit({ kind: "double", input: { n: 1 }, priority: "low", id: "low" }),
      h.submit({ kind: "double", input: { n: 2 }, priority: "critical", id: "crit" }),
      h.submit({ kind: "double", input: { n: 3 }, id: "norm1" }),
      h.submit({ kind: "context", id: "norm2" }),
      h.submit({ kind: "double", input: { n: 4 }, delayMs: 100, id: "delayed" }),
    ];
    expect(h.queued().map((t) => t.taskId)).toEqual(["crit", "norm1", "norm2", "low", "delayed"]);
    expect(h.queued({ kind: "double", limit: 2 }).map((t) => t.taskId)).toEqual(["crit", "norm1"]);
    expect(h.queued({ priority: "low" }).map((t) => t.taskId)).toEqual(["low"]);
    expect(() => h.queued({ priority: "urgent" as never })).toThrow(/"priority" must be one of critical, high, normal, low, background, received "urgent"/);
    expect(() => h.queued({ limit: -1 })).toThrow(/"limit" must be a non-negative integer, received -1/);
    expect(h.cancel("norm1")).toBe(true);
    expect(h.cancel("nope")).toBe(false);
    expect(() => h.cancel("" as string)).toThrow(/"id" must be a non-empty string/);
    await settle();
    expect(h.queued().map((t) => t.taskId)).toEqual(["crit", "norm2", "low", "delayed"]);
    await expect(handles[2]!.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
  });
});

describe("tasks that run after others", () => {
  it("waits for its predecessors and reads their values as ctx.after, in order", async () => {
    const { h, clock } = await hive({ journal: { maxResults: 100 } }); // keeps finished tasks to name later
    const a = h.submit({ kind: "double", input: { n: 1 }, delayMs: 1_000 });
    const b = h.submit({ kind: "double", input: { n: 10 } });
    const sum = h.submit<number>({ kind: "sumAfter", input: { n: 100 }, after: [a.id, b.id] });
    await b.result;
    await settle();
    expect(h.queued().map((t) => [t.taskId, t.state])).toEqual([[a.id, "delayed"], [sum.id, "held"]]);
    expect(h.stats().tasks).toMatchObject({ completed: 1, queued: 2 });
    clock.increment(1_000);
    expect(await sum.result).toBe(122);
    const order = await h.run<unknown[]>({ kind: "afterOutcomes", after: [b.id, a.id] }); // finished ones: at once
    expect(order).toEqual([20, 2]);
  });

  it("fails DEPENDENCY_FAILED naming the predecessor that did not complete, or runs anyway with afterPolicy settle", async () => {
    const { h } = await hive({ defaults: { retries: 0 }, journal: { maxResults: 100 } });
    const bad = h.submit({ kind: "fail", input: { message: "nope" }, id: "bad" });
    bad.result.catch(() => {});
    const good = h.submit({ kind: "double", input: { n: 2 }, id: "good" });
    const strict = h.submit({ kind: "sumAfter", after: ["good", "bad"] });
    const error = (await strict.result.catch((e: unknown) => e)) as ApiaryError;
    expect(error).toMatchObject({ code: "DEPENDENCY_FAILED", message: expect.stringContaining('"bad", did not complete: it ended deadLettered (TASK_FAILED') });
    expect((error.cause as ApiaryError).code).toBe("TASK_FAILED");
    expect(await h.run({ kind: "afterOutcomes", after: [good.id, "bad"], afterPolicy: "settle" })).toEqual([{ ok: true, value: 4 }, {
      ok: false,
      error: { code: "TASK_FAILED", message: expect.stringContaining("nope") },
    }]);
  });

  it("refuses a predecessor it does not know, itself, and a bad policy — naming the field", async () => {
    const { h } = await hive();
    expect(() => h.submit({ kind: "double", input: { n: 1 }, after: ["ghost"] })).toThrow(/"after\[0\]" must name a task the hive knows .*received "ghost"/);
    const done = h.submit({ kind: "double", input: { n: 1 } });
    await done.result;
    await settle();
    // Without a journal (or journal.maxResults) a finished task is not kept: it cannot be named.
    expect(() => h.submit({ kind: "double", input: { n: 1 }, after: [done.id] })).toThrow(/journal\.maxResults/);
    expect(() => h.submit({ kind: "double", input: { n: 1 }, id: "me", after: ["me"] })).toThrow(/"after\[0\]" must not name the task itself \(a cycle\)/);
    expect(() => h.submit({ kind: "double", input: { n: 1 }, after: "x" as never })).toThrow(/"after" must be an array of task ids/);
    expect(() => h.submit({ kind: "double", input: { n: 1 }, after: [], afterPolicy: "maybe" as never })).toThrow(/"afterPolicy" must be one of fail, settle, received "maybe"/);
    expect(h.stats().tasks.submitted).toBe(1);
  });

  it("keeps the graph across a restart: a held task runs once its predecessor ends in the next process", async () => {
    const dir = tmp();
    const { h } = await hive({ store: { dir }, recover: true });
    await h.submit({ kind: "double", input: { n: 7 }, delayMs: 60_000, id: "first" }).accepted;
    await h.submit({ kind: "sumAfter", after: ["first"], id: "second" }).accepted;
    await h.stop();
    const { h: h2, clock } = await hive({ store: { dir }, recover: true });
    const second = h2.result("second");
    clock.increment(60_000);
    expect(await second).toMatchObject({ state: "completed", value: 14 });
  });

  it("ends a held task cancelled with its handle, and its predecessor's end then changes nothing", async () => {
    const { h, clock } = await hive();
    const first = h.submit({ kind: "double", input: { n: 1 }, delayMs: 100 });
    const held = h.submit({ kind: "sumAfter", after: [first.id] });
    held.cancel();
    await expect(held.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
    clock.increment(100);
    expect(await first.result).toBe(2);
    await settle();
    expect(h.stats().tasks).toMatchObject({ completed: 1, cancelled: 1, queued: 0, running: 0 });
  });
});

describe("schedules", () => {
  it("runs a task every everyMs on the hive clock until stopped", async () => {
    const { h, clock, events } = await hive();
    const every = h.schedule({ kind: "double", input: { n: 1 } }, { everyMs: 1_000 });
    expect(every.nextAt).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) {
      clock.increment(1_000);
      await settle();
    }
    expect(every.runs).toBe(3);
    expect(events.filter((e) => e.type === "task.completed")).toHaveLength(3);
    every.stop();
    expect(every.nextAt).toBeUndefined();
    clock.increment(5_000);
    await settle();
    expect(h.stats().tasks.completed).toBe(3);
  });

  it("runs at the times of a cron pattern, read against the hive's wall time", async () => {
    const { h, clock } = await hive();
    const minutely = h.schedule({ kind: "double", input: { n: 2 } }, { cron: "* * * * *" }, { id: "minutely" });
    const first = minutely.nextAt!;
    expect(first % 60_000).toBe(0); // on a minute boundary
    for (let i = 0; i < 5; i++) {
      clock.increment(60_000);
      await settle();
    }
    expect(minutely.runs).toBe(5);
    expect(minutely.nextAt! - first).toBe(5 * 60_000);
  });

  it("reads a cron pattern against the clock's epochMs when it has one, and refuses an unknown time zone naming it", async () => {
    const clock = Object.assign(new SimulatedClock(), { epochMs: Date.UTC(2026, 2, 2, 8, 59) });
    const { h } = await hive({}, clock);
    const nine = h.schedule({ kind: "double", input: { n: 1 } }, { cron: "0 9 * * *", timezone: "UTC" });
    expect(nine.nextAt).toBe(Date.UTC(2026, 2, 2, 9));
    clock.increment(60_000);
    await settle();
    expect(nine.runs).toBe(1);
    expect(() => h.schedule({ kind: "double" }, { cron: "0 9 * * *", timezone: "Mars/Base" })).toThrow(/"when.timezone" must be an IANA time zone name, received "Mars\/Base"/);
  });

  it("refuses a bad pattern, a bad spec, a taken id and a task with an id — naming the field", async () => {
    const { h } = await hive();
    expect(() => h.schedule({ kind: "double" }, { cron: "every day" })).toThrow(/Cannot schedule task: "when.cron" must be a cron pattern, received "every day"/);
    expect(() => h.schedule({ kind: "double" }, { everyMs: 0 })).toThrow(/"when.everyMs" must be an integer from 1 to 2147483647, received 0/);
    expect(() => h.schedule({ kind: "double" }, {} as never)).toThrow(/"when" must be \{ everyMs \} or \{ cron, timezone\? \}/);
    expect(() => h.schedule({ kind: "nope" }, { everyMs: 10 })).toThrow(/"kind" must be one of/);
    expect(() => h.schedule({ kind: "double", id: "x" }, { everyMs: 10 })).toThrow(/"id" must not be set/);
    h.schedule({ kind: "double" }, { everyMs: 10 }, { id: "same" });
    expect(() => h.schedule({ kind: "double" }, { everyMs: 10 }, { id: "same" })).toThrow(/"options.id" must not name a running schedule, received "same"/);
  });

  it("after downtime runs a missed schedule once, not once per missed period", async () => {
    const dir = tmp();
    const { h, clock } = await hive({ store: { dir }, recover: true });
    h.schedule({ kind: "double", input: { n: 3 } }, { everyMs: 1_000 }, { id: "tick" });
    clock.increment(1_000);
    await settle();
    await h.stop();
    const clock2 = new SimulatedClock();
    const { h: h2 } = await hive({ store: { dir }, recover: true }, clock2);
    clock2.increment(10_000); // ten periods pass before the schedule is made again
    const again = h2.schedule({ kind: "double", input: { n: 3 } }, { everyMs: 1_000 }, { id: "tick" });
    expect(again.runs).toBe(1);
    await settle();
    expect(h2.stats().tasks.completed).toBe(1);
    clock2.increment(1_000);
    await settle();
    expect(again.runs).toBe(2);
  });
});
