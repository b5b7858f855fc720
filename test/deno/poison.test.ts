/**
 * The fault-isolation proof on Deno's default backend (piscina over `node:worker_threads`): 1,000
 * tasks of one kind, every tenth poison, on 6 agents × 4 slots over 2 threads. Every good task
 * completes, every poison task ends with its own code, no agent crashes and the hive is not
 * degraded. Hangs are left to a child process in `faults.test.ts`: on Deno 2.9 a terminated thread
 * stuck in a synchronous loop keeps its core until the process ends.
 *
 * @module
 */
import { type ApiaryError, createHive, type HiveEvent } from "../../src/index.ts";
import { assertEquals } from "./assert.ts";

const poison = new URL("../fixtures/poison.mjs", import.meta.url);

async function poisonRun(mode: "throw" | "exit", code: string): Promise<void> {
  const hive = createHive({ tasks: poison, threads: 2, agents: Array.from({ length: 6 }, (_, i) => ({ id: `agent-${i + 1}`, concurrency: 4 })), retry: { minMs: 0, maxMs: 0, jitter: 0 } });
  const events: HiveEvent[] = [];
  hive.on("*", (e) => events.push(e));
  await hive.start();
  try {
    const tasks = Array.from({ length: 1_000 }, (_, i) => {
      const bad = i % 10 === 0;
      return { bad, i, handle: hive.submit({ kind: "work", input: { i, mode: bad ? mode : undefined }, timeoutMs: 5_000, retries: bad && mode === "exit" ? 0 : 1 }) };
    });
    const outcomes = await Promise.allSettled(tasks.map((t) => t.handle.result));
    tasks.forEach((t, n) => {
      const o = outcomes[n]!;
      if (t.bad) assertEquals(o.status === "rejected" ? ((o as PromiseRejectedResult).reason as ApiaryError).code : "fulfilled", code, `poison task ${t.i}`);
      else assertEquals(o.status === "fulfilled" ? (o.value as { doubled: number }).doubled : o.status, 2 * t.i, `good task ${t.i}`);
    });
    const stats = hive.stats();
    assertEquals([stats.tasks.completed, stats.tasks.deadLettered, stats.tasks.failed], [900, 100, 0]);
    assertEquals(stats.degraded, null);
    assertEquals(stats.agents.filter((a) => a.status !== "up").map((a) => a.id), []);
    assertEquals(events.filter((e) => e.type === "agent.crashed" || e.type === "hive.degraded").map((e) => e.type), []);
  } finally {
    await hive.stop();
  }
}

Deno.test("1,000 tasks with 10% that throw: every good task completes, the poison ones end TASK_FAILED, no agent crashes", () => poisonRun("throw", "TASK_FAILED"));

Deno.test("1,000 tasks with 10% that exit their thread: every good task completes, the poison ones end WORKER_CRASHED, no agent crashes", () => poisonRun("exit", "WORKER_CRASHED"));
