// What a remote cluster shows of itself, on a real Redis with worker nodes in child processes
// (`apiary worker`): each node's /metrics (linted by promtool) and health, handlers' progress from
// a node's thread to `handle.onProgress`, and the coordinator's backstop deadline when a node
// that took an attempt is frozen (SIGSTOP) with its lease still good.
import { execFile } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHive, type HiveEvent } from "../src/index.ts";
import { apiary, onPath } from "./helpers.ts";
import { type NodeProcess, redisAvailable, type RedisServer, scratch, startNode, startRedisServer, until } from "./remote-cluster.ts";

const available = redisAvailable();

describe("apiary worker --port", () => {
  it("refuses a bad port, and --host without --port, with exit code 2 naming the flag and the value", async () => {
    const base = ["worker", "--redis", "redis://127.0.0.1:1", "--agents", "agents.json"];
    const [port, host] = await Promise.all([apiary(...base, "--port", "70000"), apiary(...base, "--host", "0.0.0.0")]);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('"--port" must be an integer from 0 to 65535, received "70000"');
    expect(host.code).toBe(2);
    expect(host.stderr).toContain('"--host" needs "--port": the health server\'s port, received --host "0.0.0.0"');
  });

  it("takes a pool that grows and shrinks (--min-threads, --max-threads, --idle-timeout-ms), not beside --threads", async () => {
    const base = ["worker", "--redis", "redis://127.0.0.1:1", "--agents", "agents.json"];
    const [both, inverted, idle] = await Promise.all([
      apiary(...base, "--threads", "2", "--max-threads", "4"),
      apiary(...base, "--min-threads", "3", "--max-threads", "2"),
      apiary(...base, "--idle-timeout-ms", "0"),
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('"--threads" is a fixed pool: give it, or "--min-threads"/"--max-threads" for one that grows and shrinks, not both (received --threads 2)');
    expect(inverted.code).toBe(2);
    expect(inverted.stderr).toContain('"--min-threads" must be at most "--max-threads" (2), received 3');
    expect(idle.code).toBe(2);
    expect(idle.stderr).toContain('"--idle-timeout-ms" must be an integer from 1 to 2147483647, received "0"');
    expect(both.stderr).toContain("--min-threads N");
  });
});

const promtool = onPath("promtool");

/** `promtool check metrics` on `text`: its exit code and what it printed. */
function checkMetrics(tool: string, text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(tool, ["check", "metrics"], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : -1;
      if (code === -1) reject(error);
      else resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(text);
  });
}

/** The value of the sample `name{labels}` in a Prometheus text, or undefined. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe.skipIf(!available)("remote cluster observed", () => {
  let redis: RedisServer;
  let prefixes = 0;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it("each node serves /metrics (its own attempts, by kind and outcome; promtool-clean) and health; ready turns 503 when Redis goes", async () => {
    if (promtool === undefined && process.env.APIARY_REQUIRE_PROMTOOL === "1") throw new Error("APIARY_REQUIRE_PROMTOOL=1 but no promtool on the PATH");
    const own = await startRedisServer(); // this test stops it
    const files = scratch();
    const nodes: NodeProcess[] = [];
    try {
      nodes.push(
        ...await Promise.all([
          startNode(own.url, { id: "n1", agents: [{ id: "a", capabilities: { work: 1 }, concurrency: 4 }], port: 0, leaseMs: 5_000 }, files.dir),
          startNode(own.url, { id: "n2", agents: [{ id: "b", capabilities: { work: 1 }, concurrency: 4 }], port: 0, leaseMs: 5_000 }, files.dir),
        ]),
      );
      const [n1, n2] = nodes as [NodeProcess, NodeProcess];
      expect(n1.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const hive = createHive({ backend: "remote", remote: { redis: own.url, minNodes: 2 }, agents: [], defaults: { retries: 0 } });
      await hive.start();
      const ran = { a: 0, b: 0 };
      try {
        const results = await Promise.all(Array.from({ length: 24 }, (_, n) => hive.run<{ agent: "a" | "b" }>({ kind: "work", input: { n, ms: 2 } })));
        for (const r of results) ran[r.agent]++;
        await expect(hive.run({ kind: "fail" })).rejects.toMatchObject({ code: "TASK_FAILED" });
      } finally {
        await hive.stop();
      }
      const texts = await Promise.all([n1, n2].map(async (n) => (await fetch(`${n.url}/metrics`)).text()));
      const [t1, t2] = texts as [string, string];
      // Attempts counted where they ran: the results name the agent, hence the node.
      expect(sample(t1, "apiary_node_attempts_total", 'node="n1",kind="work",outcome="completed"') ?? 0).toBe(ran.a);
      expect(sample(t2, "apiary_node_attempts_total", 'node="n2",kind="work",outcome="completed"') ?? 0).toBe(ran.b);
      expect(ran.a + ran.b).toBe(24);
      const failed = (sample(t1, "apiary_node_attempts_total", 'node="n1",kind="fail",outcome="failed"') ?? 0) +
        (sample(t2, "apiary_node_attempts_total", 'node="n2",kind="fail",outcome="failed"') ?? 0);
      expect(failed).toBe(1);
      // The run-time histogram has Prometheus buckets, as the hive's: +Inf counts every attempt that ran.
      for (const [text, node, n] of [[t1, "n1", ran.a], [t2, "n2", ran.b]] as const) {
        expect(text).toContain("# TYPE apiary_node_attempt_run_seconds histogram");
        if (n > 0) expect(sample(text, "apiary_node_attempt_run_seconds_bucket", `node="${node}",kind="work",le="+Inf"`)).toBe(n);
        expect(sample(text, "apiary_node_threads", `node="${node}"`)).toBeGreaterThanOrEqual(1);
        expect(sample(text, "apiary_node_redis_connected", `node="${node}"`)).toBe(1);
        expect(sample(text, "apiary_node_ready", `node="${node}"`)).toBe(1);
        expect(sample(text, "apiary_node_attempts_running", `node="${node}"`)).toBe(0);
        expect(sample(text, "apiary_node_lease_age_seconds", `node="${node}"`)).toBeLessThan(5);
        if (promtool !== undefined) {
          const { code, output } = await checkMetrics(promtool, text);
          expect(output).toBe("");
          expect(code).toBe(0);
        }
      }
      // Health: the hive's paths and JSON.
      const live = await fetch(`${n1.url}/health/live`);
      expect([live.status, await live.json()]).toEqual([200, { live: true }]);
      const ready = await fetch(`${n1.url}/health/ready`);
      expect([ready.status, await ready.json()]).toEqual([200, { ready: true }]);
      // Redis gone: not ready, saying why; still live.
      await own.kill();
      let answer: { status: number; body: { ready?: boolean; reason?: string } } = { status: 0, body: {} };
      const end = Date.now() + 15_000;
      while (answer.status !== 503 && Date.now() < end) {
        const r = await fetch(`${n1.url}/health/ready`);
        answer = { status: r.status, body: (await r.json()) as typeof answer.body };
        if (answer.status !== 503) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ ready: false, reason: expect.stringMatching(/Redis not connected|lease not renewed/) });
      expect((await fetch(`${n1.url}/health/live`)).status).toBe(200);
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
      await own.close();
      files.remove();
    }
  });

  it("a node leaves on SIGTERM without waiting out leases: at once with no coordinator listening, within a lease with Redis gone, and its process exits", async () => {
    const own = await startRedisServer(); // this test stops it
    const files = scratch();
    const nodes: NodeProcess[] = [];
    try {
      // 5 s leases: the old leave waited two of them (10 s) for a release nobody would send.
      nodes.push(await startNode(own.url, { id: "quiet", agents: [{ id: "w", concurrency: 2 }], leaseMs: 5_000, prefix: "leave" }, files.dir));
      let t0 = performance.now();
      expect(await nodes[0]!.stop()).toBe(0);
      const alone = performance.now() - t0;
      expect(nodes[0]!.output()).toContain("left after 0 attempts");
      expect(alone).toBeLessThan(5_000);

      nodes.push(await startNode(own.url, { id: "stranded", agents: [{ id: "w", concurrency: 2 }], leaseMs: 5_000, prefix: "leave" }, files.dir));
      await own.close(); // Redis goes: the leave cannot be said, the lease lapses by itself
      t0 = performance.now();
      expect(await nodes[1]!.stop()).toBe(0);
      const stranded = performance.now() - t0;
      // Before: no exit at all (BullMQ's clean close waits for Redis, and its stalled-job timer holds the process).
      expect(stranded).toBeLessThan(15_000);
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
      await own.close();
      files.remove();
    }
  });

  it("ctx.progress in a node's thread reaches handle.onProgress and task.progress events, in order", async () => {
    const prefix = `p${++prefixes}`;
    const files = scratch();
    const node = await startNode(redis.url, { id: "n1", prefix, agents: [{ id: "a", capabilities: { work: 1 }, concurrency: 4 }] }, files.dir);
    const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix }, agents: [] });
    const events: HiveEvent[] = [];
    hive.on("task.progress", (e) => void events.push(e));
    await hive.start();
    try {
      const handle = hive.submit({ kind: "progress", input: { values: [1, 2, 3] } });
      const seen: unknown[] = [];
      handle.onProgress((value) => void seen.push(value));
      await expect(handle.result).resolves.toBe("reported");
      await until(() => seen.length >= 3, 5_000, "three progress reports");
      expect(seen).toEqual([1, 2, 3]);
      expect(events.filter((e) => e.type === "task.progress" && e.taskId === handle.id).map((e) => (e as { value: unknown }).value)).toEqual([1, 2, 3]);
      // Two tasks in one job: each task hears only its own.
      const [x, y] = [hive.submit({ kind: "progress", input: { values: ["x1", "x2"] } }), hive.submit({ kind: "progress", input: { values: ["y1", "y2"] } })];
      const heard: Record<string, unknown[]> = { x: [], y: [] };
      x.onProgress((v) => void heard.x!.push(v));
      y.onProgress((v) => void heard.y!.push(v));
      await Promise.all([x.result, y.result]);
      await until(() => heard.x!.length >= 2 && heard.y!.length >= 2, 5_000, "both tasks' progress");
      expect(heard).toEqual({ x: ["x1", "x2"], y: ["y1", "y2"] });
    } finally {
      await hive.stop();
      await node.kill();
      files.remove();
    }
  });

  it("a node frozen after it took an attempt (lease still good): the coordinator's backstop ends it TASK_TIMEOUT once; the node's late outcome is dropped", async () => {
    const prefix = `b${++prefixes}`;
    const files = scratch();
    const log = files.file("runs.log");
    // A long lease: the frozen node is not found dead before the backstop fires.
    const node = await startNode(redis.url, { id: "n1", prefix, leaseMs: 30_000, port: 0, agents: [{ id: "a", capabilities: { work: 1 }, concurrency: 2 }] }, files.dir);
    const hive = createHive({ backend: "remote", remote: { redis: redis.url, prefix, marginMs: 300 }, agents: [], abortGraceMs: 200, defaults: { retries: 0 } });
    const events: HiveEvent[] = [];
    hive.on("*" as never, (e: HiveEvent) => void events.push(e));
    await hive.start();
    let frozen = false;
    try {
      const handle = hive.submit({ kind: "work", input: { sleepMs: 20_000, log }, timeoutMs: 3_000 });
      await until(() => files.lines("runs.log").some((l) => l.what === "start"), 20_000, "the attempt to start on the node");
      // The node reports an attempt running after min(250 ms, timeout / 4), as its job's progress
      // (the coordinator's backstop arms from it): once that is in Redis, freeze the node.
      const client = new Redis(redis.url);
      try {
        const reported = async (): Promise<boolean> => {
          for (const key of await client.keys(`${prefix}:node.n1.*`)) {
            if ((await client.type(key)) === "hash" && ((await client.hget(key, "progress")) ?? "").includes("started")) return true;
          }
          return false;
        };
        const end = Date.now() + 20_000;
        while (!(await reported())) {
          if (Date.now() > end) throw new Error("the node did not report the attempt running");
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        client.disconnect();
      }
      node.child.kill("SIGSTOP");
      frozen = true;
      const started = Date.now();
      const error = await handle.result.catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "TASK_TIMEOUT", message: expect.stringContaining("no outcome from node n1") });
      // The bound is timeout + grace + margin (3,500 ms) from its start; it fired well before any lease could lapse.
      expect(Date.now() - started).toBeLessThan(10_000);
      node.child.kill("SIGCONT");
      frozen = false;
      // Thawed, the node times the attempt out itself and sends that outcome back: dropped. The node goes on.
      await expect(hive.run({ kind: "work", input: { n: 1 } })).resolves.toMatchObject({ agent: "a", n: 1 });
      // The node did end it (its own timeout, or the coordinator's abort) and sent that back...
      let text = "";
      let late = 0;
      const end = Date.now() + 10_000;
      while (late === 0 && Date.now() < end) {
        text = await (await fetch(`${node.url}/metrics`)).text();
        late = (sample(text, "apiary_node_attempts_total", 'node="n1",kind="work",outcome="timedOut"') ?? 0) +
          (sample(text, "apiary_node_attempts_total", 'node="n1",kind="work",outcome="cancelled"') ?? 0);
        if (late === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(late).toBe(1);
      expect(sample(text, "apiary_node_jobs_running", 'node="n1"')).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // ...and the task still ended once, with the backstop's outcome (retries 0: dead-lettered).
      const ends = events.filter((e) => "taskId" in e && e.taskId === handle.id && ["task.completed", "task.failed", "task.cancelled", "task.deadLettered"].includes(e.type));
      expect(ends.map((e) => e.type)).toEqual(["task.deadLettered"]);
      expect(events.some((e) => e.type === "agent.crashed")).toBe(false);
    } finally {
      if (frozen) node.child.kill("SIGCONT");
      await hive.stop();
      await node.kill();
      files.remove();
    }
  });
});
