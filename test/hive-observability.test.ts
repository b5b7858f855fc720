// The hive wired to its observability: metrics (Prometheus text parsed back), the health server
// over a real loopback socket, the event bus options, and inspection traces.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createHive, type Hive, type HiveEvent, type HiveOptions } from "../src/index.ts";
import type { TraceRecord } from "../src/observe/trace.ts";
import { fixtureTasks, settle, sharedFlag } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

async function started(options: Partial<HiveOptions> = {}): Promise<Hive> {
  const hive = createHive({ backend: "inline", tasks: fixtureTasks, agents: [{ id: "a", concurrency: 2 }, { id: "b", concurrency: 1 }], ...options });
  hives.push(hive);
  await hive.start();
  return hive;
}

/** A sample line of the exposition: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text format 0.0.4 (HELP/TYPE comments and sample lines); throws on a bad line. */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const typeLine = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped)$/.exec(line);
    if (typeLine) {
      types.set(typeLine[1]!, typeLine[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    const raw = m[3]!;
    samples.push({ name: m[1]!, labels, value: raw === "NaN" ? Number.NaN : raw === "+Inf" ? Infinity : Number(raw) });
  }
  return { types, samples };
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe("hive metrics", () => {
  it("exposes task counts, latency quantiles per kind and agent, and sampled gauges as parseable Prometheus text", async () => {
    const hive = await started({ defaults: { timeoutMs: 5_000, retries: 0, priority: "normal" } });
    const outs = await Promise.all(Array.from({ length: 10 }, (_, n) => hive.run<number>({ kind: "double", input: { n } })));
    expect(outs).toEqual(Array.from({ length: 10 }, (_, n) => n * 2));
    await expect(hive.run({ kind: "fail", input: { message: "nope" } })).rejects.toMatchObject({ code: "TASK_FAILED" });
    await expect(hive.run({ kind: "failTimes", input: { times: 1 }, retries: 1 })).resolves.toBe("ok on attempt 2");

    const { types, samples } = parsePrometheus(hive.metricsText());
    expect(types.get("apiary_tasks_total")).toBe("counter");
    expect(types.get("apiary_task_latency_seconds")).toBe("summary");
    expect(types.get("apiary_queue_depth")).toBe("gauge");
    expect(value(samples, "apiary_tasks_total", { kind: "double", outcome: "completed" })).toBe(10);
    expect(value(samples, "apiary_tasks_total", { kind: "fail", outcome: "deadLettered" })).toBe(1);
    expect(value(samples, "apiary_tasks_total", { kind: "failTimes", outcome: "retried" })).toBe(1);
    expect(value(samples, "apiary_tasks_total", { kind: "failTimes", outcome: "completed" })).toBe(1);
    // Latency count per kind, summed over agents, is the completed count; quantiles are ordered.
    const latencyCounts = samples.filter((s) => s.name === "apiary_task_latency_seconds_count" && s.labels.kind === "double");
    expect(latencyCounts.reduce((sum, s) => sum + s.value, 0)).toBe(10);
    for (const s of latencyCounts) expect(["a", "b"]).toContain(s.labels.agent);
    const agent = latencyCounts[0]!.labels.agent!;
    const q = (quantile: string) => value(samples, "apiary_task_latency_seconds", { kind: "double", agent, quantile })!;
    expect(q("0.5")).toBeGreaterThanOrEqual(0);
    expect(q("0.5")).toBeLessThanOrEqual(q("0.95"));
    expect(q("0.95")).toBeLessThanOrEqual(q("0.99"));
    expect(q("0.99")).toBeLessThanOrEqual(value(samples, "apiary_task_latency_seconds_max", { kind: "double", agent })! * 1.02);
    expect(value(samples, "apiary_task_run_seconds_count", { kind: "double", agent })).toBeGreaterThan(0);
    expect(value(samples, "apiary_queue_depth", {})).toBe(0);
    expect(value(samples, "apiary_tasks_running", {})).toBe(0);
    expect(value(samples, "apiary_agents_busy", {})).toBe(0);
    expect(value(samples, "apiary_agent_busy_slots", { agent: "b" })).toBe(0);

    // The JSON snapshot carries the same figures.
    const snap = hive.metrics();
    const tasks = snap.find((m) => m.name === "apiary_tasks_total");
    expect(tasks?.series).toContainEqual({ labels: { kind: "double", outcome: "completed" }, value: 10 });
  });

  it("samples the queue and running gauges at collection time", async () => {
    const hive = await started({ agents: [{ id: "solo", concurrency: 1 }] });
    const blocker = hive.submit({ kind: "waitAbort", input: { flag: sharedFlag().flag } });
    const queued = [hive.submit({ kind: "double", input: { n: 2 } }), hive.submit({ kind: "double", input: { n: 3 } })];
    await hive.waitFor("task.started");
    let { samples } = parsePrometheus(hive.metricsText());
    expect(value(samples, "apiary_tasks_running", {})).toBe(1);
    expect(value(samples, "apiary_queue_depth", {})).toBe(2);
    expect(value(samples, "apiary_agents_busy", {})).toBe(1);
    expect(value(samples, "apiary_agent_busy_slots", { agent: "solo" })).toBe(1);
    blocker.cancel();
    await Promise.all(queued.map((t) => t.result));
    ({ samples } = parsePrometheus(hive.metricsText()));
    expect(value(samples, "apiary_queue_depth", {})).toBe(0);
    expect(value(samples, "apiary_tasks_running", {})).toBe(0);
    expect(value(samples, "apiary_tasks_total", { kind: "waitAbort", outcome: "cancelled" })).toBe(1);
  });

  it("keeps no metrics with metrics: false", async () => {
    const hive = await started({ metrics: false });
    await hive.run({ kind: "double", input: { n: 1 } });
    expect(hive.metrics()).toEqual([]);
    expect(hive.metricsText()).toBe("");
  });

  it("rejects a metrics option that is not a boolean, naming it", () => {
    expect(() => createHive({ agents: [{ id: "a" }], metrics: "yes" as unknown as boolean })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"metrics" must be a boolean') }),
    );
  });
});

describe("hive.serve over a real loopback socket", () => {
  it("serves /metrics, /health/live and /health/ready, not ready while draining, closed on stop", async () => {
    const hive = await started();
    const server = await hive.serve({ port: 0 });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    await hive.run({ kind: "double", input: { n: 4 } });

    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples } = parsePrometheus(await metrics.text());
    expect(value(samples, "apiary_tasks_total", { kind: "double", outcome: "completed" })).toBe(1);

    expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
    const ready = await fetch(`${server.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });

    // Draining (a task still running): not ready, and says why.
    const blocker = hive.submit({ kind: "waitAbort", input: { flag: sharedFlag().flag } });
    await hive.waitFor("task.started");
    const draining = hive.drain();
    const notReady = await fetch(`${server.url}/health/ready`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ ready: false, reason: "the hive is draining" });
    blocker.cancel();
    await draining;
    expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);

    await hive.stop();
    await expect(fetch(`${server.url}/health/live`)).rejects.toThrow();
  });

  it("is not ready once the hive stopped", async () => {
    const hive = await started();
    const server = await hive.serve({ port: 0 });
    await hive.stop();
    await expect(fetch(`${server.url}/health/ready`)).rejects.toThrow();
  });
});

describe("hive event bus options", () => {
  it("replays the last N events to a late listener that asks for replay", async () => {
    const hive = await started({ events: { replay: 50 } });
    await hive.run({ kind: "double", input: { n: 1 } });
    await settle();
    const seen: HiveEvent["type"][] = [];
    hive.on("*", (e) => seen.push(e.type), { replay: true });
    expect(seen).toContain("hive.started");
    expect(seen).toContain("task.completed");
    const late: string[] = [];
    hive.on("task.completed", (e) => late.push(e.taskId));
    expect(late).toEqual([]);
  });

  it("isolates a listener that throws and lists the failed delivery as a dead letter", async () => {
    const hive = await started();
    const others: string[] = [];
    hive.on("task.completed", () => {
      throw new Error("listener bug");
    });
    hive.on("task.completed", (e) => others.push(e.taskId));
    const out = await hive.run<number>({ kind: "double", input: { n: 21 } });
    await settle();
    expect(out).toBe(42);
    expect(others).toHaveLength(1);
    const letters = hive.eventDeadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ listenerType: "task.completed", attempts: 1, state: "retrying", event: { type: "task.completed" } });
    expect((letters[0]!.error as Error).message).toBe("listener bug");
    expect(value(parsePrometheus(hive.metricsText()).samples, "apiary_event_dead_letters", {})).toBe(1);
  });
});

describe("hive inspection traces", () => {
  it("writes the inspection stream to a JSON-lines file, sanitized and filtered, closed on stop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "apiary-hive-trace-"));
    try {
      const file = join(dir, "trace.jsonl");
      const hive = await started({
        inspect: {
          file,
          types: ["@xstate.actor", "@xstate.event", "@xstate.snapshot"],
          sample: { "@xstate.snapshot": 5 },
          sanitize: (record) => {
            const text = JSON.stringify(record);
            return text.includes("hunter2") ? (JSON.parse(text.replaceAll("hunter2", "[redacted]")) as TraceRecord) : record;
          },
        },
      });
      await hive.run({ kind: "context", input: { password: "hunter2" } });
      await hive.stop();
      const text = readFileSync(file, "utf8");
      const records = text.trim().split("\n").map((l) => JSON.parse(l) as TraceRecord);
      expect(records.length).toBeGreaterThan(3);
      expect(new Set(records.map((r) => r.type))).toEqual(new Set(["@xstate.actor", "@xstate.event", "@xstate.snapshot"]));
      // The queen and the actors below it (supervisor, agents, workers) are all in the trace.
      expect(new Set(records.filter((r) => r.type === "@xstate.actor").map((r) => r.actor?.sessionId)).size).toBeGreaterThan(2);
      expect(text).not.toContain("hunter2");
      expect(text).toContain("[redacted]");
      // Sequence numbers are increasing: nothing reordered.
      for (let i = 1; i < records.length; i++) expect(records[i]!.seq).toBeGreaterThan(records[i - 1]!.seq);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("still takes a plain inspect observer", async () => {
    const types = new Set<string>();
    const hive = await started({ inspect: (e) => types.add(e.type) });
    await hive.run({ kind: "double", input: { n: 1 } });
    expect(types.has("@xstate.actor")).toBe(true);
    expect(types.has("@xstate.event")).toBe(true);
  });

  it("rejects a trace with a bad option, naming it", () => {
    expect(() => createHive({ agents: [{ id: "a" }], inspect: { file: "" } })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringContaining('"file"') }));
  });
});

describe("inspectHive (the library side of apiary inspect)", () => {
  it("connects a hive to a loopback relay; a viewer sees its actors and events, filtered to what the inspector draws", async () => {
    const { inspectHive } = await import("../src/index.ts");
    const { WebSocket } = await import("ws");
    await using inspected = await inspectHive({ backend: "inline", tasks: fixtureTasks, agents: [{ id: "a" }] }, { port: 0 });
    expect(inspected.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const socket = new WebSocket(inspected.relay.wsUrl);
    const types: string[] = [];
    const sawCompleted = new Promise<void>((resolve) => {
      socket.on("message", (data: Buffer) => {
        const m = JSON.parse(data.toString()) as { type: string; event?: { type?: string } };
        types.push(m.type);
        if (m.type === "@xstate.event" && m.event?.type === "queen.submit") resolve();
      });
    });
    await new Promise<void>((resolve) => socket.once("open", () => resolve()));
    await inspected.hive.start();
    expect(await inspected.hive.run<number>({ kind: "double", input: { n: 2 } })).toBe(4);
    await sawCompleted;
    expect(types).toContain("@xstate.actor");
    expect(types).not.toContain("@xstate.microstep");
    socket.terminate();
    await inspected.close();
    expect(inspected.hive.stats().state).toBe("stopped");
  });
});

describe("hive observability on simulated time", () => {
  it("stamps trace records and uptime with the hive clock, not the wall clock", async () => {
    const { SimulatedClock } = await import("xstate");
    const clock = new SimulatedClock();
    clock.set(1_000_000);
    const dir = mkdtempSync(join(tmpdir(), "apiary-hive-trace-"));
    try {
      const file = join(dir, "trace.jsonl");
      const hive = await started({ clock, inspect: { file, types: ["@xstate.event"] } });
      await hive.run({ kind: "double", input: { n: 1 } });
      clock.increment(2_500);
      const { samples } = parsePrometheus(hive.metricsText());
      expect(value(samples, "apiary_uptime_seconds", {})).toBe(2.5);
      await hive.stop();
      const records = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as TraceRecord);
      expect(records.length).toBeGreaterThan(0);
      for (const r of records) expect(r.at).toBeGreaterThanOrEqual(1_000_000);
      expect(records.some((r) => r.at === 1_000_000)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
