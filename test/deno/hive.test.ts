/**
 * The Deno suite for the hive: imports the library source as is and runs a hive on each backend
 * Deno supports — inline, comlink (module Web Workers) and piscina (`node:worker_threads`, the
 * default).
 *
 * @module
 */
import { SimulatedClock } from "xstate";
import { type ApiaryError, createHive, type Hive } from "../../src/index.ts";
import type { EnergyReport } from "../../workers/energy.ts";
import type { MonteCarloReport } from "../../workers/montecarlo.ts";
import { assertEquals, assertRejects, assertThrows } from "./assert.ts";

const tasks = new URL("../fixtures/tasks.mjs", import.meta.url);
const BACKENDS = ["inline", "comlink", "piscina"] as const;

async function withHive(backend: (typeof BACKENDS)[number], body: (hive: Hive) => Promise<void>, extra: { clock?: SimulatedClock } = {}): Promise<void> {
  const hive = createHive({ backend, threads: 2, tasks, agents: [{ id: "a", capabilities: { simulate: 0.8 }, concurrency: 2 }, { id: "b", capabilities: { plan: 0.9 }, concurrency: 2 }], ...extra });
  await hive.start();
  try {
    await body(hive);
  } finally {
    await hive.stop();
  }
}

for (const backend of BACKENDS) {
  Deno.test(`${backend}: runs built-in and user tasks with checked answers`, async () => {
    await withHive(backend, async (hive) => {
      const pi = await hive.run<MonteCarloReport>({ kind: "montecarlo", input: { samples: 200_000, seed: 5 }, requires: { simulate: 0.5 } });
      if (Math.abs(pi.estimate - Math.PI) > 5 * pi.stdError) throw new Error(`π estimate ${pi.estimate} is off`);
      const e = await hive.run<EnergyReport>({ kind: "energy", input: { seed: 2 }, requires: { simulate: 0.5 } });
      const balance = e.solarKwh + e.importKwh + e.dischargedKwh - (e.demandKwh + e.exportKwh + e.chargedKwh);
      if (Math.abs(balance) > 1e-6) throw new Error(`energy balance off by ${balance}`);
      assertEquals(await hive.run({ kind: "double", input: { n: 21 }, requires: { simulate: 0.5 } }), 42);
      assertEquals(await hive.run({ kind: "asyncDouble", input: { n: 4 }, requires: { simulate: 0.5 } }), 8);
      const many = await Promise.all(Array.from({ length: 200 }, (_, i) => hive.run<number>({ kind: "double", input: { n: i }, requires: { plan: 0.5 } })));
      assertEquals(many.reduce((a, b) => a + b, 0), 199 * 200);
      const stats = hive.stats();
      assertEquals(stats.backend, backend);
      assertEquals(stats.agents.find((a) => a.id === "b")?.completed, 200);
    });
  });

  Deno.test(`${backend}: a throwing handler is TASK_FAILED and the hive keeps running`, async () => {
    await withHive(backend, async (hive) => {
      const error = (await assertRejects(() => hive.run({ kind: "fail", input: { message: "nope" } }))) as ApiaryError;
      assertEquals(error.code, "TASK_FAILED");
      assertEquals((error.cause as Error).name, "RangeError");
      assertThrows(() => hive.submit({ kind: "unknown-kind" }), Error, '"kind" must be one of');
      assertThrows(() => hive.submit({ kind: "double", input: { f: () => 1 } }), Error, '"input.f" cannot cross threads');
      assertEquals(await hive.run({ kind: "double", input: { n: 1 } }), 2);
    });
  });
}

for (const backend of ["comlink", "piscina"] as const) {
  Deno.test(`${backend}: a timeout on the hive clock reaches the handler's loop in the thread`, async () => {
    const clock = new SimulatedClock();
    await withHive(
      backend,
      async (hive) => {
        const flag = new Int32Array(new SharedArrayBuffer(4));
        const started = new Int32Array(new SharedArrayBuffer(4));
        // The timeout counts from when the attempt starts on its thread: wait for that first.
        const began = hive.waitFor("task.started");
        const result = hive.run({ kind: "pollAbort", input: { flag, started }, timeoutMs: 2_000 });
        const s = Atomics.waitAsync(started, 0, 0);
        if (s.async) await s.value;
        await began;
        clock.increment(2_000);
        const error = (await assertRejects(() => result)) as ApiaryError;
        assertEquals(error.code, "TASK_TIMEOUT");
        const f = Atomics.waitAsync(flag, 0, 0);
        if (f.async) await f.value;
        assertEquals(Atomics.load(flag, 0), 1);
      },
      { clock },
    );
  });
}

Deno.test("piscina is the default backend on Deno", async () => {
  const hive = createHive({ tasks, agents: [{ id: "a" }] });
  await hive.start();
  try {
    assertEquals(hive.stats().backend, "piscina");
  } finally {
    await hive.stop();
  }
});

Deno.test("a missing handler module fails start with TASKS_MODULE", async () => {
  const hive = createHive({ backend: "comlink", threads: 1, tasks: new URL("../fixtures/missing.mjs", import.meta.url), agents: [{ id: "a" }] });
  const error = (await assertRejects(() => hive.start())) as ApiaryError;
  assertEquals(error.code, "TASKS_MODULE");
});

Deno.test("piscina: a thread that calls process.exit fails its task WORKER_CRASHED and the pool heals", async () => {
  await withHive("piscina", async (hive) => {
    const error = (await assertRejects(() => hive.run({ kind: "exit", timeoutMs: 10_000 }))) as ApiaryError;
    assertEquals(error.code, "WORKER_CRASHED");
    assertEquals(await hive.run({ kind: "double", input: { n: 2 } }), 4);
  });
});

// A Deno Web Worker that exits fires no event; the worker module announces the exit first, so
// the task fails at once rather than at its (long) timeout.
Deno.test("comlink: a Web Worker that exits fails its task WORKER_CRASHED and is replaced", async () => {
  await withHive("comlink", async (hive) => {
    const error = (await assertRejects(() => hive.run({ kind: "exit", timeoutMs: 60_000 }))) as ApiaryError;
    assertEquals(error.code, "WORKER_CRASHED");
    assertEquals(await hive.run({ kind: "double", input: { n: 2 } }), 4);
    assertEquals(hive.stats().pool.threadRestarts, 1);
  });
});

// Deno's worker_threads honour resourceLimits, but Piscina on Deno never settles a task whose
// thread ran out of memory: the mandatory timeout detects it, and the hard abort replaces the
// thread. The heap stays small: the limit, not the timeout, stopped the allocation.
Deno.test("piscina: a thread out of memory (resourceLimits) is caught by the attempt's timeout and the pool heals", async () => {
  const hive = createHive({
    backend: "piscina",
    threads: 1,
    tasks,
    agents: [{ id: "a", concurrency: 1 }],
    resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    abortGraceMs: 100,
  });
  await hive.start();
  try {
    const error = (await assertRejects(() => hive.run({ kind: "hog", timeoutMs: 1_500 }))) as ApiaryError;
    assertEquals(error.code, "TASK_TIMEOUT");
    assertEquals(await hive.run({ kind: "double", input: { n: 2 } }), 4);
    assertEquals(hive.stats().pool.threadRestarts >= 1, true);
    const rssMb = Deno.memoryUsage().rss / 1_048_576;
    if (rssMb > 1_024) throw new Error(`resourceLimits did not hold: the process grew to ${rssMb.toFixed(0)} MB`);
  } finally {
    await hive.stop();
  }
});
