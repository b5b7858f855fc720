import { describe, expect, it } from "vitest";
import { SimulatedClock } from "xstate";
import { type BusEvent, EventBus } from "../src/observe/bus.ts";
import { MetricsRegistry } from "../src/metrics/registry.ts";
import { serveHealth } from "../src/observe/serve.ts";

type TaskEvent =
  | (BusEvent & { type: "task.submitted"; taskId: string; kind: string })
  | (BusEvent & { type: "task.completed"; taskId: string; kind: string; agentId: string; startedAt: number })
  | (BusEvent & { type: "task.failed"; taskId: string; kind: string; agentId: string; startedAt: number });

describe("bus → metrics → health server, wired as the hive will wire them", () => {
  it("counts task outcomes and latencies from bus events and serves them to a scrape", async () => {
    const clock = new SimulatedClock();
    const bus = new EventBus<TaskEvent>({ clock });
    const metrics = new MetricsRegistry({ prefix: "apiary_" });
    const submitted = metrics.counter({ name: "tasks_submitted_total", help: "Tasks submitted.", labelNames: ["kind"] });
    const outcomes = metrics.counter({ name: "tasks_finished_total", help: "Tasks finished.", labelNames: ["kind", "agent", "outcome"] });
    const duration = metrics.histogram({ name: "task_duration_seconds", help: "Run time.", labelNames: ["kind", "agent"] });
    const inFlight = metrics.gauge({ name: "tasks_in_flight", help: "Submitted, not finished." });
    bus.on("task.submitted", (e) => {
      submitted.inc({ kind: e.kind });
      inFlight.inc();
    });
    for (const type of ["task.completed", "task.failed"] as const) {
      bus.on(type, (e) => {
        outcomes.inc({ kind: e.kind, agent: e.agentId, outcome: type === "task.completed" ? "completed" : "failed" });
        duration.record((e.at - e.startedAt) / 1_000, { kind: e.kind, agent: e.agentId });
        inFlight.dec();
      });
    }

    for (let i = 0; i < 10; i++) {
      bus.publish({ type: "task.submitted", at: clock.now(), taskId: `t${i}`, kind: "sim" });
      clock.increment(100);
      const finished = { at: clock.now(), taskId: `t${i}`, kind: "sim", agentId: "a1", startedAt: clock.now() - 100 * (i + 1) };
      bus.publish(i === 9 ? { type: "task.failed", ...finished } : { type: "task.completed", ...finished });
    }
    await bus.flush();

    await using server = await serveHealth({ port: 0, metrics: () => metrics.toPrometheus(), ready: () => ({ ready: bus.stats().queued === 0 }) });
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain('apiary_tasks_submitted_total{kind="sim"} 10\n');
    expect(text).toContain('apiary_tasks_finished_total{kind="sim",agent="a1",outcome="completed"} 9\n');
    expect(text).toContain('apiary_tasks_finished_total{kind="sim",agent="a1",outcome="failed"} 1\n');
    expect(text).toContain("apiary_tasks_in_flight 0\n");
    expect(text).toContain('apiary_task_duration_seconds_count{kind="sim",agent="a1"} 10\n');
    expect(text).toContain('apiary_task_duration_seconds_max{kind="sim",agent="a1"} 1\n');
    expect(duration.get({ kind: "sim", agent: "a1" }).sum).toBeCloseTo(5.5, 9);
    expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
  });
});
