/**
 * Zero-copy data on Deno: a task's `transfer` moves its input's buffer to the thread and a
 * handler's `transfer(value, list)` moves its result back, on comlink (module Web Workers) and
 * piscina (`node:worker_threads`); inline passes both by reference.
 *
 * @module
 */
import { createHive } from "../../src/index.ts";
import { assertEquals } from "./assert.ts";

const tasks = new URL("../fixtures/binary-tasks.ts", import.meta.url);

for (const backend of ["comlink", "piscina", "inline"] as const) {
  Deno.test(`${backend}: transfer moves the input to the thread and the result back`, async () => {
    const hive = createHive({ backend, threads: 1, tasks, agents: [{ id: "a" }] });
    await hive.start();
    try {
      const input = new Uint8Array(1 << 20);
      input[0] = 7;
      input[input.length - 1] = 9;
      assertEquals(await hive.run({ kind: "inspect", input, transfer: [input.buffer] }), { byteLength: 1 << 20, first: 7, last: 9 });
      assertEquals(input.byteLength, backend === "inline" ? 1 << 20 : 0);
      const kept = Uint8Array.from([1, 2]);
      assertEquals(await hive.run({ kind: "inspect", input: kept }), { byteLength: 2, first: 1, last: 2 });
      assertEquals(kept.byteLength, 2);
      const out = await hive.run<Uint8Array>({ kind: "invert", input: Uint8Array.from([0, 1, 254]) });
      assertEquals([...out], [255, 254, 1]);
    } finally {
      await hive.stop();
    }
  });
}
