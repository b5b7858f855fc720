/**
 * Bench scope `remote`: a coordinator hive on the remote backend over BullMQ, with 1 and then 2
 * worker-node processes, against raw BullMQ — a `Queue` fed with `addBulk` and the same number
 * of worker processes running a plain `Worker` at the same concurrency — on one throwaway
 * redis-server. Trivial tasks (where apiary's attempts share jobs) and ~1 ms CPU tasks. Each run
 * is a backlog of tasks submitted at once, timed until the last result is in.
 *
 * Beside the ratio, each line gives Redis's own CPU per task on each side (from `INFO cpu`):
 * what one Redis core can carry, whatever the machine the nodes run on.
 *
 * Needs redis-server (apt-get install redis-server).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { createHive } from "../src/index.ts";
import { type BenchResult, type BenchScope, compare } from "./harness.ts";
import { startRedisServer } from "./redis-server.ts";

/** BullMQ concurrency of each raw worker, and the slots of each node's agent. */
const CONCURRENCY = 100;

/** Redis's CPU seconds so far (user + system), from `INFO cpu`. */
async function redisCpuSeconds(client: Redis): Promise<number> {
  const info = await client.info("cpu");
  const field = (name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, "m").exec(info)?.[1] ?? 0);
  return field("used_cpu_user") + field("used_cpu_sys");
}

/** Counts Redis CPU and tasks across the timed runs of one side. */
class RedisCost {
  #cpuSeconds = 0;
  #tasks = 0;
  readonly #client: Redis;
  constructor(client: Redis) {
    this.#client = client;
  }
  async measure(tasks: number, run: () => Promise<number>): Promise<number> {
    const before = await redisCpuSeconds(this.#client);
    const rate = await run();
    this.#cpuSeconds += (await redisCpuSeconds(this.#client)) - before;
    this.#tasks += tasks;
    return rate;
  }
  /** Redis CPU per task, µs; resets the count. */
  take(): number {
    const us = this.#tasks === 0 ? 0 : (this.#cpuSeconds * 1e6) / this.#tasks;
    this.#cpuSeconds = 0;
    this.#tasks = 0;
    return Math.round(us * 10) / 10;
  }
}

/** Starts a child process and resolves once it prints `marker`. */
async function child(args: string[], marker: string): Promise<ChildProcess> {
  const c = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    c.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(marker)) resolve();
    });
    c.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}: ${out}`)));
  });
  c.stdout?.resume();
  return c;
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) =>
    new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once("exit", () => resolve());
      c.kill("SIGTERM");
      setTimeout(() => c.kill("SIGKILL"), 10_000).unref();
    })
  ));
}

const remote: BenchScope = async ({ quick }) => {
  const redis = await startRedisServer();
  const bin = fileURLToPath(new URL("../../bin/apiary.js", import.meta.url));
  const rawWorker = fileURLToPath(new URL("./remote-raw-worker.js", import.meta.url));
  const agentsFile = join(redis.dir, "agents.json");
  writeFileSync(agentsFile, JSON.stringify([{ id: "w", concurrency: CONCURRENCY }]));
  const results: BenchResult[] = [];
  try {
    for (const nodes of [1, 2]) {
      const prefix = `bench${nodes}`;
      const children = await Promise.all([
        ...Array.from({ length: nodes }, (_, i) => child([bin, "worker", "--redis", redis.url, "--agents", agentsFile, "--threads", "1", "--id", `n${i}`, "--prefix", prefix], "joined")),
        ...Array.from({ length: nodes }, () => child([rawWorker, redis.url, prefix, String(CONCURRENCY)], "ready")),
      ]);
      const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix, minNodes: nodes }, agents: [], defaults: { timeoutMs: 120_000 } });
      await hive.start();
      const queue = new Queue(prefix, { connection: { url: redis.url, maxRetriesPerRequest: null }, prefix: "raw" });
      const events = new QueueEvents(prefix, { connection: { url: redis.url, maxRetriesPerRequest: null }, prefix: "raw" });
      await events.waitUntilReady();
      const probe = new Redis(redis.url, { maxRetriesPerRequest: null });
      const hiveCost = new RedisCost(probe);
      const rawCost = new RedisCost(probe);
      let completed = 0;
      let waiter: (() => void) | undefined;
      let target = 0;
      events.on("completed", () => {
        if (++completed >= target) waiter?.();
      });
      const rawRun = async (total: number, ms: number): Promise<number> => {
        completed = 0;
        target = total;
        const done = new Promise<void>((resolve) => (waiter = resolve));
        const t0 = performance.now();
        for (let i = 0; i < total; i += 1_000) {
          const n = Math.min(1_000, total - i);
          await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name: "t", data: { n: i + k, ms }, opts: { removeOnComplete: true, removeOnFail: true } })));
        }
        await done;
        return (total * 1_000) / (performance.now() - t0);
      };
      const hiveRun = async (total: number, ms: number): Promise<number> => {
        const t0 = performance.now();
        const kind = ms > 0 ? "burn" : "echo";
        await Promise.all(Array.from({ length: total }, (_, n) => hive.run({ kind, input: ms > 0 ? { ms } : n })));
        return (total * 1_000) / (performance.now() - t0);
      };
      try {
        // Warm both paths up (JIT, connections) before anything is timed.
        await hiveRun(2_000, 0);
        await rawRun(2_000, 0);
        const trivial = quick ? 3_000 : 20_000;
        const r1 = await compare(
          `trivial tasks, ${nodes} node(s)`,
          "raw BullMQ",
          () => hiveCost.measure(trivial, () => hiveRun(trivial, 0)),
          () => rawCost.measure(trivial, () => rawRun(trivial, 0)),
          quick ? 1 : 3,
        );
        r1.extra = {
          nodes,
          attemptsPerJob: Math.round(((2_000 + trivial * (quick ? 1 : 3)) / hive.stats().pool.messages) * 10) / 10,
          redisCpuUsPerTask: hiveCost.take(),
          rawRedisCpuUsPerTask: rawCost.take(),
        };
        results.push(r1);
        const cpu = quick ? 500 : 3_000;
        const r2 = await compare(
          `~1 ms CPU tasks, ${nodes} node(s)`,
          "raw BullMQ",
          () => hiveCost.measure(cpu, () => hiveRun(cpu, 1)),
          () => rawCost.measure(cpu, () => rawRun(cpu, 1)),
          quick ? 1 : 3,
        );
        r2.extra = { nodes, redisCpuUsPerTask: hiveCost.take(), rawRedisCpuUsPerTask: rawCost.take() };
        results.push(r2);
      } finally {
        await hive.stop();
        probe.disconnect();
        await events.close();
        await queue.close();
        await stopAll(children);
      }
    }
  } finally {
    await redis.close();
  }
  return results;
};

export default remote;
