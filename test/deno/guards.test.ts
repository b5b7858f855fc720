/**
 * Guards on Deno: dependency breakers reached from handlers on every backend (module Web
 * Workers read the shared state mirror too), and the result cache on the task path.
 *
 * @module
 */
import { SimulatedClock } from "xstate";
import { type ApiaryError, createHive, createMemoryStore } from "../../src/index.ts";
import { assertEquals, assertRejects } from "./assert.ts";

const tasks = new URL("../fixtures/tasks.mjs", import.meta.url);

for (const backend of ["inline", "comlink", "piscina"] as const) {
  Deno.test(`${backend}: handlers use the main thread's dependency breaker; open fails fast in the thread`, async () => {
    const clock = new SimulatedClock();
    const hive = createHive({ backend, threads: 2, tasks, clock, agents: [{ id: "a", concurrency: 2 }] });
    await hive.start();
    try {
      hive.dependency("geo", () => 0, { consecutiveFailures: 2, resetTimeoutMs: 1_000 });
      for (let i = 0; i < 2; i++) await assertRejects(() => hive.run({ kind: "useDep", input: { name: "geo", fail: true } }));
      assertEquals(await hive.run({ kind: "depState", input: { name: "geo" } }), "open");
      const error = (await assertRejects(() => hive.run({ kind: "useDep", input: { name: "geo" } }))) as ApiaryError;
      assertEquals((error.cause as { code?: string }).code, "CIRCUIT_OPEN");
      clock.increment(1_000);
      assertEquals(await hive.run({ kind: "useDep", input: { name: "geo" } }), "dependency ok");
      assertEquals(hive.stats().breakers.find((b) => b.name === "geo")?.state, "closed");
    } finally {
      await hive.stop();
    }
  });
}

Deno.test("inline: cached tasks run once, persist to the store and warm from it", async () => {
  const store = createMemoryStore();
  const first = createHive({ backend: "inline", tasks, agents: [{ id: "a" }], store });
  await first.start();
  const outs = await Promise.all([1, 2, 3].map(() => first.run({ kind: "double", input: { n: 4 }, cache: true })));
  assertEquals(outs, [8, 8, 8]);
  assertEquals(first.stats().tasks.submitted, 1);
  await first.stop();
  const second = createHive({ backend: "inline", tasks, agents: [{ id: "a" }], store });
  await second.start();
  try {
    assertEquals(await second.run({ kind: "double", input: { n: 4 }, cache: true }), 8);
    assertEquals(second.stats().tasks.submitted, 0);
  } finally {
    await second.stop();
  }
});
