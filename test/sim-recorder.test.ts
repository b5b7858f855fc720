import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { createHive, type Hive } from "../src/index.ts";
import { createRecorder } from "../src/sim/recorder.ts";
import { fixtureTasks, settle } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

describe("createRecorder", () => {
  it("reports cohort totals, latency and per-agent figures of a hive on a simulated clock", async () => {
    const clock = new SimulatedClock();
    const hive = createHive({ backend: "inline", tasks: fixtureTasks, clock, agents: [{ id: "a", concurrency: 2 }, { id: "b" }], breaker: false });
    hives.push(hive);
    await hive.start();
    const recorder = createRecorder(hive, { now: () => clock.now(), timers: clock, sampleEveryMs: 100, warmupMs: 10, mode: "simulation", scenario: "unit", seed: 1 });
    // Before the warm-up ends: not in the cohort.
    const early = hive.run({ kind: "double", input: { n: 1 } });
    await early;
    clock.increment(10);
    const results = [hive.run({ kind: "double", input: { n: 2 } }), hive.run({ kind: "fail", input: {} }).catch((e: unknown) => e)];
    await Promise.all(results);
    await settle();
    // SimulatedClock starts a timer set during a flush at the flush's time: step by the interval.
    clock.increment(100);
    clock.increment(100);
    await settle();
    expect(recorder.pending).toBe(0);
    const report = recorder.finish({ note: "x" });
    expect(report.tasks).toEqual({ submitted: 2, accepted: 2, rejected: 0, completed: 1, failed: 0, cancelled: 0, deadLettered: 1, shed: 0, retried: 0 });
    expect(report.durationMs).toBe(200);
    expect(report.warmupMs).toBe(10);
    expect(report.latencyMs.count).toBe(1);
    expect(report.series.length).toBeGreaterThanOrEqual(2);
    expect(report.series.reduce((n, p) => n + p.completed, 0)).toBe(2);
    expect(report.agents.map((a) => a.id)).toEqual(["a", "b"]);
    expect(report.agents.reduce((n, a) => n + a.completed + a.failed, 0)).toBe(2);
    expect(report.extra["note"]).toBe("x");
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it("names the option and the value received when an option is invalid", async () => {
    const hive = createHive({ backend: "inline", agents: [{ id: "a" }] });
    hives.push(hive);
    expect(() => createRecorder(hive, { now: () => 0, sampleEveryMs: 0, mode: "simulation", scenario: "x", seed: 1 })).toThrow(/"sampleEveryMs" must be a positive finite number, received 0/);
  });
});
