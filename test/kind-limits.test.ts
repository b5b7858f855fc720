// Per-kind dispatch limits (`createHive({ limits })`) on a live hive in virtual time (inline
// backend, a SimulatedClock): the window holds, a timer on the hive clock frees the waiting tasks,
// other kinds are not held back, priorities order the waiting ones, retries count, and the option
// is validated naming the field. On a backend whose attempts start after their placement (a
// backend of the test's own that starts them when told) the window counts the reported starts.
import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { DispatchWindow } from "../actors/kind-limits.ts";
import { type AttemptCallback, type AttemptResult, createHive, type ExecutionBackend, type Hive, type HiveEvent, type HiveOptions, type StartCallback } from "../src/index.ts";
import { fixtureTasks, settle } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

async function hive(options: Partial<HiveOptions> = {}): Promise<{ h: Hive; clock: SimulatedClock; events: HiveEvent[] }> {
  const clock = new SimulatedClock();
  const h = createHive({ backend: "inline", tasks: fixtureTasks, clock, agents: [{ id: "a", concurrency: 8 }, { id: "b", concurrency: 8 }], ...options });
  hives.push(h);
  const events: HiveEvent[] = [];
  h.on("*", (e) => void events.push(e));
  await h.start();
  return { h, clock, events };
}

/** Moves the clock on in small steps, letting the hive run between them (timers fire at their own time). */
async function advance(clock: SimulatedClock, ms: number, stepMs = 10): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.increment(stepMs);
    await settle(2);
  }
}

function starts(events: HiveEvent[], kind: string): Extract<HiveEvent, { type: "task.started" }>[] {
  return events.filter((e): e is Extract<HiveEvent, { type: "task.started" }> => e.type === "task.started" && e.kind === kind);
}

describe("per-kind dispatch limits", () => {
  it("dispatches at most max in any window of perMs, and about max per perMs while tasks wait (a timer wakes it)", async () => {
    const { h, clock, events } = await hive({ limits: { double: { max: 10, perMs: 1_000 } } });
    const handles = Array.from({ length: 100 }, (_, n) => h.submit<number>({ kind: "double", input: { n } }));
    await settle();
    expect(starts(events, "double")).toHaveLength(10);
    await advance(clock, 5_500);
    const at = starts(events, "double").map((e) => e.at);
    // Windows are half-open: the 11th dispatch may go exactly perMs after the 1st.
    for (let i = 0; i + 10 < at.length; i++) expect(at[i + 10]! - at[i]!).toBeGreaterThanOrEqual(1_000);
    // 10 at 0, 1000, …, 5000: the window's end starts the next ten without another event.
    expect(at.filter((t) => t < 5_000)).toHaveLength(50);
    expect(at).toHaveLength(60);
    expect(at.filter((t) => t === 1_000)).toHaveLength(10);
    expect(h.stats().tasks).toMatchObject({ completed: 60, queued: 40 });
    await advance(clock, 4_000, 100);
    expect(await Promise.all(handles.map((x) => x.result))).toEqual(Array.from({ length: 100 }, (_, n) => 2 * n));
  });

  it("does not hold back tasks of other kinds queued behind the limited ones", async () => {
    const { h, events } = await hive({ limits: { double: { max: 2, perMs: 1_000 } } });
    const limited = Array.from({ length: 6 }, (_, n) => h.submit({ kind: "double", input: { n }, id: `d${n}` }));
    const other = h.submit({ kind: "asyncDouble", input: { n: 21 } });
    expect(await other.result).toBe(42);
    expect(starts(events, "asyncDouble")[0]?.at).toBe(0);
    expect(h.queued()).toEqual(
      ["d2", "d3", "d4", "d5"].map((taskId) => ({ taskId, kind: "double", priority: "normal", attempt: 1, state: "limited", at: 1_000 })),
    );
    expect(h.queued({ kind: "double", limit: 1 })).toHaveLength(1);
    expect(h.cancel("d5")).toBe(true);
    await expect(limited[5]!.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
  });

  it("orders the waiting tasks of a kind by priority, and a task's timeoutMs does not run while it waits", async () => {
    const { h, clock, events } = await hive({ limits: { double: { max: 2, perMs: 1_000 } } });
    for (const n of [1, 2, 3, 4]) h.submit({ kind: "double", input: { n }, priority: "low", id: `low${n}` });
    const urgent = h.submit<number>({ kind: "double", input: { n: 5 }, priority: "critical", id: "urgent", timeoutMs: 50 });
    await settle();
    await advance(clock, 1_000);
    expect(starts(events, "double").map((e) => [e.taskId, e.at])).toEqual([["low1", 0], ["low2", 0], ["urgent", 1_000], ["low3", 1_000]]);
    expect(await urgent.result).toBe(10);
  });

  it("counts retries as dispatches", async () => {
    const { h, clock, events } = await hive({ limits: { failTimes: { max: 2, perMs: 1_000 } }, retry: { minMs: 10, maxMs: 10, jitter: 0 } });
    const handle = h.submit<string>({ kind: "failTimes", input: { times: 2 }, retries: 2 });
    await settle();
    await advance(clock, 1_100);
    expect(starts(events, "failTimes").map((e) => [e.attempt, e.at])).toEqual([[1, 0], [2, 10], [3, 1_000]]);
    expect(await handle.result).toBe("ok on attempt 3");
  });

  it("ends waiting tasks cancelled when the hive stops, its wake-up timer with them", async () => {
    const { h } = await hive({ limits: { double: { max: 1, perMs: 60_000 } } });
    const first = h.submit({ kind: "double", input: { n: 1 } });
    const second = h.submit({ kind: "double", input: { n: 2 } });
    expect(await first.result).toBe(2);
    await h.stop();
    await expect(second.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
  });

  it("on a backend that reports starts, counts each attempt from its start: placed and not started, it fills the window", async () => {
    // Attempts start (and end) when the test says: as on threads that free late, or worker nodes far off.
    const held: { id: string; done: AttemptCallback; onStart: StartCallback | undefined }[] = [];
    const backend: ExecutionBackend = {
      name: "late-start",
      startsOnDispatch: false,
      start: () => Promise.resolve({ kinds: ["call"] }),
      exec: (attempt, done, onStart) => void held.push({ id: attempt.id, done, onStart }),
      abort: () => {},
      stats: () => ({ threads: 0, inFlight: held.length, messages: 0, threadRestarts: 0 }),
      close: () => Promise.resolve(),
    };
    const { h, clock, events } = await hive({ backend: () => backend, agents: [{ id: "a", concurrency: 8 }], limits: { call: { max: 2, perMs: 1_000 } } });
    const handles = Array.from({ length: 4 }, (_, n) => h.submit({ kind: "call", input: n, id: `c${n}` }));
    const placed = (): string[] => events.filter((e) => e.type === "allocation.decided").map((e) => (e as { taskId: string }).taskId);
    await settle();
    expect(placed()).toEqual(["c0", "c1"]);
    // A window of placements would let two more through at 1000; neither has started yet.
    await advance(clock, 1_500);
    expect(placed()).toEqual(["c0", "c1"]);
    expect(h.explain("c2")?.waiting).toMatchObject({ state: "limited", reason: expect.stringContaining("2 of its attempts placed have not reported their start yet") });
    // They start at 1500 (the callback takes epoch ms: now, which the hive reads as its own now).
    for (const a of held.splice(0)) {
      a.onStart?.(performance.timeOrigin + performance.now(), false);
      a.done({ ok: true, value: a.id } satisfies AttemptResult);
    }
    await settle();
    expect(starts(events, "call").map((e) => e.at)).toEqual([expect.closeTo(1_500, 0), expect.closeTo(1_500, 0)]);
    expect(h.explain("c2")?.waiting).toMatchObject({ state: "limited", at: expect.closeTo(2_500, 0) });
    await advance(clock, 990);
    expect(placed()).toEqual(["c0", "c1"]);
    await advance(clock, 20);
    expect(placed()).toEqual(["c0", "c1", "c2", "c3"]);
    // One ends without starting (cancelled while it waited): its place in the window is free again.
    h.submit({ kind: "call", input: 4, id: "c4" });
    await settle();
    expect(placed()).toHaveLength(4);
    expect(held.map((a) => a.id)).toEqual(["c2", "c3"]);
    expect(h.cancel("c3")).toBe(true);
    await settle();
    expect(placed()).toEqual(["c0", "c1", "c2", "c3", "c4"]);
    await expect(handles[3]!.result).rejects.toMatchObject({ code: "TASK_CANCELLED" });
  });

  it("a window holds max starts in any perMs, its attempts placed and not started included, whatever order the starts arrive in", () => {
    const w = new DispatchWindow("k", { max: 3, perMs: 1_000 });
    w.placed();
    w.placed();
    w.placed();
    expect([w.allows(0), w.freeAt(0), w.pending]).toEqual([false, undefined, 3]);
    w.started(300);
    expect([w.allows(1_299), w.allows(1_300), w.freeAt(400)]).toEqual([false, true, 1_300]);
    w.started(100); // reported after a later start
    expect([w.allows(1_099), w.allows(1_100), w.freeAt(400)]).toEqual([false, true, 1_100]);
    w.unstarted(); // the third never started
    expect([w.allows(400), w.freeAt(400), w.pending]).toEqual([true, 400, 0]);
    w.record(400); // starts 100, 300, 400: full
    expect([w.allows(1_099), w.freeAt(500)]).toEqual([false, 1_100]);
    w.record(1_100); // 100 leaves: 300, 400, 1100
    expect(w.freeAt(1_100)).toBe(1_300);
    w.started(50); // older than every start kept: it changes nothing
    expect([w.freeAt(1_100), w.allows(1_300)]).toEqual([1_300, true]);
  });

  it("refuses a bad limit, naming the field and the value", () => {
    const make = (limits: unknown) => () => createHive({ backend: "inline", agents: [{ id: "a" }], limits: limits as never });
    expect(make({ double: { max: 0, perMs: 1_000 } })).toThrow(/"limits\.double\.max" must be an integer from 1 to 1000000, received 0/);
    expect(make({ double: { max: 1.5, perMs: 1_000 } })).toThrow(/"limits\.double\.max" must be an integer from 1 to 1000000, received 1\.5/);
    expect(make({ double: { max: 5, perMs: "1s" } })).toThrow(/"limits\.double\.perMs" must be an integer from 1 to 2147483647, received "1s"/);
    expect(make({ double: { max: 5 } })).toThrow(/"limits\.double\.perMs" must be an integer from 1 to 2147483647/);
    expect(make({ double: { max: 5, perMs: 10, burst: 2 } })).toThrow(/"limits\.double\.burst" is not a known option/);
    expect(make({ double: 5 })).toThrow(/"limits\.double" must be an object \{ max, perMs \}, received 5/);
    expect(make([1])).toThrow(/"limits" must be an object of task kind to \{ max, perMs \}/);
    try {
      make({ double: { max: -1, perMs: 1 } })();
    } catch (error) {
      expect(error).toMatchObject({ code: "INVALID_OPTIONS" });
    }
  });
});
