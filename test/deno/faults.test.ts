/**
 * Fault isolation on Deno's default backend (piscina over `node:worker_threads`): a handler that
 * throws, exits, hangs or runs out of memory fails its own task with its own code, the tasks
 * beside it go on, the pool heals, and `stop()` lets the process exit.
 *
 * A hung handler runs only in a child process: on Deno 2.9 a terminated thread stuck in a
 * synchronous loop keeps its core busy until its process ends, and it must not slow this suite.
 *
 * @module
 */
import { type ApiaryError, createHive } from "../../src/index.ts";
import { assertEquals, assertRejects } from "./assert.ts";

const tasks = new URL("../fixtures/faults.mjs", import.meta.url);

/** Waits until `done()` holds (a thread's replacement is counted once it was terminated), at most `ms`. */
async function until(done: () => boolean, ms = 5_000): Promise<void> {
  for (const end = performance.now() + ms; !done(); await new Promise((r) => setTimeout(r, 10))) {
    if (performance.now() > end) throw new Error(`not so within ${ms} ms`);
  }
}

Deno.test("a handler that exits fails WORKER_CRASHED at once, the tasks beside it complete, and its thread is replaced", async () => {
  const hive = createHive({ threads: 2, tasks, agents: [{ id: "a", concurrency: 4 }] });
  await hive.start();
  try {
    assertEquals(hive.stats().backend, "piscina");
    const beside = [1, 2, 3].map((n) => hive.run({ kind: "double", input: { n } }));
    // A minute-long timeout: only the exit itself can have ended the task with this code.
    const exited = (await assertRejects(() => hive.run({ kind: "exit", timeoutMs: 60_000 }))) as ApiaryError;
    assertEquals(exited.code, "WORKER_CRASHED");
    assertEquals(await Promise.all(beside), [2, 4, 6]);
    const failed = (await assertRejects(() => hive.run({ kind: "fail" }))) as ApiaryError;
    assertEquals(failed.code, "TASK_FAILED");
    assertEquals(await hive.run({ kind: "double", input: { n: 21 } }), 42);
    assertEquals(hive.stats().pool.threadRestarts, 1);
  } finally {
    await hive.stop();
  }
});

// Piscina on Deno never settles a task whose thread ran out of memory: the mandatory timeout
// ends it, and the hard abort replaces the thread.
Deno.test("a handler out of memory fails its own task, the tasks beside it complete, and its thread is replaced", async () => {
  const hive = createHive({ threads: 2, tasks, agents: [{ id: "a", concurrency: 4 }], resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 }, abortGraceMs: 100 });
  await hive.start();
  try {
    const beside = [1, 2, 3].map((n) => hive.run({ kind: "double", input: { n } }));
    const error = (await assertRejects(() => hive.run({ kind: "oom", timeoutMs: 1_500 }))) as ApiaryError;
    assertEquals(error.code, "TASK_TIMEOUT");
    assertEquals(await Promise.all(beside), [2, 4, 6]);
    await until(() => hive.stats().pool.threadRestarts === 1);
    assertEquals(await hive.run({ kind: "double", input: { n: 21 } }), 42);
  } finally {
    await hive.stop();
  }
});

interface ChildReport {
  backend: string;
  outcomes: string[];
  threadRestarts: number;
  exitAfterStopMs: number;
}

/** Runs stop-exits-child.ts in a Deno process; kills it if it has not exited in 30 s. */
async function runChild(args: string[]): Promise<{ code: number; report: ChildReport; stderr: string }> {
  const script = new URL("./stop-exits-child.ts", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), { args: ["run", "-A", "--no-check", script.pathname, ...args], stdout: "piped", stderr: "piped" }).spawn();
  const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const out = await child.output();
    const text = new TextDecoder();
    const lines = text.decode(out.stdout).trim().split("\n").filter((l) => l.startsWith("{"));
    const report = Object.assign({ exitAfterStopMs: Number.NaN }, ...lines.map((l) => JSON.parse(l))) as ChildReport;
    return { code: out.code, report, stderr: text.decode(out.stderr) };
  } finally {
    clearTimeout(kill);
  }
}

Deno.test("the process exits promptly after stop(): after a hung handler on the default backend, and after a task on comlink", async () => {
  const [hung, comlink] = await Promise.all([runChild(["", "spin,double"]), runChild(["comlink", "energy"])]);
  assertEquals(hung.code, 0, hung.stderr);
  assertEquals({ backend: hung.report.backend, outcomes: hung.report.outcomes, threadRestarts: hung.report.threadRestarts }, {
    backend: "piscina",
    outcomes: ["TASK_TIMEOUT", "42"],
    threadRestarts: 1,
  });
  assertEquals(comlink.code, 0, comlink.stderr);
  assertEquals(comlink.report.outcomes, ["ok"]);
  // Both exits were measured inside the children; well under a second, not the 30 s start deadline.
  for (const { report } of [hung, comlink]) {
    if (!(report.exitAfterStopMs < 1_000)) throw new Error(`${report.backend}: the process exited ${report.exitAfterStopMs} ms after stop()`);
  }
});
