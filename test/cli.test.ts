// The `apiary` command, run as a real child process on the built package.
import { describe, expect, it } from "vitest";
import { apiary } from "./helpers.ts";

describe("apiary simulate", () => {
  it("runs the built-in demo on the worker pool and prints one JSON summary", async () => {
    const { code, stdout } = await apiary("simulate", "--json", "--tasks", "40", "--threads", "2", "--seed", "7");
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ scenario: "demo", seed: 7, backend: "piscina", threads: 2 });
    expect(report.tasks).toMatchObject({ submitted: 40, completed: 40, failed: 0, queued: 0, running: 0 });
    expect(report.latencyMs.p50).toBeGreaterThan(0);
    expect(report.latencyMs.p99).toBeGreaterThanOrEqual(report.latencyMs.p95);
    expect(report.agents.map((a: { id: string }) => a.id)).toEqual(["solar-1", "solar-2", "quant-1", "generalist"]);
    expect(report.agents.reduce((n: number, a: { tasks: number }) => n + a.tasks, 0)).toBe(40);
    // solar-2 cannot run Monte Carlo (no capability); quant-1 is below the energy level asked.
    expect(report.results.energy.runs + report.results.montecarlo.runs).toBe(40);
    expect(Math.abs(report.results.montecarlo.meanEstimate - Math.PI)).toBeLessThan(0.01);
  });

  it("prints a readable summary with throughput, percentiles and tasks per agent", async () => {
    const { code, stdout } = await apiary("simulate", "--tasks", "20", "--threads", "2");
    expect(code).toBe(0);
    expect(stdout).toMatch(/throughput\s+[\d.]+ tasks\/s/);
    expect(stdout).toMatch(/latency ms\s+p50 [\d.]+\s+p95 [\d.]+\s+p99 [\d.]+/);
    expect(stdout).toContain("quant-1");
  });

  it("rejects bad flags with exit code 2 and says which value was wrong", async () => {
    const bad = await apiary("simulate", "--tasks", "zero");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"--tasks" must be an integer >= 1, received "zero"');
    const unknown = await apiary("fly");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "fly"');
  });
});
