/**
 * The public-surface walk on Deno (the shared walk in `../public-surface.ts`): every export of
 * the package and every method of a started inline hive answers bad arguments with success or a
 * coded ApiaryError, and the hive still runs a task after each call.
 *
 * @module
 */
import * as api from "../../src/index.ts";
import * as worker from "../../workers/define.ts";
import { inlineHive, report, walkHive, walkModule } from "../public-surface.ts";
import { assertEquals } from "./assert.ts";

Deno.test("every export of apiary and apiary/worker answers bad arguments with success or a coded ApiaryError", async () => {
  assertEquals(report([...(await walkModule(api)), ...(await walkModule(worker))]), "");
});

Deno.test("every method of a started inline hive answers bad arguments that way, and the hive still runs a task", async () => {
  const hive = inlineHive();
  await hive.start();
  try {
    const stillRuns = async (): Promise<void> => assertEquals(await hive.run({ kind: "echo", input: 1 }), 1);
    assertEquals(report(await walkHive(hive, stillRuns)), "");
    await stillRuns();
  } finally {
    await hive.stop();
  }
});
