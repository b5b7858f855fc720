/**
 * Run by faults.test.ts in its own Deno process: starts a hive on the backend named by
 * the first argument (default: the hive's default), runs `kinds` (a comma-separated list of
 * faults.mjs kinds, or `energy`), stops the hive, and prints one JSON line with each outcome —
 * then, as the process unloads, how long after `stop()` returned it exited.
 *
 * @module
 */
import { type BackendName, createHive } from "../../src/index.ts";

const [backend, kinds = "energy"] = Deno.args;
const hive = createHive({
  ...(backend ? { backend: backend as BackendName } : {}),
  tasks: new URL("../fixtures/faults.mjs", import.meta.url),
  agents: [{ id: "a", concurrency: 4 }],
  abortGraceMs: 100,
});
await hive.start();
const outcomes: string[] = [];
for (const kind of kinds.split(",")) {
  const input = kind === "energy" ? { solarKwp: 6, batteryKwh: 10 } : { n: 21 };
  outcomes.push(await hive.run({ kind, input, timeoutMs: 500 }).then((value) => (typeof value === "number" ? String(value) : "ok"), (error: { code?: string }) => error.code ?? "?"));
}
// A hung handler's thread is terminated abortGraceMs after its timeout, and counted then.
for (const end = performance.now() + 5_000; kinds.includes("spin") && hive.stats().pool.threadRestarts === 0 && performance.now() < end;) {
  await new Promise((r) => setTimeout(r, 10));
}
const report = { backend: hive.stats().backend, outcomes, threadRestarts: hive.stats().pool.threadRestarts };
await hive.stop();
const stoppedAt = performance.now();
console.log(JSON.stringify(report));
globalThis.addEventListener("unload", () => console.log(JSON.stringify({ exitAfterStopMs: Math.round(performance.now() - stoppedAt) })));
