/**
 * The journal on Deno: a file journal written under `every-task`, a stop with work left, and a
 * second hive that recovers it — on the comlink backend with its Web Workers.
 *
 * @module
 */
import { createHive } from "../../src/index.ts";
import { assertEquals } from "./assert.ts";

const tasks = new URL("../fixtures/tasks.mjs", import.meta.url);
const agents = [{ id: "a", concurrency: 1 }];

Deno.test("comlink: a hive recovers its journal: results by id, unfinished tasks resumed, keys kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "apiary-journal-" });
  try {
    const first = createHive({ backend: "comlink", threads: 1, tasks, agents, store: { dir }, durability: "every-task" });
    await first.start();
    assertEquals(await first.run({ kind: "double", input: { n: 4 }, id: "done", idempotencyKey: "k-done" }), 8);
    // Queued behind a long task when the hive stops: it stays open in the journal.
    const long = first.submit({ kind: "burn", input: { ms: 200 }, id: "long" });
    const open = first.submit({ kind: "double", input: { n: 5 }, id: "open" });
    await Promise.all([long.accepted, open.accepted]);
    await first.stop();

    const second = createHive({ backend: "comlink", threads: 1, tasks, agents, store: { dir }, recover: true });
    await second.start();
    try {
      assertEquals((await second.result("done"))?.value, 8);
      assertEquals(second.submit({ kind: "double", input: { n: 4 }, idempotencyKey: "k-done" }).id, "done");
      assertEquals((await second.result("open"))?.value, 10);
      assertEquals((await second.result("long"))?.state, "completed");
      assertEquals(second.stats().journal?.durability, "every-task");
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generated ids carry on across recoveries: t1 keeps the first run's result", async () => {
  const dir = await Deno.makeTempDir({ prefix: "apiary-journal-" });
  const inline = { backend: "inline" as const, tasks, agents, store: { dir }, recover: true };
  try {
    const ids: string[] = [];
    for (let run = 0; run < 3; run++) {
      const hive = createHive(inline);
      await hive.start();
      try {
        for (let i = 0; i < 2; i++) {
          const handle = hive.submit({ kind: "double", input: { n: 10 * run + i } });
          ids.push(handle.id);
          assertEquals(await handle.result, 2 * (10 * run + i));
        }
        assertEquals((await hive.result("t1"))?.value, 0);
      } finally {
        await hive.stop();
      }
    }
    assertEquals(ids, ["t1", "t2", "t3", "t4", "t5", "t6"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
