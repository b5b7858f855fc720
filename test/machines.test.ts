import { createActor, SimulatedClock } from "xstate";
import { describe, expect, it } from "vitest";
import type { AgentDoneEvent } from "../actors/agent.ts";
import type { LifecycleEvent, TaskSpec } from "../actors/queen.ts";
import { DEFAULT_SUPERVISION } from "../actors/restart.ts";
import type { Decision, SupervisorToQueen } from "../actors/supervisor.ts";
import type { ReadyTask } from "../actors/types.ts";
import type { AttemptsDoneEvent } from "../actors/worker.ts";
import { createRandom } from "../src/core/random.ts";
import { harness, inlineBackend, settle, sharedFlag, tree } from "./helpers.ts";

const attempt = (seq: number, kind: string, input: unknown, timeoutMs = 1_000) => ({ id: `t${seq}`, seq, kind, input, attempt: 1, timeoutMs });

describe("Worker", () => {
  it("runs an attempt on the backend and reports its value to its agent", async () => {
    const clock = new SimulatedClock();
    const { worker } = tree(await inlineBackend(), clock);
    const { ref, received } = harness(worker, { agentId: "a" }, clock);
    ref.send({ type: "worker.run", attempts: [attempt(1, "double", { n: 21 })], at: 0 });
    expect(ref.getSnapshot().value).toBe("running");
    await settle();
    const done = received.find((e) => e.type === "agent.done") as AttemptsDoneEvent;
    expect(done.ends).toEqual([{ id: "t1", seq: 1, result: { ok: true, value: 42 }, durationMs: 0, startedAt: 0 }]);
    expect(ref.getSnapshot().value).toBe("idle");
  });

  it("times an attempt out on the actor clock and fires its AbortSignal", async () => {
    const clock = new SimulatedClock();
    const { worker } = tree(await inlineBackend(), clock);
    const { ref, received } = harness(worker, { agentId: "a" }, clock);
    const aborted = sharedFlag();
    ref.send({ type: "worker.run", attempts: [attempt(1, "waitAbort", { flag: aborted.flag }, 5_000)], at: 0 });
    await settle();
    clock.increment(4_999);
    expect(ref.getSnapshot().value).toBe("running");
    expect(received.some((e) => e.type === "agent.done")).toBe(false);
    clock.increment(1);
    const done = received.find((e) => e.type === "agent.done") as AttemptsDoneEvent;
    expect(done.ends[0]!.result.ok).toBe(false);
    expect((done.ends[0]!.result as { error: { code: string; message: string } }).error).toMatchObject({ code: "TASK_TIMEOUT", message: expect.stringContaining("timed out after 5000 ms") });
    expect(done.ends[0]!.durationMs).toBe(5_000);
    expect(ref.getSnapshot().value).toBe("idle");
    await aborted.raised();
    expect(aborted.isRaised()).toBe(true);
  });

  it("keeps one timer for the earliest deadline and expires attempts in deadline order", async () => {
    const clock = new SimulatedClock();
    const { worker } = tree(await inlineBackend(), clock);
    const { ref, received } = harness(worker, { agentId: "a" }, clock);
    const f = sharedFlag();
    ref.send({ type: "worker.run", attempts: [attempt(1, "waitAbort", { flag: f.flag }, 300), attempt(2, "waitAbort", { flag: f.flag }, 100)], at: 0 });
    clock.increment(100);
    let ends = received.filter((e) => e.type === "agent.done").flatMap((e) => (e as AttemptsDoneEvent).ends.map((x) => x.id));
    expect(ends).toEqual(["t2"]);
    clock.increment(200);
    ends = received.filter((e) => e.type === "agent.done").flatMap((e) => (e as AttemptsDoneEvent).ends.map((x) => x.id));
    expect(ends).toEqual(["t2", "t1"]);
  });

  it("stays running while attempts remain and goes idle with the last one", async () => {
    const clock = new SimulatedClock();
    const { worker } = tree(await inlineBackend(), clock);
    const { ref } = harness(worker, { agentId: "a" }, clock);
    const f = sharedFlag();
    ref.send({ type: "worker.run", attempts: [attempt(1, "waitAbort", { flag: f.flag }, 300)], at: 0 });
    ref.send({ type: "worker.run", attempts: [attempt(2, "waitAbort", { flag: f.flag }, 100)], at: 0 });
    expect(ref.getSnapshot().value).toBe("running");
    expect((ref.getSnapshot().context as { running: Map<number, unknown> }).running.size).toBe(2);
    clock.increment(100);
    expect(ref.getSnapshot().value).toBe("running");
    expect([...(ref.getSnapshot().context as { running: Map<number, unknown> }).running.keys()]).toEqual([1]);
    clock.increment(200);
    expect(ref.getSnapshot().value).toBe("idle");
    expect((ref.getSnapshot().context as { running: Map<number, unknown> }).running.size).toBe(0);
  });

  it("aborts an attempt on request and reports it cancelled", async () => {
    const clock = new SimulatedClock();
    const { worker } = tree(await inlineBackend(), clock);
    const { ref, received } = harness(worker, { agentId: "a" }, clock);
    const f = sharedFlag();
    ref.send({ type: "worker.run", attempts: [attempt(1, "waitAbort", { flag: f.flag })], at: 0 });
    await settle(); // the handler is running
    ref.send({ type: "worker.abort", seqs: [1], reason: "test", at: 10 });
    const done = received.find((e) => e.type === "agent.done") as AttemptsDoneEvent;
    expect((done.ends[0]!.result as { error: { code: string } }).error.code).toBe("TASK_CANCELLED");
    expect(ref.getSnapshot().value).toBe("idle");
    await f.raised();
  });
});

describe("Agent", () => {
  it("stays busy while slots are taken and freed below its concurrency, counting them", async () => {
    const clock = new SimulatedClock();
    const { agent } = tree(await inlineBackend(), clock);
    const { ref } = harness(agent, { id: "a", capabilities: {}, concurrency: 3 }, clock);
    const flag = sharedFlag();
    const task = (id: string): ReadyTask => ({ id, kind: "waitAbort", input: { flag: flag.flag }, requires: {}, priority: "normal", timeoutMs: 1_000, attempt: 1, enqueuedAt: 0 });
    ref.send({ type: "agent.assign", assignments: [{ task: task("x"), seq: 1 }], at: 0 });
    ref.send({ type: "agent.assign", assignments: [{ task: task("y"), seq: 2 }], at: 0 });
    expect(ref.getSnapshot().value).toBe("busy");
    expect((ref.getSnapshot().context as { busy: number }).busy).toBe(2);
    ref.send({ type: "agent.cancel", ids: ["x"], reason: "test", at: 1 });
    expect(ref.getSnapshot().value).toBe("busy");
    expect((ref.getSnapshot().context as { busy: number }).busy).toBe(1);
    ref.send({ type: "agent.cancel", ids: ["y"], reason: "test", at: 2 });
    expect(ref.getSnapshot().value).toBe("idle");
    expect((ref.getSnapshot().context as { busy: number }).busy).toBe(0);
  });

  it("goes idle → busy → saturated → busy → idle as slots fill and free", async () => {
    const clock = new SimulatedClock();
    const { agent } = tree(await inlineBackend(), clock);
    const { ref, received } = harness(agent, { id: "a", capabilities: {}, concurrency: 2 }, clock);
    const flag = sharedFlag();
    const task = (id: string, kind: string, input: unknown): ReadyTask => ({ id, kind, input, requires: {}, priority: "normal", timeoutMs: 1_000, attempt: 1, enqueuedAt: 0 });
    expect(ref.getSnapshot().value).toBe("idle");
    ref.send({ type: "agent.assign", assignments: [{ task: task("x", "waitAbort", { flag: flag.flag }), seq: 1 }], at: 0 });
    expect(ref.getSnapshot().value).toBe("busy");
    ref.send({ type: "agent.assign", assignments: [{ task: task("y", "double", { n: 2 }), seq: 2 }], at: 0 });
    expect(ref.getSnapshot().value).toBe("saturated");
    await settle();
    expect(ref.getSnapshot().value).toBe("busy");
    ref.send({ type: "agent.cancel", ids: ["x"], reason: "test", at: 1 });
    expect(ref.getSnapshot().value).toBe("idle");
    const reports = received.filter((e) => e.type === "supervisor.done") as AgentDoneEvent[];
    expect(reports.flatMap((r) => r.ends.map((e) => [e.id, e.result.ok]))).toEqual([
      ["y", true],
      ["x", false],
    ]);
    expect(reports.every((r) => r.agentId === "a")).toBe(true);
  });
});

describe("Supervisor", () => {
  const ready = (id: string, requires: Record<string, number>, kind = "double"): ReadyTask => ({
    id,
    kind,
    input: { n: 1 },
    requires,
    priority: "normal",
    timeoutMs: 1_000,
    attempt: 1,
    enqueuedAt: 0,
  });

  async function start(agents: { id: string; capabilities: Record<string, number>; concurrency: number }[]) {
    const clock = new SimulatedClock();
    const { supervisor } = tree(await inlineBackend(), clock);
    const decisions: Decision[] = [];
    const h = harness(supervisor, { agents, random: createRandom(1), agingMs: 5_000, supervision: DEFAULT_SUPERVISION }, clock);
    (h.ref as unknown as { on(t: string, f: (e: { decisions: Decision[] }) => void): void }).on("supervisor.decisions", (e) => decisions.push(...e.decisions));
    return { ...h, clock, decisions };
  }

  it("places each task on the eligible agent with the best score and explains it", async () => {
    const { ref, received, decisions } = await start([
      { id: "sim", capabilities: { simulate: 0.9 }, concurrency: 1 },
      { id: "plan", capabilities: { plan: 0.9 }, concurrency: 1 },
    ]);
    ref.send({ type: "supervisor.enqueue", tasks: [ready("a", { plan: 0.5 }), ready("b", { simulate: 0.5 })], at: 0 });
    const started = received.filter((e) => e.type === "queen.placed").flatMap((e) => (e as Extract<SupervisorToQueen, { type: "queen.placed" }>).started);
    expect(started.map((s) => [s.id, s.agentId])).toEqual([
      ["a", "plan"],
      ["b", "sim"],
    ]);
    expect(decisions.map((d) => d.winner.agentId)).toEqual(["plan", "sim"]);
    expect(decisions[0]!.winner).toMatchObject({ capability: 0.9, load: 1, health: 1, retry: 1 });
    await settle();
    const finished = received.filter((e) => e.type === "queen.finished").flatMap((e) => (e as Extract<SupervisorToQueen, { type: "queen.finished" }>).finished);
    expect(finished.map((f) => [f.id, f.result])).toEqual([
      ["a", { ok: true, value: 2 }],
      ["b", { ok: true, value: 2 }],
    ]);
  });

  it("queues work while every eligible agent is saturated and starts it when a slot frees", async () => {
    const { ref, received } = await start([{ id: "only", capabilities: { s: 1 }, concurrency: 1 }]);
    ref.send({ type: "supervisor.enqueue", tasks: [ready("a", { s: 1 }), ready("b", { s: 1 }), ready("c", { s: 1 })], at: 0 });
    const startedIds = () => received.filter((e) => e.type === "queen.placed").flatMap((e) => (e as Extract<SupervisorToQueen, { type: "queen.placed" }>).started.map((s) => s.id));
    expect(startedIds()).toEqual(["a"]);
    expect((ref.getSnapshot().context as { queue: { size: number } }).queue.size).toBe(2);
    await settle(10);
    expect(startedIds()).toEqual(["a", "b", "c"]);
  });

  it("fails a task no agent can ever run with NO_ELIGIBLE_AGENT", async () => {
    const { ref, received } = await start([{ id: "a", capabilities: { s: 0.3 }, concurrency: 1 }]);
    ref.send({ type: "supervisor.enqueue", tasks: [ready("x", { s: 0.5 })], at: 0 });
    const finished = received.filter((e) => e.type === "queen.finished").flatMap((e) => (e as Extract<SupervisorToQueen, { type: "queen.finished" }>).finished);
    expect(finished).toHaveLength(1);
    expect((finished[0]!.result as { error: { code: string; message: string } }).error).toMatchObject({ code: "NO_ELIGIBLE_AGENT", message: expect.stringContaining('"requires" was {"s":0.5}') });
  });
});

describe("Queen", () => {
  async function start(maxQueued = 100, options: { overflow?: "reject" | "shed-lowest"; retryMinMs?: number } = {}) {
    const clock = new SimulatedClock();
    const { queen } = tree(await inlineBackend(), clock);
    const actor = createActor(queen, {
      clock,
      input: {
        agents: [{ id: "a", capabilities: {}, concurrency: 1 }],
        random: createRandom(1),
        maxQueued,
        overflow: options.overflow ?? "reject",
        agingMs: 5_000,
        retry: { minMs: options.retryMinMs ?? 0, maxMs: 10_000, jitter: 0 },
        supervision: DEFAULT_SUPERVISION,
      },
    });
    const events: LifecycleEvent[] = [];
    actor.on("queen.events", (e) => events.push(...e.events));
    actor.start();
    return { actor, events, clock };
  }
  const spec = (id: string, kind: string, input: unknown, retries = 0): TaskSpec => ({ id, kind, input, requires: {}, priority: "normal", timeoutMs: 1_000, retries });

  it("takes a task through queued → running → completed, exactly once", async () => {
    const { actor, events } = await start();
    actor.send({ type: "queen.submit", tasks: [spec("t", "double", { n: 4 })], at: 0 });
    await settle();
    expect(events.map((e) => e.type)).toEqual(["task.queued", "task.started", "task.completed"]);
    expect(events[2]).toMatchObject({ taskId: "t", value: 8, attempts: 1, agentId: "a" });
    expect(actor.getSnapshot().context.counts).toMatchObject({ submitted: 1, accepted: 1, completed: 1, queued: 0, running: 0 });
  });

  it("retries a failing task until it succeeds and counts the retries", async () => {
    const { actor, events } = await start();
    actor.send({ type: "queen.submit", tasks: [spec("t", "failTimes", { times: 2 }, 2)], at: 0 });
    await settle(10);
    expect(events.filter((e) => e.type === "task.retrying").map((e) => (e as { attempt: number }).attempt)).toEqual([2, 3]);
    expect(events.at(-1)).toMatchObject({ type: "task.completed", value: "ok on attempt 3", attempts: 3 });
    expect(actor.getSnapshot().context.counts).toMatchObject({ completed: 1, failed: 0, retried: 2 });
  });

  it("dead-letters a task that keeps failing through its last attempt", async () => {
    const { actor, events } = await start();
    actor.send({ type: "queen.submit", tasks: [spec("t", "fail", { message: "nope" }, 1)], at: 0 });
    await settle(10);
    const dead = events.find((e) => e.type === "task.deadLettered") as Extract<LifecycleEvent, { type: "task.deadLettered" }>;
    expect(dead.attempts).toBe(2);
    expect(dead.error).toMatchObject({ code: "TASK_FAILED", cause: { name: "RangeError", message: "nope" } });
    expect(dead.task).toMatchObject({ id: "t", kind: "fail", retries: 1 });
    expect(actor.getSnapshot().context.counts).toMatchObject({ deadLettered: 1, failed: 0, retried: 1, queued: 0, running: 0 });
  });

  it("waits out an exponential backoff on the actor clock before each retry", async () => {
    const { actor, events, clock } = await start(100, { retryMinMs: 100 });
    actor.send({ type: "queen.submit", tasks: [spec("t", "failTimes", { times: 2 }, 2)], at: 0 });
    await settle();
    expect(events.filter((e) => e.type === "task.started")).toHaveLength(1);
    expect(actor.getSnapshot().context.counts).toMatchObject({ queued: 1, running: 0, retried: 1 });
    clock.increment(99);
    await settle();
    expect(events.filter((e) => e.type === "task.started")).toHaveLength(1);
    clock.increment(1);
    await settle();
    expect(events.filter((e) => e.type === "task.started")).toHaveLength(2);
    clock.increment(199); // the second retry waits 200 ms
    await settle();
    expect(events.filter((e) => e.type === "task.started")).toHaveLength(2);
    clock.increment(1);
    await settle();
    expect(events.at(-1)).toMatchObject({ type: "task.completed", value: "ok on attempt 3" });
  });

  it("sheds the newest lower-priority waiting task when the queue is full (shed-lowest)", async () => {
    const { actor, events } = await start(2, { overflow: "shed-lowest" });
    const f = sharedFlag();
    actor.send({ type: "queen.submit", tasks: [spec("run", "waitAbort", { flag: f.flag })], at: 0 });
    const low = (id: string): TaskSpec => ({ ...spec(id, "double", { n: 1 }), priority: "low" });
    actor.send({ type: "queen.submit", tasks: [low("low-old"), low("low-new")], at: 1 });
    actor.send({ type: "queen.submit", tasks: [{ ...spec("vip", "double", { n: 1 }), priority: "critical" }], at: 2 });
    actor.send({ type: "queen.submit", tasks: [low("late-low")], at: 3 });
    const shed = events.find((e) => e.type === "task.shed") as Extract<LifecycleEvent, { type: "task.shed" }>;
    expect(shed.taskId).toBe("low-new");
    expect((shed.error as { code?: string }).code).toBe("QUEUE_FULL");
    expect(events.filter((e) => e.type === "task.rejected").map((e) => e.taskId)).toEqual(["late-low"]);
    const c = actor.getSnapshot().context.counts;
    expect(c).toMatchObject({ accepted: 4, shed: 1, rejected: 1, queued: 2, running: 1 });
  });

  it("rejects with QUEUE_FULL past maxQueued and keeps every count reconciled", async () => {
    const { actor, events } = await start(2);
    const f = sharedFlag();
    actor.send({ type: "queen.submit", tasks: [spec("a", "waitAbort", { flag: f.flag })], at: 0 });
    actor.send({ type: "queen.submit", tasks: ["b", "c", "d"].map((id) => spec(id, "waitAbort", { flag: f.flag })), at: 0 });
    // a runs, b and c wait, d is over the bound.
    const rejected = events.filter((e) => e.type === "task.rejected");
    expect(rejected.map((e) => e.taskId)).toEqual(["d"]);
    expect((rejected[0] as unknown as { error: { code: string } }).error.code).toBe("QUEUE_FULL");
    const c = actor.getSnapshot().context.counts;
    expect(c).toMatchObject({ submitted: 4, accepted: 3, rejected: 1, running: 1, queued: 2 });
    expect(c.accepted).toBe(c.completed + c.failed + c.cancelled + c.deadLettered + c.shed + c.queued + c.running);
  });

  it("cancels queued and running tasks once, and ignores the late outcome", async () => {
    const { actor, events } = await start();
    const f = sharedFlag();
    actor.send({ type: "queen.submit", tasks: [spec("run", "waitAbort", { flag: f.flag }), spec("wait", "double", { n: 1 })], at: 0 });
    await settle(); // "run" is running on the only slot, "wait" is queued
    actor.send({ type: "queen.cancel", id: "wait", reason: "test", at: 1 });
    actor.send({ type: "queen.cancel", id: "run", reason: "test", at: 1 });
    actor.send({ type: "queen.cancel", id: "run", reason: "again", at: 2 });
    await f.raised();
    await settle();
    expect(events.filter((e) => e.type === "task.cancelled").map((e) => e.taskId)).toEqual(["wait", "run"]);
    expect(events.some((e) => e.type === "task.completed" || e.type === "task.failed")).toBe(false);
    expect(actor.getSnapshot().context.counts).toMatchObject({ accepted: 2, cancelled: 2, queued: 0, running: 0 });
  });

  it("drains: refuses new work until every accepted task has ended, then accepts again", async () => {
    const { actor, events } = await start();
    actor.send({ type: "queen.submit", tasks: [spec("t", "double", { n: 1 })], at: 0 });
    actor.send({ type: "queen.drain", at: 0 });
    expect(actor.getSnapshot().value).toBe("draining");
    actor.send({ type: "queen.submit", tasks: [spec("late", "double", { n: 1 })], at: 0 });
    expect((events.find((e) => e.type === "task.rejected") as { error: { code?: string } } | undefined)?.error.code).toBe("HIVE_STOPPED");
    await settle();
    expect(events.map((e) => e.type)).toContain("hive.drained");
    expect(actor.getSnapshot().value).toBe("accepting");
  });

  it("stops: cancels queued and running work and ends in the final stopped state", async () => {
    const { actor, events } = await start();
    const f = sharedFlag();
    actor.send({ type: "queen.submit", tasks: [spec("r", "waitAbort", { flag: f.flag }), spec("q", "double", { n: 1 })], at: 0 });
    actor.send({ type: "queen.stop", at: 5 });
    expect(actor.getSnapshot().status).toBe("done");
    expect(events.filter((e) => e.type === "task.cancelled").map((e) => e.taskId).sort()).toEqual(["q", "r"]);
    expect(events.at(-1)?.type).toBe("hive.stopped");
  });
});
