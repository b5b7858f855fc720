// The hive's public edges answer right: lifecycle calls, selectors, event types, the rule for work
// a hive does not take, counts in the same turn, cache keys per kind.
import { createActor, SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import type { LifecycleEvent } from "../actors/queen.ts";
import { DEFAULT_SUPERVISION } from "../actors/restart.ts";
import { type ApiaryError, createHive, type Hive, type HiveOptions } from "../src/index.ts";
import { createRandom } from "../src/core/random.ts";
import { fixtureTasks, inlineBackend, settle, tree } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

function hiveOf(options: Partial<HiveOptions> = {}): Hive {
  const hive = createHive({ backend: "inline", tasks: fixtureTasks, agents: [{ id: "a", concurrency: 4 }], ...options });
  hives.push(hive);
  return hive;
}

async function started(options: Partial<HiveOptions> = {}): Promise<Hive> {
  const hive = hiveOf(options);
  await hive.start();
  return hive;
}

function thrown(fn: () => unknown): ApiaryError {
  try {
    fn();
  } catch (error) {
    return error as ApiaryError;
  }
  throw new Error("expected a throw");
}

async function rejection(promise: Promise<unknown>): Promise<ApiaryError> {
  try {
    await promise;
  } catch (error) {
    return error as ApiaryError;
  }
  throw new Error("expected a rejection");
}

/** Releases the oldest task of the fixture's `gate` kind (inline backend: same thread). */
function openGate(): void {
  (globalThis as { __apiaryGates?: (() => void)[] }).__apiaryGates!.shift()!();
}

describe("hive.start", () => {
  it("returns the first call's promise to a second call while starting, and resolves at once once started", async () => {
    const hive = hiveOf();
    const first = hive.start();
    const second = hive.start();
    expect(second).toBe(first);
    await first;
    await expect(hive.start()).resolves.toBeUndefined();
    expect(hive.stats().state).toBe("running");
  });

  it("refuses to start a stopped hive with HIVE_STOPPED", async () => {
    const hive = await started();
    await hive.stop();
    const error = await rejection(hive.start());
    expect(error.code).toBe("HIVE_STOPPED");
    expect(error.message).toContain("Cannot start the hive: it is stopped");
  });
});

describe("signals", () => {
  it("start and drain refuse a signal that is not an AbortSignal with INVALID_OPTIONS, even with work pending", async () => {
    expect(await rejection(hiveOf().start("soon" as never))).toMatchObject({ code: "INVALID_OPTIONS", message: 'Cannot start the hive: "signal" must be an AbortSignal, received "soon"' });
    const hive = await started();
    const held = hive.submit({ kind: "gate" });
    await settle();
    expect(await rejection(hive.drain({ aborted: false } as never))).toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining('Cannot drain the hive: "signal" must be an AbortSignal'),
    });
    openGate();
    expect(await held.result).toBe("released");
  });
});

describe("hive.serve", () => {
  it("serves on port 9464 when given no options, as apiary serve does", async () => {
    const hive = await started();
    try {
      const server = await hive.serve();
      expect(server.port).toBe(9464);
      await server.close();
    } catch (error) {
      // Another process holds the port: the hive still tried 9464 and says so.
      expect(error).toMatchObject({ code: "SERVE_FAILED", message: expect.stringContaining("9464") });
    }
  });

  it("refuses options that are not an object, and unknown options, with INVALID_OPTIONS", async () => {
    const hive = await started();
    expect(await rejection(hive.serve(null as never))).toMatchObject({ code: "INVALID_OPTIONS", message: "Cannot serve health: options must be an object { port, host, signal }, received null" });
    expect(await rejection(hive.serve({ port: 0, prot: 1 } as never))).toMatchObject({ code: "INVALID_OPTIONS", message: 'Cannot serve health: "prot" is not a known option' });
    expect(await rejection(hive.serve({ port: -1 }))).toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining('"port" must be an integer from 0 to 65535, received -1') });
  });
});

describe("hive.invalidate", () => {
  it("refuses a missing, empty, mixed or malformed selector with INVALID_OPTIONS naming it", async () => {
    const hive = await started();
    expect(thrown(() => hive.invalidate(null as never))).toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining('"selector" must be an object { key }, { prefix }, { tag } or { kind }, received null'),
    });
    expect(thrown(() => hive.invalidate(undefined as never))).toMatchObject({ code: "INVALID_OPTIONS" });
    expect(thrown(() => hive.invalidate({} as never))).toMatchObject({
      code: "INVALID_OPTIONS",
      message: 'Cannot invalidate cached results: "selector" must name a key, prefix, tag or kind, received {}',
    });
    expect(thrown(() => hive.invalidate({ key: "a", tag: "b" } as never))).toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining("must name only one of key, prefix, tag") });
    expect(thrown(() => hive.invalidate({ tag: "b", kind: "echo" } as never))).toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining('"selector.kind" cannot narrow a tag') });
    expect(thrown(() => hive.invalidate({ key: "" }))).toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining('"selector.key" must be a non-empty string, received ""') });
    expect(thrown(() => hive.invalidate({ keys: "a" } as never))).toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining('"selector.keys" is not a known option') });
  });
});

describe("cache keys", () => {
  it("are per kind: the same cacheKey on two kinds keeps two results", async () => {
    const hive = await started();
    expect(await hive.run({ kind: "double", input: { n: 1 }, cacheKey: "k1" })).toBe(2);
    expect(await hive.run({ kind: "echo", input: "mine", cacheKey: "k1" })).toBe("mine");
    expect(await hive.run({ kind: "double", input: { n: 5 }, cacheKey: "k1" })).toBe(2); // its own kind's entry
    expect(hive.stats().cache.size).toBe(2);
  });

  it("are one entry for every kind with cache: { shared: true }", async () => {
    const hive = await started();
    expect(await hive.run({ kind: "double", input: { n: 2 }, cacheKey: "s", cache: { shared: true } })).toBe(4);
    expect(await hive.run({ kind: "echo", input: "other", cacheKey: "s", cache: { shared: true } })).toBe(4);
    expect(hive.stats().tasks.submitted).toBe(1);
    expect(thrown(() => hive.submit({ kind: "echo", input: 1, cache: { shared: true } }))).toMatchObject({
      code: "INVALID_TASK",
      message: expect.stringContaining('"cache.shared" needs a "cacheKey"'),
    });
  });

  it("are invalidated by the caller's key across kinds, narrowed by kind, or by kind alone", async () => {
    const hive = await started();
    const fill = async (): Promise<void> => {
      await hive.run({ kind: "double", input: { n: 1 }, cacheKey: "user.1" });
      await hive.run({ kind: "echo", input: 1, cacheKey: "user.1" });
      await hive.run({ kind: "echo", input: 2, cacheKey: "user.1", cache: { shared: true } });
      await hive.run({ kind: "echo", input: 3, cache: true });
    };
    await fill();
    expect(hive.invalidate({ key: "user.1" })).toBe(3); // double's, echo's and the shared one
    expect(hive.stats().cache.size).toBe(1);
    await fill();
    expect(hive.invalidate({ key: "user.1", kind: "echo" })).toBe(1);
    expect(hive.invalidate({ prefix: "user." })).toBe(2);
    await fill();
    expect(hive.invalidate({ kind: "echo" })).toBe(2); // its cacheKey and its input-derived key
    expect(hive.invalidate({ key: "user.1" })).toBe(2);
    expect(hive.stats().cache.size).toBe(0);
  });
});

describe("hive.on and hive.waitFor", () => {
  it('refuse an unknown event type with INVALID_OPTIONS listing the known ones; "*" stays allowed', async () => {
    const hive = await started();
    const error = thrown(() => hive.on("task.bogus" as never, () => {}));
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.message).toContain('Cannot listen to hive events: "type" must be "*" or one of task.queued, ');
    expect(error.message).toContain("task.completed");
    expect(error.message).toContain('received "task.bogus"');
    expect(thrown(() => hive.waitFor("task.bogus" as never))).toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining('"predicate" must be a function or one of') });
    const seen: string[] = [];
    hive.on("*", (e) => seen.push(e.type));
    const done = hive.waitFor("task.completed");
    await hive.run({ kind: "echo", input: 1 });
    await done;
    expect(seen).toContain("task.completed");
  });
});

describe("hive options", () => {
  it("refuse a retry backoff whose maxMs is below minMs", () => {
    const agents = [{ id: "a" }];
    expect(thrown(() => createHive({ agents, retry: { minMs: 500, maxMs: 10 } }))).toMatchObject({
      code: "INVALID_OPTIONS",
      message: 'Cannot create hive: "retry.maxMs" must be at least "retry.minMs" (500), received 10',
    });
    expect(thrown(() => createHive({ agents, retry: { minMs: 20_000 } }))).toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining('"retry.maxMs" must be at least "retry.minMs" (20000)'),
    });
  });

  it("refuse a supervision backoff whose maxMs is below minMs", () => {
    expect(thrown(() => createHive({ agents: [{ id: "a" }], supervision: { backoff: { minMs: 500, maxMs: 10 } } }))).toMatchObject({
      code: "INVALID_OPTIONS",
      message: 'Cannot create hive: "supervision.backoff.maxMs" must be at least "supervision.backoff.minMs" (500), received 10',
    });
  });
});

describe("hive.stats", () => {
  it("counts tasks submitted in the same turn", async () => {
    const hive = await started();
    for (let i = 0; i < 4; i++) hive.submit({ kind: "echo", input: i });
    expect(hive.stats().tasks).toMatchObject({ submitted: 4, accepted: 4 });
    await hive.drain();
    expect(hive.stats().tasks).toMatchObject({ submitted: 4, completed: 4 });
  });
});

describe("work the hive does not take", () => {
  it("is refused the same way while draining: submit throws HIVE_STOPPED, run and map reject with it, cached submits throw", async () => {
    const hive = await started();
    const held = hive.submit({ kind: "gate", input: { value: "held" } });
    await settle();
    const drained = hive.drain();
    await settle();
    const message = "Cannot submit task: the hive is draining; it takes work again once drain() resolves";
    expect(thrown(() => hive.submit({ kind: "echo", input: 1 }))).toMatchObject({ code: "HIVE_STOPPED", message });
    expect(thrown(() => hive.submit({ kind: "echo", input: 1, cache: true }))).toMatchObject({ code: "HIVE_STOPPED", message });
    expect(await rejection(hive.run({ kind: "echo", input: 1 }))).toMatchObject({ code: "HIVE_STOPPED", message });
    expect(await rejection(hive.map("echo", [1, 2]))).toMatchObject({ code: "HIVE_STOPPED", message: expect.stringContaining("the hive is draining") });
    openGate();
    await drained;
    expect(await held.result).toBe("held");
    expect(await hive.run({ kind: "echo", input: 2 })).toBe(2); // drained: it takes work again
  });

  it("is refused the same way after stop", async () => {
    const hive = await started();
    await hive.stop();
    const message = "Cannot submit task: the hive is stopped";
    expect(thrown(() => hive.submit({ kind: "echo", input: 1 }))).toMatchObject({ code: "HIVE_STOPPED", message });
    expect(thrown(() => hive.submit({ kind: "echo", input: 1, cacheKey: "k" }))).toMatchObject({ code: "HIVE_STOPPED", message });
    expect(await rejection(hive.run({ kind: "echo", input: 1 }))).toMatchObject({ code: "HIVE_STOPPED", message });
    expect(await rejection(hive.map("echo", [1]))).toMatchObject({ code: "HIVE_STOPPED" });
  });
});

describe("the Queen", () => {
  it("refuses a task whose id an unfinished task holds with INVALID_TASK", async () => {
    const clock = new SimulatedClock();
    const { queen } = tree(await inlineBackend(), clock);
    const actor = createActor(queen, {
      clock,
      input: {
        agents: [{ id: "a", capabilities: {}, concurrency: 1 }],
        random: createRandom(1),
        maxQueued: 100,
        overflow: "reject",
        agingMs: 5_000,
        retry: { minMs: 0, maxMs: 0, jitter: 0 },
        supervision: DEFAULT_SUPERVISION,
      },
    });
    const events: LifecycleEvent[] = [];
    actor.on("queen.events", (e) => events.push(...e.events));
    actor.start();
    const spec = { id: "same", kind: "double", input: { n: 1 }, requires: {}, priority: "normal" as const, timeoutMs: 1_000, retries: 0 };
    actor.send({ type: "queen.submit", tasks: [spec, spec], at: 0 });
    const rejected = events.find((e) => e.type === "task.rejected") as Extract<LifecycleEvent, { type: "task.rejected" }>;
    expect(rejected.error).toMatchObject({ code: "INVALID_TASK", message: 'Cannot accept task: "id" must not be in use by an unfinished task, received "same"' });
    await settle();
    actor.stop();
  });
});
