/**
 * The execution-backend contract on Deno: the backends Deno runs — inline, comlink (module Web
 * Workers), piscina (`node:worker_threads`), the simulated one — and a user's own pass the same
 * suite as on Node (`test/backend-conformance.ts`), and a hive takes a backend factory.
 *
 * @module
 */
import { createHive } from "../../src/index.ts";
import { backendConformance } from "../backend-conformance.ts";
import { functionSubject, namedSubjects, simulatedSubject } from "../backend-subjects.ts";
import { FunctionBackend } from "../fixtures/function-backend.ts";
import { assertEquals, assertRejects } from "./assert.ts";

const register = (name: string, body: () => Promise<void>): void => {
  Deno.test(name, body);
};

for (const [name, subject] of Object.entries(namedSubjects)) backendConformance(name, subject, register);
backendConformance("simulated", simulatedSubject, register);
backendConformance("a user's function backend", functionSubject, register);

Deno.test("a hive runs its tasks on a factory's backend, and a factory that throws fails start with INVALID_OPTIONS", async () => {
  const hive = createHive({ agents: [{ id: "a" }], backend: () => new FunctionBackend({ double: (n) => (n as number) * 2 }) });
  assertEquals(hive.stats().backend, "custom");
  await hive.start();
  try {
    assertEquals(await hive.run({ kind: "double", input: 21 }), 42);
    assertEquals(hive.stats().backend, "functions");
  } finally {
    await hive.stop();
  }
  const broken = createHive({
    agents: [{ id: "a" }],
    backend: () => {
      throw new Error("no Redis");
    },
  });
  const error = await assertRejects(() => broken.start(), Error, 'the "backend" factory threw: Error: no Redis');
  assertEquals((error as Error & { code: string }).code, "INVALID_OPTIONS");
  await broken.stop();
});
