/**
 * Thread-pool settings on Deno: comlink's module Web Workers grow from `minThreads` to
 * `maxThreads` under a burst and shrink back after `idleTimeoutMs` (real timers: polled under a
 * generous bound), `workerData` reaches handlers on every backend, and `env` / `execArgv`, which
 * Web Workers cannot take, are refused naming the option.
 *
 * @module
 */
import { createHive } from "../../src/index.ts";
import { assertEquals, assertThrows } from "./assert.ts";

const tasks = new URL("../fixtures/pool-tasks.mjs", import.meta.url);

async function until<T>(read: () => T, ok: (value: T) => boolean, boundMs: number): Promise<T> {
  const end = Date.now() + boundMs;
  let value = read();
  while (!ok(value) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    value = read();
  }
  return value;
}

Deno.test("comlink: the pool grows to maxThreads under a burst and shrinks to minThreads when idle", async () => {
  const hive = createHive({ backend: "comlink", minThreads: 1, maxThreads: 3, idleTimeoutMs: 300, tasks, agents: [{ id: "a", concurrency: 8 }] });
  await hive.start();
  try {
    assertEquals(hive.stats().pool.threads, 1);
    const burst = Array.from({ length: 6 }, () => hive.run({ kind: "hold", input: { ms: 400 } }));
    assertEquals(await until(() => hive.stats().pool.threads, (n) => n === 3, 10_000), 3);
    assertEquals(await Promise.all(burst), [400, 400, 400, 400, 400, 400]);
    assertEquals(await until(() => hive.stats().pool.threads, (n) => n === 1, 15_000), 1);
    assertEquals(hive.stats().pool.threadRestarts, 0);
  } finally {
    await hive.stop();
  }
});

for (const backend of ["comlink", "piscina", "inline"] as const) {
  Deno.test(`${backend}: handlers see workerData`, async () => {
    const hive = createHive({ backend, threads: 1, workerData: { region: "eu" }, tasks, agents: [{ id: "a" }] });
    await hive.start();
    try {
      assertEquals(((await hive.run({ kind: "settings" })) as { workerData: unknown }).workerData, { region: "eu" });
    } finally {
      await hive.stop();
    }
  });
}

Deno.test("comlink: env and execArgv are refused on Web Workers, naming the option", () => {
  assertThrows(() => createHive({ backend: "comlink", env: { A: "1" }, tasks, agents: [{ id: "a" }] }), Error, '"env" is not supported by backend "comlink" on Web Workers');
  assertThrows(() => createHive({ backend: "comlink", execArgv: ["--no-warnings"], tasks, agents: [{ id: "a" }] }), Error, '"execArgv" is not supported by backend "comlink" on Web Workers');
});
