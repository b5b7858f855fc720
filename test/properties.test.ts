// Property: whatever the task mix and fault schedule, every accepted task reaches exactly one
// terminal state, every caller's promise agrees with it, and stats() reconciles exactly.
// The schedule holds the faults fault isolation tells apart: a poison kind that fails on every
// agent (`fail`), an agent broken for one kind only (`brokenOn`), hangs that ignore their signal
// (`gate`, released only after the hive has given up on them), deadlines on the whole task, and
// escalations that restart the swarm after a cool-down or are healed by hand.
import fc from "fast-check";
import { SimulatedClock } from "xstate";
import { describe, expect, it } from "vitest";
import { createHive, type HiveEvent, type TaskHandle } from "../src/index.ts";
import { fixtureTasks, settle } from "./helpers.ts";

const CAPS = ["s", "p"] as const;
const PRIORITIES = ["critical", "high", "normal", "low", "background"] as const;
const TERMINAL = new Set(["task.completed", "task.failed", "task.cancelled", "task.deadLettered", "task.shed"]);

const agentArb = fc.record({
  caps: fc.subarray([...CAPS], { minLength: 1 }),
  level: fc.constantFrom(0.5, 0.8, 1),
  concurrency: fc.integer({ min: 1, max: 3 }),
  temporary: fc.boolean(),
});

const taskArb = fc.record({
  kind: fc.constantFrom("double", "asyncDouble", "fail", "failTimes", "waitAbort", "brokenOn", "gate"),
  times: fc.integer({ min: 0, max: 3 }),
  requires: fc.subarray([...CAPS], { maxLength: 2 }),
  level: fc.constantFrom(0.3, 0.6, 0.9),
  priority: fc.constantFrom(...PRIORITIES),
  retries: fc.integer({ min: 0, max: 2 }),
  timeoutMs: fc.integer({ min: 50, max: 2_000 }),
  // A deadline on the whole task for about one task in three.
  deadlineMs: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 50, max: 3_000 }) }),
});

const opArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("submit" as const), task: taskArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cancel" as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("crash" as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("heal" as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("burst" as const), which: fc.nat(), count: fc.integer({ min: 4, max: 12 }), task: taskArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 1_500 }) }) },
);

const scenarioArb = fc.record({
  agents: fc.array(agentArb, { minLength: 1, maxLength: 4 }),
  maxQueued: fc.integer({ min: 1, max: 20 }),
  overflow: fc.constantFrom("reject" as const, "shed-lowest" as const),
  strategy: fc.constantFrom("one-for-one" as const, "one-for-all" as const, "rest-for-one" as const),
  maxRestarts: fc.integer({ min: 0, max: 4 }),
  failAfter: fc.integer({ min: 1, max: 3 }),
  escalation: fc.record({ action: fc.constantFrom("restart" as const, "stop" as const), cooldownMs: fc.integer({ min: 100, max: 5_000 }) }),
  seed: fc.integer({ min: 0, max: 1_000 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 40 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;
type Task = typeof taskArb extends fc.Arbitrary<infer T> ? T : never;

async function run(s: Scenario): Promise<void> {
  const clock = new SimulatedClock();
  const hive = createHive({
    backend: "inline",
    tasks: fixtureTasks,
    clock,
    seed: s.seed,
    agents: s.agents.map((a, i) => ({
      id: `a${i}`,
      capabilities: Object.fromEntries(a.caps.map((c) => [c, a.level])),
      concurrency: a.concurrency,
      ...(a.temporary ? { restart: "temporary" as const } : {}),
    })),
    queue: { maxQueued: s.maxQueued, overflow: s.overflow },
    retry: { minMs: 10, maxMs: 200, jitter: 0.5 },
    supervision: { strategy: s.strategy, maxRestarts: s.maxRestarts, withinMs: 5_000, failAfter: s.failAfter, backoff: { minMs: 20, maxMs: 400, jitter: 0.5 }, escalation: s.escalation },
  });
  await hive.start();
  // The `gate` hangs of this run (the inline backend's way to hang: a handler that never returns
  // and ignores its signal); released at the end, when the hive has given up on each of them.
  const gates: (() => void)[] = [];
  (globalThis as { __apiaryGates?: (() => void)[] }).__apiaryGates = gates;
  const events: HiveEvent[] = [];
  hive.on("*", (e) => events.push(e));
  const handles: TaskHandle[] = [];
  const outcomes = new Map<string, "resolved" | "rejected">();
  const submit = (t: Task): void => {
    const h = hive.submit({
      kind: t.kind,
      input: t.kind === "failTimes"
        ? { times: t.times }
        : t.kind === "waitAbort"
        ? { flag: new Int32Array(new SharedArrayBuffer(4)) }
        : t.kind === "brokenOn"
        ? { agent: `a${t.times % s.agents.length}` }
        : { n: 1 },
      requires: Object.fromEntries(t.requires.map((c) => [c, t.level])),
      priority: t.priority,
      retries: t.retries,
      timeoutMs: t.timeoutMs,
      ...(t.deadlineMs !== undefined ? { deadlineMs: t.deadlineMs } : {}),
    });
    h.result.then(
      () => outcomes.set(h.id, "resolved"),
      () => outcomes.set(h.id, "rejected"),
    );
    handles.push(h);
  };
  for (const op of s.ops) {
    if (op.op === "submit") {
      submit(op.task);
    } else if (op.op === "burst") {
      // Enough work of one kind at once for blame to single out the agent broken for it.
      for (let i = 0; i < op.count; i++) submit({ ...op.task, kind: "brokenOn", times: op.which, requires: [] });
    } else if (op.op === "cancel") {
      if (handles.length > 0) handles[op.which % handles.length]!.cancel("property test");
    } else if (op.op === "crash") {
      hive.failAgent(`a${op.which % s.agents.length}`, "property test");
    } else if (op.op === "heal") {
      hive.heal();
    } else {
      clock.increment(op.ms);
    }
    await settle(2);
  }
  // Let every timeout, backoff, cool-down and restart run out.
  for (let i = 0; i < 30; i++) {
    clock.increment(2_000);
    await settle(2);
  }
  // The hangs return now, long after their attempts timed out: a late result ends nothing twice.
  for (const release of gates.splice(0)) release();
  await settle(2);
  await hive.stop();
  await settle(3);

  const stats = hive.stats().tasks;
  const byTask = new Map<string, string[]>();
  for (const e of events) {
    if (!("taskId" in e) || e.type === "allocation.decided") continue;
    const list = byTask.get(e.taskId) ?? [];
    list.push(e.type);
    byTask.set(e.taskId, list);
  }
  let accepted = 0;
  for (const h of handles) {
    const seen = byTask.get(h.id) ?? [];
    const terminals = seen.filter((t) => TERMINAL.has(t));
    if (seen.includes("task.rejected")) {
      expect(seen).toEqual(["task.rejected"]);
      expect(outcomes.get(h.id)).toBe("rejected");
      continue;
    }
    accepted++;
    expect(seen[0]).toBe("task.queued");
    expect(terminals).toHaveLength(1); // exactly one terminal state, never two
    expect(outcomes.get(h.id)).toBe(terminals[0] === "task.completed" ? "resolved" : "rejected");
  }
  const tally = (type: string) => events.filter((e) => e.type === type).length;
  expect(stats.submitted).toBe(handles.length);
  expect(stats.accepted).toBe(accepted);
  expect(stats.rejected).toBe(handles.length - accepted);
  expect(stats.queued).toBe(0);
  expect(stats.running).toBe(0);
  expect(stats.completed).toBe(tally("task.completed"));
  expect(stats.failed).toBe(tally("task.failed"));
  expect(stats.cancelled).toBe(tally("task.cancelled"));
  expect(stats.deadLettered).toBe(tally("task.deadLettered"));
  expect(stats.shed).toBe(tally("task.shed"));
  expect(stats.retried).toBe(tally("task.retrying"));
  expect(stats.accepted).toBe(stats.completed + stats.failed + stats.cancelled + stats.deadLettered + stats.shed);
}

describe("no task is lost", () => {
  it("every accepted task ends exactly once and the counts reconcile, over random mixes and fault schedules", async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, run), { numRuns: Number(process.env.APIARY_PROPERTY_RUNS ?? 200), ...(process.env.APIARY_PROPERTY_SEED === "random" ? {} : { seed: 20261123 }) });
  }, 300_000);
});
