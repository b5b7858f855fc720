import { describe, expect, it } from "vitest";
import { SimulatedClock } from "xstate";
import { BUS_PRIORITIES, type BusPriority, EventBus } from "../src/observe/bus.ts";
import { isApiaryError } from "../src/core/errors.ts";

type Ev =
  | { type: "task.completed"; at: number; taskId: string; output: number }
  | { type: "task.failed"; at: number; taskId: string; error: string }
  | { type: "agent.idle"; at: number; agentId: string };

const done = (taskId: string, at = 0): Ev => ({ type: "task.completed", at, taskId, output: 1 });
const failed = (taskId: string, at = 0): Ev => ({ type: "task.failed", at, taskId, error: "x" });

describe("EventBus delivery", () => {
  it("delivers to typed and wildcard subscribers in a microtask, never inside publish", async () => {
    const bus = new EventBus<Ev>();
    const seen: string[] = [];
    bus.on("task.completed", (e) => seen.push(`typed:${e.taskId}`));
    bus.on("*", (e) => seen.push(`any:${e.type}`));
    bus.publish(done("t1"));
    bus.publish({ type: "agent.idle", at: 1, agentId: "a" });
    expect(seen).toEqual([]);
    await bus.flush();
    expect(seen).toEqual(["typed:t1", "any:task.completed", "any:agent.idle"]);
  });

  it("delivers queued events by priority, FIFO within a priority", async () => {
    const bus = new EventBus<Ev>();
    const seen: string[] = [];
    bus.on("*", (e) => seen.push("taskId" in e ? e.taskId : e.agentId));
    bus.publish(done("bg"), { priority: "background" });
    bus.publish(done("n1"));
    bus.publish(done("crit"), { priority: "critical" });
    bus.publish(done("n2"), { priority: "normal" });
    bus.publishBatch([done("h1"), done("h2")], { priority: "high" });
    bus.publish(done("low"), { priority: "low" });
    await bus.flush();
    expect(seen).toEqual(["crit", "h1", "h2", "n1", "n2", "low", "bg"]);
  });

  it("takes the default priority from priorityOf", async () => {
    const bus = new EventBus<Ev>({ priorityOf: (e) => (e.type === "task.failed" ? "critical" : "low") });
    const seen: string[] = [];
    bus.on("*", (e) => seen.push(e.type));
    bus.publish(done("a"));
    bus.publish(failed("b"));
    await bus.flush();
    expect(seen).toEqual(["task.failed", "task.completed"]);
  });

  it("an event a subscriber publishes during a drain is delivered in the same drain, by priority", async () => {
    const bus = new EventBus<Ev>();
    const seen: string[] = [];
    bus.on("task.failed", (e) => {
      seen.push(`failed:${e.taskId}`);
      bus.publish(done("urgent"), { priority: "critical" });
    });
    bus.on("task.completed", (e) => seen.push(`done:${e.taskId}`));
    bus.publish(failed("f"));
    bus.publish(done("later"), { priority: "low" });
    await bus.flush();
    expect(seen).toEqual(["failed:f", "done:urgent", "done:later"]);
  });

  it("delivers before publish returns in sync mode", () => {
    const bus = new EventBus<Ev>({ delivery: "sync" });
    const seen: string[] = [];
    bus.on("task.completed", (e) => seen.push(e.taskId));
    bus.publish(done("t1"));
    expect(seen).toEqual(["t1"]);
  });

  it("unsubscribes with the disposer, by call or by using", async () => {
    const bus = new EventBus<Ev>();
    const seen: string[] = [];
    const off = bus.on("task.completed", (e) => seen.push(`a:${e.taskId}`));
    {
      using _scoped = bus.on("task.completed", (e) => seen.push(`b:${e.taskId}`));
      bus.publish(done("1"));
      await bus.flush();
    }
    off();
    off();
    bus.publish(done("2"));
    await bus.flush();
    expect(seen).toEqual(["a:1", "b:1"]);
    expect(bus.listenerCount()).toBe(0);
  });

  it("skips a subscriber removed while events for it are queued", async () => {
    const bus = new EventBus<Ev>();
    const seen: string[] = [];
    const off = bus.on("task.completed", (e) => seen.push(e.taskId));
    bus.publish(done("1"));
    off();
    await bus.flush();
    expect(seen).toEqual([]);
  });

  it("calls a once subscriber a single time", async () => {
    const bus = new EventBus<Ev>();
    const seen: string[] = [];
    bus.on("task.completed", (e) => seen.push(e.taskId), { once: true });
    bus.publishBatch([done("1"), done("2")]);
    await bus.flush();
    expect(seen).toEqual(["1"]);
    expect(bus.listenerCount("task.completed")).toBe(0);
  });

  it("replays the last N delivered events to a late subscriber that asks, filtered by type", async () => {
    const bus = new EventBus<Ev>({ replay: 3 });
    bus.publishBatch([done("1"), failed("2"), done("3"), done("4"), done("5")]);
    await bus.flush();
    const typed: string[] = [];
    const all: string[] = [];
    const none: string[] = [];
    bus.on("task.completed", (e) => typed.push(e.taskId), { replay: true });
    bus.on("*", (e) => all.push(e.type), { replay: true });
    bus.on("task.completed", (e) => none.push(e.taskId));
    expect(typed).toEqual(["3", "4", "5"]);
    expect(all).toEqual(["task.completed", "task.completed", "task.completed"]);
    expect(none).toEqual([]);
    bus.publish(done("6"));
    await bus.flush();
    expect(typed).toEqual(["3", "4", "5", "6"]);
    expect(none).toEqual(["6"]);
  });

  it("does not replay a queued event twice to a late subscriber", async () => {
    const bus = new EventBus<Ev>({ replay: 10 });
    bus.publish(done("1"));
    await bus.flush();
    bus.publish(done("2"));
    const seen: string[] = [];
    bus.on("task.completed", (e) => seen.push(e.taskId), { replay: true });
    await bus.flush();
    expect(seen).toEqual(["1", "2"]);
  });

  it("rejects invalid options and events with a message naming the field and value", () => {
    expect(() => new EventBus({ replay: -1 })).toThrow(/"replay" must be a non-negative integer, received -1/);
    expect(() => new EventBus({ delivery: "eager" as never })).toThrow(/"delivery" must be "queued" or "sync", received "eager"/);
    expect(() => new EventBus({ retryBaseMs: 500, retryMaxMs: 100 })).toThrow(/"retryMaxMs" must be at least/);
    const bus = new EventBus<Ev>();
    try {
      bus.publish({ kind: "x" } as never);
      expect.unreachable();
    } catch (error) {
      expect(isApiaryError(error, "INVALID_EVENT")).toBe(true);
      expect((error as Error).message).toContain('{"kind":"x"}');
    }
    expect(() => bus.on("task.completed", 5 as never)).toThrow(/"listener" must be a function, received 5/);
    expect(() => bus.publish(done("t1"), { priority: "urgent" as never })).toThrow(
      /Cannot publish "task.completed": "priority" must be one of "critical", .*, received "urgent"/,
    );
  });
});

describe("EventBus ordering invariant", () => {
  it("delivers every queued event exactly once, by priority and FIFO within one (500 seeded random runs)", async () => {
    let seed = 7;
    const random = () => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let run = 0; run < 500; run++) {
      const bus = new EventBus<{ type: "e"; at: number; taskId: string }>();
      const seen: string[] = [];
      bus.on("e", (e) => seen.push(e.taskId));
      const published: { id: string; p: number }[] = [];
      const n = 1 + Math.floor(random() * 30);
      for (let i = 0; i < n; i++) {
        const p = Math.floor(random() * 5);
        const id = `${run}.${i}`;
        published.push({ id, p });
        if (random() < 0.2) bus.publishBatch([{ type: "e", at: i, taskId: id }], { priority: BUS_PRIORITIES[p] as BusPriority });
        else bus.publish({ type: "e", at: i, taskId: id }, { priority: BUS_PRIORITIES[p] as BusPriority });
      }
      await bus.flush();
      // Array.prototype.sort is stable: FIFO within a priority.
      expect(seen).toEqual([...published].sort((a, b) => a.p - b.p).map((x) => x.id));
    }
  });
});

describe("EventBus failures", () => {
  it("in sync mode too, a throwing subscriber reaches neither the publisher nor the others", () => {
    const bus = new EventBus<Ev>({ delivery: "sync", maxRetries: 0 });
    const seen: string[] = [];
    bus.on("task.completed", () => {
      throw new Error("boom");
    });
    bus.on("task.completed", (e) => seen.push(e.taskId));
    expect(() => bus.publish(done("t1"))).not.toThrow();
    expect(seen).toEqual(["t1"]);
    expect(bus.deadLetters()).toMatchObject([{ state: "exhausted", attempts: 1 }]);
  });

  it("a throwing subscriber breaks neither the others nor the publisher, and becomes a dead letter", async () => {
    const clock = new SimulatedClock();
    const bus = new EventBus<Ev>({ clock });
    const seen: string[] = [];
    bus.on("task.completed", () => {
      throw new Error("boom");
    });
    bus.on("task.completed", (e) => seen.push(e.taskId));
    expect(bus.publish(done("t1"))).toBe(true);
    await bus.flush();
    expect(seen).toEqual(["t1"]);
    const [letter, ...rest] = bus.deadLetters();
    expect(rest).toEqual([]);
    expect(letter).toMatchObject({ listenerType: "task.completed", attempts: 1, state: "retrying", event: { taskId: "t1" } });
    expect((letter?.error as Error).message).toBe("boom");
  });

  it("retries with exponential backoff on the injected clock, then marks the letter exhausted", async () => {
    const clock = new SimulatedClock();
    const bus = new EventBus<Ev>({ clock, maxRetries: 3, retryBaseMs: 100 });
    const calls: number[] = [];
    bus.on("task.completed", () => {
      calls.push(clock.now());
      throw new Error(`fail ${calls.length}`);
    });
    bus.publish(done("t1"));
    await bus.flush();
    expect(calls).toEqual([0]);
    clock.increment(99);
    expect(calls).toEqual([0]);
    clock.increment(1);
    expect(calls).toEqual([0, 100]);
    clock.increment(200);
    expect(calls).toEqual([0, 100, 300]);
    clock.increment(400);
    expect(calls).toEqual([0, 100, 300, 700]);
    clock.increment(10_000);
    expect(calls).toHaveLength(4);
    expect(bus.deadLetters()).toMatchObject([{ attempts: 4, state: "exhausted" }]);
    expect((bus.deadLetters()[0]?.error as Error).message).toBe("fail 4");
    expect(bus.stats()).toMatchObject({ failed: 4, exhausted: 1, recovered: 0 });
  });

  it("removes a dead letter when a retry succeeds", async () => {
    const clock = new SimulatedClock();
    const bus = new EventBus<Ev>({ clock, retryBaseMs: 50 });
    let failures = 1;
    const seen: string[] = [];
    bus.on("task.completed", (e) => {
      if (failures-- > 0) throw new Error("transient");
      seen.push(e.taskId);
    });
    bus.publish(done("t1"));
    await bus.flush();
    expect(bus.deadLetters()).toHaveLength(1);
    clock.increment(50);
    expect(seen).toEqual(["t1"]);
    expect(bus.deadLetters()).toEqual([]);
    expect(bus.stats()).toMatchObject({ delivered: 1, failed: 1, recovered: 1 });
  });

  it("treats a rejected promise from an async subscriber as a failure", async () => {
    const clock = new SimulatedClock();
    const bus = new EventBus<Ev>({ clock, maxRetries: 0 });
    bus.on("task.failed", async () => {
      throw new Error("async boom");
    });
    bus.publish(failed("t1"));
    await bus.flush();
    await Promise.resolve();
    expect(bus.deadLetters()).toMatchObject([{ attempts: 1, state: "exhausted" }]);
  });

  it("caps the backoff at retryMaxMs and the list at deadLetterLimit", async () => {
    const clock = new SimulatedClock();
    const bus = new EventBus<Ev>({ clock, maxRetries: 10, retryBaseMs: 100, retryMaxMs: 250, deadLetterLimit: 2 });
    const calls: number[] = [];
    bus.on("task.completed", (e) => {
      if (e.taskId === "t1") calls.push(clock.now());
      throw new Error("always");
    });
    bus.publish(done("t1"));
    await bus.flush();
    clock.increment(100);
    clock.increment(200);
    clock.increment(250);
    clock.increment(250);
    expect(calls).toEqual([0, 100, 300, 550, 800]);
    bus.publishBatch([done("t2"), done("t3")]);
    await bus.flush();
    expect(bus.deadLetters().map((l) => (l.event as { taskId: string }).taskId)).toEqual(["t2", "t3"]);
    clock.increment(10_000);
    expect(calls).toHaveLength(5); // t1's retry was cancelled when it left the list
  });

  it("drops a pending retry when the subscriber unsubscribes", async () => {
    const clock = new SimulatedClock();
    const bus = new EventBus<Ev>({ clock });
    let calls = 0;
    const off = bus.on("task.completed", () => {
      calls++;
      throw new Error("x");
    });
    bus.publish(done("t1"));
    await bus.flush();
    off();
    clock.increment(1_000);
    expect(calls).toBe(1);
    expect(bus.deadLetters()).toMatchObject([{ state: "dropped" }]);
  });
});

describe("EventBus.waitFor", () => {
  it("resolves with the first matching event published after the call", async () => {
    const bus = new EventBus<Ev>();
    const wait = bus.waitFor((e): e is Extract<Ev, { type: "task.completed" }> => e.type === "task.completed" && e.taskId === "t2");
    bus.publishBatch([done("t1"), failed("t2"), done("t2", 7)]);
    const event = await wait;
    expect(event).toEqual({ type: "task.completed", at: 7, taskId: "t2", output: 1 });
    expect(bus.listenerCount()).toBe(0);
  });

  it("accepts an event type", async () => {
    const bus = new EventBus<Ev>();
    const wait = bus.waitFor("agent.idle");
    bus.publish({ type: "agent.idle", at: 3, agentId: "a1" });
    expect((await wait).agentId).toBe("a1");
  });

  it("rejects with WAIT_TIMEOUT after timeoutMs of the bus clock", async () => {
    const clock = new SimulatedClock();
    const bus = new EventBus<Ev>({ clock });
    const wait = bus.waitFor("task.failed", { timeoutMs: 500 });
    const outcome = wait.then(
      () => "resolved",
      (error: unknown) => error,
    );
    clock.increment(499);
    bus.publish(done("t1"));
    await bus.flush();
    clock.increment(1);
    const error = await outcome;
    expect(isApiaryError(error, "WAIT_TIMEOUT")).toBe(true);
    expect((error as Error).message).toMatch(/Timed out after 500 ms waiting for "task.failed"/);
    expect(bus.listenerCount()).toBe(0);
  });

  it("rejects with ABORTED when the signal aborts or the bus closes", async () => {
    const bus = new EventBus<Ev>();
    const controller = new AbortController();
    const aborted = bus.waitFor("task.failed", { signal: controller.signal });
    controller.abort(new Error("user"));
    await expect(aborted).rejects.toMatchObject({ code: "ABORTED", message: expect.stringMatching(/signal was aborted/) });
    await expect(bus.waitFor("task.failed", { signal: controller.signal })).rejects.toMatchObject({ code: "ABORTED" });
    const closed = bus.waitFor("task.failed");
    bus.close();
    await expect(closed).rejects.toMatchObject({ code: "ABORTED", message: expect.stringMatching(/closed/) });
    expect(bus.publish(done("t1"))).toBe(false);
  });

  it("rejects an invalid timeout with INVALID_OPTIONS", () => {
    const bus = new EventBus<Ev>();
    expect(() => bus.waitFor("task.failed", { timeoutMs: -5 })).toThrow(/"timeoutMs" must be a positive finite number, received -5/);
  });
});

describe("EventBus.close", () => {
  it("drops queued events, cancels retries and is idempotent", async () => {
    const clock = new SimulatedClock();
    const bus = new EventBus<Ev>({ clock });
    const seen: string[] = [];
    let calls = 0;
    bus.on("task.failed", () => {
      calls++;
      throw new Error("x");
    });
    bus.publish(failed("f"));
    await bus.flush();
    bus.on("task.completed", (e) => seen.push(e.taskId));
    bus.publish(done("t1"));
    bus[Symbol.dispose]();
    bus.close();
    await bus.flush();
    clock.increment(10_000);
    expect(seen).toEqual([]);
    expect(calls).toBe(1);
    expect(bus.deadLetters()).toMatchObject([{ state: "dropped" }]);
    expect(bus.closed).toBe(true);
  });
});
