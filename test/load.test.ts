// runLoad in process, on the inline backend with fixture workloads: failures are counted, not
// lost; the duration mode's warm-up and window; the closed loop's bound; abort; bad options.
import { describe, expect, it } from "vitest";
import { runLoad } from "../src/cli/load.ts";
import type { LoadWorkload } from "../src/cli/load-workload.ts";
import { unaccounted } from "../src/sim/totals.ts";
import { fixtureTasks } from "./helpers.ts";

/** Two agents; every `failEvery`-th task throws (no retries), the rest double a number. */
function workload(failEvery = 0): LoadWorkload {
  return {
    name: "fixture",
    tasks: fixtureTasks,
    agents: [{ id: "a", concurrency: 4 }, { id: "b", concurrency: 4 }],
    next() {
      let i = 0;
      return () => {
        i++;
        return failEvery > 0 && i % failEvery === 0 ? { kind: "fail", input: { message: `task ${i}` }, retries: 0 } : { kind: "double", input: { n: i } };
      };
    },
  };
}

describe("runLoad", () => {
  it("counts failed tasks as dead letters, not as lost, and success says how many completed", async () => {
    const report = await runLoad({ levels: [5, 50], tasksPerLevel: 200, backend: "inline", workload: workload(4) });
    expect(report.scenario).toBe("fixture");
    for (const level of report.levels) {
      expect(level.tasks).toMatchObject({ submitted: 200, accepted: 200, completed: 150, deadLettered: 50, failed: 0, shed: 0, rejected: 0, cancelled: 0 });
      expect(unaccounted(level.tasks)).toBe(0);
      expect(level.successRate).toBe(0.75);
      expect(level.agents.reduce((n, a) => n + a.failed, 0)).toBe(50);
      // Closed loop: never more than the level in the hive.
      expect(Math.max(...level.series.map((p) => p.queued + p.running))).toBeLessThanOrEqual(level.inFlight);
    }
  });

  it("in duration mode leaves the warm-up out of the figures and follows the window's tasks to their end", async () => {
    const report = await runLoad({ levels: [8], durationMs: 300, warmupMs: 100, sampleEveryMs: 50, backend: "inline", workload: workload() });
    const [level] = report.levels;
    expect(level!.warmupMs).toBeCloseTo(100, 0);
    // The window ends at the deadline: a timer, so a little late, never early.
    expect(level!.durationMs).toBeGreaterThanOrEqual(299);
    expect(level!.durationMs).toBeLessThan(400);
    expect(level!.tasks.completed).toBe(level!.tasks.accepted);
    // Tasks of the warm-up ran but are not in the cohort; the hive's own totals include them.
    expect(Number(level!.extra["allAccepted"])).toBeGreaterThan(level!.tasks.accepted);
    expect(level!.extra["allCompleted"]).toBe(level!.extra["allAccepted"]);
    expect(level!.extra["allUnfinished"]).toBe(0);
    expect(level!.series.length).toBeGreaterThanOrEqual(6);
    expect(level!.throughputPerSec).toBeGreaterThan(0);
  });

  it("stops when its signal aborts, with ABORTED", async () => {
    const controller = new AbortController();
    const run = runLoad({ levels: [4], durationMs: 60_000, backend: "inline", workload: workload(), signal: controller.signal, onProgress: () => controller.abort() });
    await expect(run).rejects.toMatchObject({ code: "ABORTED", message: expect.stringContaining("Load test aborted at the 4-in-flight level") });
  });

  it("rejects bad options, naming the option and the value", async () => {
    await expect(runLoad({ levels: [] })).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: 'Cannot run load test: "levels" must name at least one level, received an array of 0' });
    await expect(runLoad({ levels: [10, 0] })).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: 'Cannot run load test: "levels[1]" must be a positive integer, received 0' });
    await expect(runLoad({ tasksPerLevel: 5, durationMs: 100 })).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: 'Cannot run load test: "durationMs" must not be given together with "tasksPerLevel" (5), received 100',
    });
  });
});
