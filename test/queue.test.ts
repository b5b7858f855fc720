import { describe, expect, it } from "vitest";
import { ReadyQueue, signatureOf } from "../actors/queue.ts";
import type { Priority, ReadyTask } from "../actors/types.ts";

const task = (id: string, priority: Priority, enqueuedAt = 0, requires: Record<string, number> = {}): ReadyTask => ({
  id,
  kind: "k",
  input: null,
  requires,
  priority,
  timeoutMs: 1_000,
  attempt: 1,
  enqueuedAt,
});

describe("ReadyQueue", () => {
  it("serves higher priorities first and FIFO within a priority", () => {
    const q = new ReadyQueue();
    q.push(task("low1", "low"));
    q.push(task("n1", "normal"));
    q.push(task("c1", "critical"));
    q.push(task("n2", "normal"));
    q.push(task("bg", "background"));
    const order = [];
    for (let t = q.takeFor({}, 0, 60_000); t; t = q.takeFor({}, 0, 60_000)) order.push(t.id);
    expect(order).toEqual(["c1", "n1", "n2", "low1", "bg"]);
    expect(q.size).toBe(0);
  });

  it("ages waiting tasks so low priorities are not starved", () => {
    const q = new ReadyQueue();
    q.push(task("old-background", "background", 0));
    q.push(task("new-high", "high", 10_000));
    // background (rank 4) has waited 10 s at 2.5 s per rank: aged rank 0 beats high (rank 1).
    expect(q.takeFor({}, 10_000, 2_500)?.id).toBe("old-background");
  });

  it("gives an agent only tasks it is eligible for", () => {
    const q = new ReadyQueue();
    q.push(task("plan", "critical", 0, { plan: 0.9 }));
    q.push(task("sim", "low", 0, { simulate: 0.5 }));
    expect(q.takeFor({ simulate: 0.6 }, 0, 60_000)?.id).toBe("sim");
    expect(q.takeFor({ simulate: 0.6 }, 0, 60_000)).toBeUndefined();
    expect(q.takeFor({ plan: 1 }, 0, 60_000)?.id).toBe("plan");
  });

  it("removes a queued task and reports one that is not queued", () => {
    const q = new ReadyQueue();
    q.push(task("a", "normal"));
    q.push(task("b", "normal"));
    expect(q.remove("a")).toBe(true);
    expect(q.remove("a")).toBe(false);
    expect(q.remove("zzz")).toBe(false);
    expect(q.size).toBe(1);
    expect(q.counts().normal).toBe(1);
    expect(q.takeFor({}, 0, 60_000)?.id).toBe("b");
  });

  it("drains everything in priority order", () => {
    const q = new ReadyQueue();
    q.push(task("n", "normal"));
    q.push(task("h", "high"));
    expect(q.drainAll().map((t) => t.id)).toEqual(["h", "n"]);
    expect(q.size).toBe(0);
  });

  it("keys requirement groups independently of property order", () => {
    expect(signatureOf({ b: 0.5, a: 1 })).toBe(signatureOf({ a: 1, b: 0.5 }));
    expect(signatureOf({})).toBe("");
  });

  it("removes a waiting task by id once, whatever lane it is in, and not one taken or shed", () => {
    const q = new ReadyQueue();
    q.push(task("a", "normal", 0, { s: 1 }));
    q.push(task("b", "low", 0, { t: 1 }));
    q.push(task("c", "high"));
    q.push(task("d", "low"));
    expect(q.remove("b")).toBe(true);
    expect(q.remove("b")).toBe(false);
    expect(q.takeFor({}, 0, 60_000)?.id).toBe("c");
    expect(q.remove("c")).toBe(false); // already taken
    expect(q.shedNewest("low")?.id).toBe("d");
    expect(q.remove("d")).toBe(false); // already shed
    expect(q.remove("nope")).toBe(false);
    expect(q.size).toBe(1);
    expect(q.takeFor({ s: 1, t: 1 }, 0, 60_000)?.id).toBe("a");
    expect(q.size).toBe(0);
  });
});
