// `apiary load` and `apiary sweep` over Redis, with a real redis-server and worker nodes in child
// processes (`apiary worker`): a load spread over two nodes, a sweep whose replicas run on the
// nodes with the figures of a local sweep, and a node killed (SIGKILL) under a replica.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHive, plan, sweep } from "../src/index.ts";
import type { PlanReport } from "../src/sim/plan.ts";
import type { LoadReport, SweepReport } from "../src/sim/report.ts";
import { REPLICA_QUEUE } from "../src/sim/replica-wire.ts";
import { type NodeProcess, redisAvailable, type RedisServer, scratch, startNode, startRedisServer } from "./remote-cluster.ts";

async function until(predicate: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const available = redisAvailable();

/** A small M/M/2: `durationMs` of virtual time at 1.5 tasks/s (a replica of 2,000,000 ms takes about a second). */
function scenario(durationMs: number) {
  return {
    name: "small-mm2",
    seed: 7,
    agents: [{ name: "server", count: 2 }],
    workload: { kinds: [{ name: "job", duration: { exponential: { meanMs: 1_000 } } }], arrivals: { poisson: { ratePerSec: 1.5 } } },
    run: { durationMs, warmupMs: 10_000 },
  };
}

/** Runs `bin/apiary.js` with `args`; resolves with its exit code and output once it has exited. */
function cli(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "bin/apiary.js"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`apiary ${args[0]} did not exit within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("load and sweep over Redis: flags", () => {
  it("refuses --threads or --backend with --redis, and --prefix or --min-nodes without it, with exit 2 naming the flag", async () => {
    const url = "redis://127.0.0.1:1";
    const cases: [string[], string][] = [
      [["load", "--redis", url, "--threads", "2"], `"--threads" does not go with "--redis"`],
      [["load", "--redis", url, "--backend", "inline"], `"--backend" does not go with "--redis"`],
      [["load", "--prefix", "p"], `"--prefix" and "--min-nodes" go with "--redis"`],
      [["sweep", "mm1", "--replicas", "2", "--redis", url, "--threads", "2"], `"--threads" does not go with "--redis"`],
      [["sweep", "mm1", "--replicas", "2", "--min-nodes", "2"], `"--prefix" and "--min-nodes" go with "--redis"`],
      [["plan", "mm1", "--vary", "agents.0.count=1..3", "--target", "waitMs.p95<2000", "--redis", url, "--threads", "2"], `"--threads" does not go with "--redis"`],
      [["plan", "mm1", "--vary", "agents.0.count=1..3", "--target", "waitMs.p95<2000", "--prefix", "p"], `"--prefix" and "--min-nodes" go with "--redis"`],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr).toContain(message);
    }
    const help = await cli(["sweep", "--help"]);
    expect(help.stdout).toContain("--redis URL");
    expect((await cli(["load", "--help"])).stdout).toContain("--redis URL");
    expect((await cli(["plan", "--help"])).stdout).toContain("--redis URL");
  }, 60_000);
});

describe.skipIf(!available)("load and sweep over Redis", () => {
  let redis: RedisServer;
  let prefixes = 0;
  const files = scratch();
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.close();
    files.remove();
  });

  /** Writes `content` to a scenario file of the test's scratch folder; its path. */
  function scenarioFile(name: string, content: unknown): string {
    const file = files.file(name);
    writeFileSync(file, JSON.stringify(content));
    return file;
  }

  /** Worker nodes on a fresh prefix of the shared Redis. */
  async function nodes(count: number, capabilities: Record<string, number>, leaseMs = 1_000): Promise<{ prefix: string; nodes: NodeProcess[]; kill(): Promise<void> }> {
    const prefix = `ops${++prefixes}`;
    const started = await Promise.all(
      Array.from({ length: count }, (_, i) => startNode(redis.url, { id: `n${i + 1}`, prefix, leaseMs, threads: 1, agents: [{ id: "w", capabilities, concurrency: 4 }] }, files.dir)),
    );
    return { prefix, nodes: started, kill: async () => void (await Promise.all(started.map((n) => n.kill()))) };
  }

  it("apiary load --redis loads the hive of two nodes: every task completes, both nodes run tasks, and the process exits", async () => {
    const c = await nodes(2, { burn: 1, montecarlo: 1 });
    try {
      const run = await cli(["load", "--redis", redis.url, "--prefix", c.prefix, "--min-nodes", "2", "--levels", "4,8", "--tasks-per-level", "150", "--json"]);
      expect(run.stderr).not.toMatch(/Error/);
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as LoadReport;
      expect(report.nodes).toEqual([{ id: "n1", threads: 1, agents: ["n1/w"] }, { id: "n2", threads: 1, agents: ["n2/w"] }]);
      expect(report.levels.map((l) => l.inFlight)).toEqual([4, 8]);
      for (const level of report.levels) {
        // Each level is a fresh coordinator hive on the same nodes.
        expect(level.extra).toMatchObject({ backend: "remote", threads: 2 });
        expect(level.tasks).toMatchObject({ accepted: 150, completed: 150, failed: 0, deadLettered: 0 });
        const byAgent = Object.fromEntries(level.agents.map((a) => [a.id, a.completed]));
        expect(byAgent["n1/w"]! + byAgent["n2/w"]!).toBe(150);
        expect(byAgent["n1/w"]).toBeGreaterThan(0);
        expect(byAgent["n2/w"]).toBeGreaterThan(0);
      }
    } finally {
      await c.kill();
    }
  }, 120_000);

  it("a fresh coordinator on nodes an earlier one used gets its own outcomes, not the earlier one's (both number their tasks from t1): each load level is such a coordinator", async () => {
    const c = await nodes(1, { work: 1 });
    const run = async (from: number): Promise<{ ids: string[]; ns: number[] }> => {
      const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix: c.prefix }, agents: [] });
      await hive.start();
      try {
        const handles = Array.from({ length: 5 }, (_, i) => hive.submit<{ n: number }>({ kind: "work", input: { n: from + i }, requires: { work: 1 } }));
        const out = await Promise.all(handles.map((h) => h.result));
        return { ids: handles.map((h) => h.id), ns: out.map((o) => o.n) };
      } finally {
        await hive.stop();
      }
    };
    try {
      const first = await run(1);
      const second = await run(11);
      expect(second.ids).toEqual(first.ids);
      expect(first.ns).toEqual([1, 2, 3, 4, 5]);
      expect(second.ns).toEqual([11, 12, 13, 14, 15]);
    } finally {
      await c.kill();
    }
  }, 60_000);

  it("apiary load --redis refuses, before it starts, a workload whose kind no node's agent can serve", async () => {
    const c = await nodes(1, { burn: 1 });
    try {
      const run = await cli(["load", "--redis", redis.url, "--prefix", c.prefix, "--levels", "4", "--tasks-per-level", "20"]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`no agent of the worker nodes meets the requires {"montecarlo":0.5} of kind "montecarlo", received agents n1/w {"burn":1}`);
      expect(run.stderr).toContain("INVALID_OPTIONS");
    } finally {
      await c.kill();
    }
  }, 60_000);

  it("apiary sweep --redis runs the replicas on two nodes and reports the figures of a local sweep with the same seed", async () => {
    const c = await nodes(2, { any: 1 });
    try {
      const file = scenarioFile("small.json", scenario(300_000));
      const run = await cli(["sweep", file, "--replicas", "4", "--vary", "agents.0.count=2,3", "--seed", "11", "--redis", redis.url, "--prefix", c.prefix, "--min-nodes", "2", "--json"]);
      expect(run.code).toBe(0);
      const remote = JSON.parse(run.stdout) as SweepReport;
      const local = await sweep(scenario(300_000), { replicas: 4, vary: { "agents.0.count": [2, 3] }, seed: 11, threads: 2 });
      expect(remote.rows).toEqual(JSON.parse(JSON.stringify(local.rows)));
      expect(remote.threads).toBe(2);
      expect(remote.nodes!.map((n) => n.id)).toEqual(["n1", "n2"]);
      expect(remote.nodes!.reduce((n, node) => n + node.replicas, 0)).toBe(8);
    } finally {
      await c.kill();
    }
  }, 120_000);

  it("apiary plan --redis sizes the swarm on two nodes: the same choice and evidence as a local plan with the same seed", async () => {
    const c = await nodes(2, { any: 1 });
    try {
      const file = scenarioFile("plan.json", scenario(300_000));
      const args = ["plan", file, "--vary", "agents.0.count=1..5", "--target", "waitMs.p95<1500", "--replicas", "3", "--seed", "11"];
      const run = await cli([...args, "--redis", redis.url, "--prefix", c.prefix, "--min-nodes", "2", "--json"]);
      const remote = JSON.parse(run.stdout) as PlanReport;
      const local = await plan(scenario(300_000), { vary: { "agents.0.count": [1, 2, 3, 4, 5] }, targets: ["waitMs.p95<1500"], replicas: 3, seed: 11, threads: 2 });
      expect(run.code).toBe(local.choice === null ? 1 : 0);
      expect(remote.choice).toEqual(local.choice);
      expect(remote.candidates).toEqual(JSON.parse(JSON.stringify(local.candidates)));
      expect(remote.threads).toBe(2);
      expect(remote.nodes!.map((n) => n.id).sort()).toEqual(["n1", "n2"]);
      expect(remote.nodes!.reduce((n, node) => n + node.replicas, 0)).toBe(local.candidates.reduce((n, x) => n + x.replicas, 0));
      // The table says where the replicas ran.
      const table = await cli([...args, "--redis", redis.url, "--prefix", c.prefix]);
      expect(table.stdout).toMatch(/on 2 worker nodes over Redis: n\d \(1 thread, \d+ replicas?\), n\d/);
    } finally {
      await c.kill();
    }
  }, 180_000);

  it("a node killed under a replica: the replica runs again on the other node and the sweep ends with the same figures", async () => {
    const c = await nodes(2, { any: 1 });
    const { Queue, QueueEvents } = await import("bullmq");
    const connection = { url: redis.url, maxRetriesPerRequest: null };
    const queue = new Queue(REPLICA_QUEUE, { connection, prefix: c.prefix });
    const events = new QueueEvents(REPLICA_QUEUE, { connection, prefix: c.prefix });
    try {
      await events.waitUntilReady();
      const stalled: string[] = [];
      events.on("stalled", ({ jobId }) => void stalled.push(jobId));
      const options = { replicas: 6, seed: 3 };
      const running = sweep(scenario(2_000_000), { ...options, remote: { redis: redis.url, prefix: c.prefix, minNodes: 2 } });
      // One thread each: once two replicas are active, each node holds one. Kill n1 under its own.
      await until(async () => (await queue.getActiveCount()) === 2, 30_000, "both nodes running a replica");
      await c.nodes[0]!.kill();
      const report = await running;
      const local = await sweep(scenario(2_000_000), { ...options, threads: 2 });
      expect(report.rows).toEqual(local.rows);
      expect(stalled.length).toBeGreaterThanOrEqual(1);
      const ran = Object.fromEntries(report.nodes!.map((n) => [n.id, n.replicas]));
      expect(ran["n1"]! + ran["n2"]!).toBe(6);
      expect(ran["n2"]).toBeGreaterThanOrEqual(5);
    } finally {
      await events.close();
      await queue.close();
      await c.kill();
    }
  }, 180_000);
});
