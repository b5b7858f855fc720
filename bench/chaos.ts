/**
 * Bench scope `chaos`: 100,000 tasks on real worker threads (Piscina, 2 threads) with 10%
 * injected faults — 8% throw, 1% kill their thread, 1% hang until their 30 ms timeout — and two
 * retries each (a hanging task none: its retry would hang again).
 * Reports tasks lost (accepted, never ended: must be 0), finished twice (must be 0), the
 * terminal states, and throughput. `--quick` runs 10,000.
 *
 * The baseline is raw Piscina running the same number of fault-free tasks, for scale.
 *
 * @module
 */
import { Piscina } from "piscina";
import { createHive, type HiveEvent } from "../src/index.ts";
import { createRandom } from "../src/random.ts";
import type { BenchScope } from "./harness.ts";
import { closedLoop } from "./pool.ts";

const TERMINAL = new Set(["task.completed", "task.failed", "task.cancelled", "task.deadLettered", "task.shed"]);

const chaos: BenchScope = async ({ quick }) => {
  const total = quick ? 10_000 : 100_000;
  const hive = createHive({
    backend: "piscina",
    threads: 2,
    tasks: new URL("./chaos-tasks.js", import.meta.url),
    agents: Array.from({ length: 8 }, (_, i) => ({ id: `agent-${i}`, concurrency: 64 })),
    defaults: { timeoutMs: 10_000, retries: 2 },
    retry: { minMs: 0 },
    abortGraceMs: 5,
    breaker: false,
    supervision: { maxRestarts: 1_000_000, withinMs: 1_000, backoff: { minMs: 1, maxMs: 20 }, failAfter: 1_000_000 },
  });
  await hive.start();
  const terminals = new Map<string, number>();
  const byType = new Map<string, number>();
  hive.on("*", (e: HiveEvent) => {
    if (!TERMINAL.has(e.type) || !("taskId" in e)) return;
    terminals.set(e.taskId, (terminals.get(e.taskId) ?? 0) + 1);
    byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
  });
  const rng = createRandom(2026);
  let accepted = 0;
  const t0 = performance.now();
  const opsPerSec = await closedLoop(() => {
    const u = rng.next();
    const fault = u < 0.08 ? "throw" : u < 0.09 ? "exit" : u < 0.1 ? "hang" : "none";
    accepted++;
    // A hanging task has a short deadline of its own; the others a generous one.
    return hive.run({ kind: "work", input: { n: accepted, fault }, ...(fault === "hang" ? { timeoutMs: 30, retries: 0 } : {}) }).catch(() => undefined);
  }, 512, total);
  const wallMs = performance.now() - t0;
  await hive.drain();
  await new Promise((r) => setTimeout(r, 50)); // let the last events reach the bus subscriber
  const stats = hive.stats();
  await hive.stop();
  let lost = 0;
  let twice = 0;
  for (let i = 1; i <= accepted; i++) {
    const n = terminals.get(`t${i}`) ?? 0;
    if (n === 0) lost++;
    if (n > 1) twice++;
  }
  const raw = new Piscina({ filename: new URL("./raw-worker.js", import.meta.url).href, minThreads: 2, maxThreads: 2 });
  const rawOps = await closedLoop(() => raw.run({ kind: "echo", input: 1 }), 512, Math.min(total, 30_000));
  await raw.destroy();
  return [
    {
      name: `chaos: ${total} tasks, 10% faults, 2 threads`,
      opsPerSec: Math.round(opsPerSec),
      baseline: "raw piscina, fault-free trivial tasks",
      baselineOpsPerSec: Math.round(rawOps),
      ratio: Math.round((opsPerSec / rawOps) * 1_000) / 1_000,
      extra: {
        lost,
        finishedTwice: twice,
        wallMs: Math.round(wallMs),
        completed: byType.get("task.completed") ?? 0,
        deadLettered: byType.get("task.deadLettered") ?? 0,
        failed: byType.get("task.failed") ?? 0,
        retried: stats.tasks.retried,
        threadRestarts: stats.pool.threadRestarts,
        countsReconcile: String(stats.tasks.accepted === stats.tasks.completed + stats.tasks.failed + stats.tasks.cancelled + stats.tasks.deadLettered + stats.tasks.shed),
      },
    },
  ];
};

export default chaos;
