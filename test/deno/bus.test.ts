import assert from "node:assert/strict";
import { SimulatedClock } from "xstate";
import { EventBus } from "../../src/observe/bus.ts";
import { isApiaryError } from "../../src/core/errors.ts";

type Ev = { type: "task.completed"; at: number; taskId: string } | { type: "task.failed"; at: number; taskId: string };

Deno.test("bus delivers by priority in a microtask on Deno", async () => {
  const bus = new EventBus<Ev>();
  const seen: string[] = [];
  bus.on("*", (e) => seen.push(e.taskId));
  bus.publish({ type: "task.completed", at: 0, taskId: "n" });
  bus.publish({ type: "task.failed", at: 0, taskId: "c" }, { priority: "critical" });
  assert.deepEqual(seen, []);
  await bus.flush();
  assert.deepEqual(seen, ["c", "n"]);
});

Deno.test("bus retries a throwing subscriber on a simulated clock and keeps the dead letter", async () => {
  const clock = new SimulatedClock();
  const bus = new EventBus<Ev>({ clock, maxRetries: 1, retryBaseMs: 10 });
  let calls = 0;
  const other: string[] = [];
  bus.on("task.failed", () => {
    calls++;
    throw new Error("boom");
  });
  bus.on("task.failed", (e) => other.push(e.taskId));
  bus.publish({ type: "task.failed", at: 0, taskId: "t1" });
  await bus.flush();
  clock.increment(10);
  assert.equal(calls, 2);
  assert.deepEqual(other, ["t1"]);
  assert.equal(bus.deadLetters()[0]?.state, "exhausted");
});

Deno.test("bus waitFor times out with WAIT_TIMEOUT", async () => {
  const clock = new SimulatedClock();
  const bus = new EventBus<Ev>({ clock });
  const wait = bus.waitFor("task.completed", { timeoutMs: 100 }).catch((e: unknown) => e);
  clock.increment(100);
  assert.ok(isApiaryError(await wait, "WAIT_TIMEOUT"));
});
