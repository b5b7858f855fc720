// Integration: a whole hive on real worker threads (Piscina, and comlink over worker_threads).
import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { type ApiaryError, createHive, type Hive, type HiveEvent, type HiveOptions } from "../src/index.ts";
import type { EnergyReport } from "../workers/energy.ts";
import type { MonteCarloReport } from "../workers/montecarlo.ts";
import { fixtureTasks, settle, sharedFlag } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

async function started(options: Partial<HiveOptions> & Pick<HiveOptions, "backend">): Promise<Hive> {
  const hive = createHive({ threads: 2, tasks: fixtureTasks, agents: [{ id: "a", concurrency: 2 }], ...options });
  hives.push(hive);
  await hive.start();
  return hive;
}

async function rejection(promise: Promise<unknown>): Promise<ApiaryError> {
  try {
    await promise;
  } catch (error) {
    return error as ApiaryError;
  }
  throw new Error("expected a rejection");
}

describe.each(["piscina", "comlink"] as const)("a hive on the %s backend", (backend) => {
  it("runs the built-in energy dispatch simulation and its energy balance holds", async () => {
    const hive = await started({ backend });
    const r = await hive.run<EnergyReport>({ kind: "energy", input: { solarKwp: 6, batteryKwh: 10, demandKwhPerYear: 4_000, seed: 3 } });
    expect(r.hours).toBe(8_760);
    // Every kWh is accounted for: sources = sinks, and the battery keeps what went in minus what came out.
    expect(r.solarKwh + r.importKwh + r.dischargedKwh).toBeCloseTo(r.demandKwh + r.exportKwh + r.chargedKwh, 6);
    expect(r.finalStoredKwh).toBeCloseTo(r.chargedKwh * 0.92 - r.dischargedKwh, 6);
    expect(r.demandKwh).toBeGreaterThan(3_500);
    expect(r.demandKwh).toBeLessThan(4_500);
    expect(r.selfSufficiency).toBeGreaterThan(0);
    expect(r.selfSufficiency).toBeLessThan(1);
    // Same input, same answer: the weather is seeded.
    expect(await hive.run({ kind: "energy", input: { solarKwp: 6, batteryKwh: 10, demandKwhPerYear: 4_000, seed: 3 } })).toEqual(r);
  });

  it("runs the Monte Carlo estimate of π within its error", async () => {
    const hive = await started({ backend });
    const r = await hive.run<MonteCarloReport>({ kind: "montecarlo", input: { samples: 400_000, seed: 9 } });
    expect(Math.abs(r.estimate - Math.PI)).toBeLessThan(5 * r.stdError);
    expect(r.stdError).toBeGreaterThan(0);
  });

  it("runs the user's handlers, sync and async, with the task's context", async () => {
    const hive = await started({ backend });
    expect(await hive.run({ kind: "double", input: { n: 21 } })).toBe(42);
    expect(await hive.run({ kind: "asyncDouble", input: { n: 5 } })).toBe(10);
    expect(await hive.run({ kind: "context", id: "job-7" })).toEqual({ taskId: "job-7", attempt: 1, aborted: false });
    const many = await Promise.all(Array.from({ length: 500 }, (_, i) => hive.run<number>({ kind: "double", input: { n: i } })));
    expect(many.reduce((a, b) => a + b, 0)).toBe(2 * ((499 * 500) / 2));
  });

  it("turns a throwing handler into TASK_FAILED with the original error as cause, and keeps running", async () => {
    const hive = await started({ backend });
    const error = await rejection(hive.run({ kind: "fail", input: { message: "bad weather" } }));
    expect(error.code).toBe("TASK_FAILED");
    expect(error.name).toBe("TaskFailedError");
    expect(error.message).toContain("RangeError: bad weather");
    expect(error.cause).toMatchObject({ name: "RangeError", message: "bad weather" });
    expect(await hive.run({ kind: "double", input: { n: 1 } })).toBe(2);
  });

  it("dead-letters a task that keeps failing, lists it, and re-submits it on request", async () => {
    const hive = await started({ backend, retry: { minMs: 0 } });
    const error = await rejection(hive.run({ kind: "failTimes", id: "flaky", input: { times: 3 }, retries: 1 }));
    expect(error.code).toBe("TASK_FAILED");
    expect(hive.deadLetters()).toMatchObject([{ taskId: "flaky", kind: "failTimes", attempts: 2, error: { code: "TASK_FAILED" } }]);
    expect(hive.stats().tasks).toMatchObject({ deadLettered: 1, retried: 1 });
    // Attempts restart at 1: attempts 1 and 2 fail again, so give it enough retries this time.
    expect(() => hive.retryDeadLetter("nope")).toThrow(expect.objectContaining({ code: "INVALID_TASK" }));
    const again = hive.retryDeadLetter("flaky");
    expect(again.id).toBe("flaky");
    expect((await rejection(again.result)).code).toBe("TASK_FAILED");
    expect(hive.deadLetters().map((d) => d.taskId)).toEqual(["flaky"]);
  });

  it("retries a failing task and succeeds on a later attempt", async () => {
    const hive = await started({ backend });
    expect(await hive.run({ kind: "failTimes", input: { times: 1 }, retries: 2 })).toBe("ok on attempt 2");
    expect(hive.stats().tasks.retried).toBe(1);
  });

  it("rejects a result that cannot cross threads with a clear TASK_FAILED", async () => {
    const hive = await started({ backend });
    const error = await rejection(hive.run({ kind: "returnsFunction" }));
    expect(error.code).toBe("TASK_FAILED");
    expect(error.message).toContain("result is a function");
  });

  it("detects a thread that exits, fails only that task with WORKER_CRASHED, and heals", async () => {
    const hive = await started({ backend, threads: 1 });
    const batch = Array.from({ length: 20 }, (_, i) => hive.run({ kind: "double", input: { n: i } }));
    const error = await rejection(hive.run({ kind: "exit" }));
    expect(error.code).toBe("WORKER_CRASHED");
    expect((await Promise.all(batch)).length).toBe(20);
    expect(await hive.run({ kind: "double", input: { n: 4 } })).toBe(8);
    expect(hive.stats().pool.threadRestarts).toBeGreaterThanOrEqual(1);
  });

  it("times out on the hive clock: the AbortSignal reaches the handler's CPU loop in the thread", async () => {
    const clock = new SimulatedClock();
    const hive = await started({ backend, clock });
    const aborted = sharedFlag();
    const running = sharedFlag();
    // The timeout counts from when the attempt starts running on its thread (start-to-close).
    const began = hive.waitFor("task.started");
    const result = hive.run({ kind: "pollAbort", input: { flag: aborted.flag, started: running.flag }, timeoutMs: 5_000 });
    await running.raised();
    await began;
    clock.increment(4_999);
    await settle();
    expect(aborted.isRaised()).toBe(false);
    clock.increment(1);
    const error = await rejection(result);
    expect(error.code).toBe("TASK_TIMEOUT");
    expect(error.message).toContain("timed out after 5000 ms");
    await aborted.raised();
    expect(aborted.isRaised()).toBe(true);
  });

  it("terminates a thread that ignores its signal after the grace period, and keeps working", async () => {
    const clock = new SimulatedClock();
    const hive = await started({ backend, clock, threads: 1, abortGraceMs: 20 });
    const running = sharedFlag();
    const began = hive.waitFor("task.started");
    const result = hive.run({ kind: "spin", input: { started: running.flag }, timeoutMs: 1_000 });
    await running.raised();
    await began;
    clock.increment(1_000);
    expect((await rejection(result)).code).toBe("TASK_TIMEOUT");
    // The only thread was spinning: this task runs once it has been replaced.
    expect(await hive.run({ kind: "double", input: { n: 3 } })).toBe(6);
  });

  it("cancels a running task through its handle and through an AbortSignal", async () => {
    const hive = await started({ backend });
    const flag = sharedFlag();
    const handle = hive.submit({ kind: "waitAbort", input: { flag: flag.flag } });
    await hive.waitFor((e) => e.type === "task.started" && e.taskId === handle.id);
    handle.cancel("changed my mind");
    const error = await rejection(handle.result);
    expect(error.code).toBe("TASK_CANCELLED");
    expect(error.message).toContain("changed my mind");
    await flag.raised();
    const controller = new AbortController();
    const viaSignal = hive.run({ kind: "waitAbort", input: { flag: sharedFlag().flag }, signal: controller.signal });
    controller.abort();
    expect((await rejection(viaSignal)).code).toBe("TASK_CANCELLED");
    expect(hive.stats().tasks.cancelled).toBe(2);
  });
});

describe("a thread out of memory", () => {
  it("is detected on Piscina with resourceLimits: the task fails WORKER_CRASHED and the pool heals", async () => {
    const hive = await started({ backend: "piscina", threads: 1, resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } });
    const error = await rejection(hive.run({ kind: "hog", timeoutMs: 60_000 }));
    expect(error.code).toBe("WORKER_CRASHED");
    expect(error.message).toMatch(/memory|ERR_WORKER_OUT_OF_MEMORY/i);
    expect(await hive.run({ kind: "double", input: { n: 5 } })).toBe(10);
  });
});

describe("allocation on a live hive", () => {
  it("sends each task only to agents with the capabilities it requires", async () => {
    const hive = await started({
      backend: "piscina",
      agents: [
        { id: "sim", capabilities: { simulate: 0.9 }, concurrency: 2 },
        { id: "plan", capabilities: { plan: 0.8 }, concurrency: 2 },
        { id: "both", capabilities: { simulate: 0.5, plan: 0.5 }, concurrency: 1 },
      ],
    });
    const seen: HiveEvent[] = [];
    hive.on("task.completed", (e) => seen.push(e));
    hive.on("task.completed", () => {
      throw new Error("a listener that throws breaks nothing");
    });
    await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => hive.run({ kind: "double", input: { n: i }, requires: { plan: 0.7 } })),
      ...Array.from({ length: 30 }, (_, i) => hive.run({ kind: "double", input: { n: i }, requires: { simulate: 0.6 } })),
    ]);
    await hive.drain();
    const agents = new Map<string, number>();
    for (const e of seen) if (e.type === "task.completed") agents.set(e.agentId!, (agents.get(e.agentId!) ?? 0) + 1);
    expect(agents.get("both") ?? 0).toBe(0);
    expect(agents.get("plan")).toBe(30);
    expect(agents.get("sim")).toBe(30);
    const stats = hive.stats();
    expect(stats.tasks).toMatchObject({ submitted: 60, accepted: 60, completed: 60, queued: 0, running: 0 });
    expect(stats.agents.reduce((n, a) => n + a.completed, 0)).toBe(60);
    expect(stats.latencyMs.count).toBe(60);
    expect(stats.latencyMs.p99).toBeGreaterThanOrEqual(stats.latencyMs.p50);
  });

  it("fails a task no agent can run with NO_ELIGIBLE_AGENT", async () => {
    const hive = await started({ backend: "piscina", agents: [{ id: "a", capabilities: { simulate: 0.3 } }] });
    const error = await rejection(hive.run({ kind: "double", input: { n: 1 }, requires: { simulate: 0.5 } }));
    expect(error.code).toBe("NO_ELIGIBLE_AGENT");
  });
});

describe("bad input", () => {
  it("rejects invalid options with INVALID_OPTIONS naming the field and the value", () => {
    expect(() => createHive({ agents: [{ id: "a", concurrency: 0 }] })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: 'Cannot create hive: "agents[0].concurrency" must be an integer from 1 to 100000, received 0' }),
    );
    expect(() => createHive({ agents: [] })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"agents" must list at least one agent') }));
    expect(() => createHive({} as HiveOptions)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"agents"') }));
    expect(() => createHive({ agents: [{ id: "a" }], backend: "gpu" as "inline" })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('"backend" must be one of piscina, comlink, inline, or a backend factory function, received "gpu"') }),
    );
    expect(() => createHive({ agents: [{ id: "a", capabilities: { s: 2 } }] })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('"agents[0].capabilities.s" must be a number from 0 to 1, received 2') }),
    );
    expect(() => createHive({ agents: [{ id: "a" }, { id: "a" }] })).toThrow(expect.objectContaining({ message: expect.stringContaining('"agents[1].id" must be unique') }));
    expect(() => createHive({ agents: [{ id: "a" }], treads: 2 } as HiveOptions)).toThrow(expect.objectContaining({ message: 'Cannot create hive: "treads" is not a known option' }));
  });

  it("rejects a malformed task, an unknown kind and an input that cannot cross a thread, and keeps running", async () => {
    const hive = await started({ backend: "piscina" });
    expect(() => hive.submit({ kind: "nope" })).toThrow(expect.objectContaining({ code: "INVALID_TASK", message: expect.stringContaining('"kind" must be one of') }));
    expect(() => hive.submit({ kind: "double", input: { cb: () => 1 } })).toThrow(
      expect.objectContaining({ code: "INVALID_TASK", message: 'Cannot submit task: "input.cb" cannot cross threads, received a function' }),
    );
    expect(() => hive.submit({ kind: "double", input: [Symbol("s")] })).toThrow(expect.objectContaining({ message: expect.stringContaining('"input[0]" cannot cross threads, received a symbol') }));
    expect(() => hive.submit({ kind: "double", timeoutMs: -5 })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('"timeoutMs" must be an integer from 1 to 2147483647, received -5') }),
    );
    expect(() => hive.submit({ kind: "double", priority: "urgent" as "high" })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('"priority" must be one of critical, high, normal, low, background, received "urgent"') }),
    );
    expect((await rejection(hive.run({ kind: "nope" }))).code).toBe("INVALID_TASK");
    expect(await hive.run({ kind: "double", input: { n: 2 } })).toBe(4);
  });

  it("fails start with TASKS_MODULE when the handler module does not exist or has no default export", async () => {
    for (const backend of ["piscina", "comlink", "inline"] as const) {
      const missing = createHive({ backend, threads: 1, tasks: new URL("./fixtures/missing.mjs", import.meta.url), agents: [{ id: "a" }] });
      const error = await rejection(missing.start());
      expect(error.code).toBe("TASKS_MODULE");
      expect(error.message).toContain("missing.mjs");
      const shapeless = createHive({ backend, threads: 1, tasks: new URL("./fixtures/no-default.mjs", import.meta.url), agents: [{ id: "a" }] });
      expect((await rejection(shapeless.start())).message).toContain("must default-export an object of task handlers");
    }
  });

  it("refuses work before start and after stop, and supports await using", async () => {
    const hive = createHive({ backend: "inline", tasks: fixtureTasks, agents: [{ id: "a" }] });
    expect(() => hive.submit({ kind: "double" })).toThrow(expect.objectContaining({ code: "HIVE_NOT_STARTED" }));
    {
      await using scoped = hive;
      await scoped.start();
      expect(await scoped.run({ kind: "double", input: { n: 1 } })).toBe(2);
    }
    expect(hive.stats().state).toBe("stopped");
    expect(() => hive.submit({ kind: "double" })).toThrow(expect.objectContaining({ code: "HIVE_STOPPED" }));
  });
});
