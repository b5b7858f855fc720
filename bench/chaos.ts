/**
 * Bench scope `chaos`: 100,000 tasks on real worker threads (Piscina, 2 threads) with 10%
 * injected faults — 6% throw, 1% kill their thread, 1% hang until their 30 ms timeout, 1% of a
 * poison kind that fails on every agent, 1% of a kind `agent-7` is broken for (it fails there
 * only, so blame crashes that agent) — and two retries each (a hanging task none: its retry would
 * hang again). 5% carry a deadline of 5–100 ms on the whole task. The broken agent's crashes
 * escalate (more than 1 restart within 1 s; two blamed failures in a row crash it); the hive restarts the swarm after a 50 ms
 * cool-down, and is healed by hand every 10,000 tasks.
 * Reports tasks lost (accepted, never ended: must be 0), finished twice (must be 0), the
 * terminal states, the escalations and heals, and throughput. `--quick` runs 10,000.
 *
 * The baseline is raw Piscina running the same number of fault-free tasks, for scale.
 *
 * @module
 */
import { Piscina } from "piscina";
import { createHive, type HiveEvent } from "../src/index.ts";
import { createRandom } from "../src/core/random.ts";
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
    supervision: { maxRestarts: 1, withinMs: 1_000, backoff: { minMs: 1, maxMs: 20 }, failAfter: 2, escalation: { action: "restart", cooldownMs: 50 } },
  });
  await hive.start();
  const terminals = new Map<string, number>();
  const byType = new Map<string, number>();
  let agentBlamed = 0;
  hive.on("*", (e: HiveEvent) => {
    if (e.type === "hive.degraded" || e.type === "hive.healed" || e.type === "agent.crashed") byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
    if ((e.type === "task.retrying" || e.type === "task.deadLettered") && e.blame?.to === "agent") agentBlamed++;
    if (!TERMINAL.has(e.type) || !("taskId" in e)) return;
    terminals.set(e.taskId, (terminals.get(e.taskId) ?? 0) + 1);
    byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
  });
  const rng = createRandom(2026);
  let accepted = 0;
  const t0 = performance.now();
  const opsPerSec = await closedLoop(
    () => {
      const u = rng.next();
      accepted++;
      if (accepted % 10_000 === 0) hive.heal();
      const deadline: { deadlineMs?: number } = rng.next() < 0.05 ? { deadlineMs: 5 + Math.floor(rng.next() * 96) } : {};
      if (u >= 0.08 && u < 0.1) {
        const task: { kind: string; input: unknown } = u < 0.09 ? { kind: "poison", input: { n: accepted } } : { kind: "brokenOn", input: { agent: "agent-7" } };
        return hive.run({ ...task, ...deadline }).catch(() => undefined);
      }
      const fault = u < 0.06 ? "throw" : u < 0.07 ? "exit" : u < 0.08 ? "hang" : "none";
      // A hanging task has a short timeout of its own; the others a generous one.
      return hive.run({ kind: "work", input: { n: accepted, fault }, ...(fault === "hang" ? { timeoutMs: 30, retries: 0 } : {}), ...deadline }).catch(() => undefined);
    },
    512,
    total,
  );
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
        cancelled: byType.get("task.cancelled") ?? 0,
        shed: byType.get("task.shed") ?? 0,
        agentBlamed,
        agentsCrashed: byType.get("agent.crashed") ?? 0,
        escalations: byType.get("hive.degraded") ?? 0,
        healed: byType.get("hive.healed") ?? 0,
        threadRestarts: stats.pool.threadRestarts,
        countsReconcile: String(stats.tasks.accepted === stats.tasks.completed + stats.tasks.failed + stats.tasks.cancelled + stats.tasks.deadLettered + stats.tasks.shed),
      },
    },
  ];
};

export default chaos;
