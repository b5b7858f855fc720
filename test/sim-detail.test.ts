import { beforeAll, describe, expect, it } from "vitest";
import type { RunReport } from "../src/sim/report.ts";
import type { ScenarioInput } from "../src/sim/scenario.ts";
import { simulate } from "../src/sim/simulate.ts";

/** Two kinds on two agent profiles, two priorities, retries and a dependency outage: every figure has something to count. */
const scenario: ScenarioInput = {
  name: "detail",
  agents: [
    { name: "asker", count: 3, capabilities: { llm: 0.9 }, concurrency: 2 },
    { name: "coder", count: 2, capabilities: { code: 0.8 } },
  ],
  workload: {
    kinds: [
      { name: "ask", weight: 3, requires: { llm: 0.5 }, duration: { exponential: { meanMs: 400 } }, dependsOn: ["llm"], retries: 3 },
      { name: "code", weight: 1, requires: { code: 0.5 }, duration: { exponential: { meanMs: 900 } }, priorities: { high: 1 } },
    ],
    priorities: { normal: 3, low: 1 },
    arrivals: { poisson: { ratePerSec: 8 } },
  },
  dependencies: [{ name: "llm", consecutiveFailures: 3, resetTimeoutMs: 2_000, failAfterMs: 300 }],
  faults: { taskFailureProbability: 0.05, outages: [{ dependency: "llm", atMs: 20_000, forMs: 8_000 }] },
  policies: { retries: 1, retry: { minMs: 200, maxMs: 2_000, jitter: 0 } },
  run: { durationMs: 60_000, warmupMs: 5_000 },
};

describe("the detailed figures of a run", () => {
  let r: RunReport;
  beforeAll(async () => {
    r = await simulate(scenario, { seed: 3 });
  });

  it("per priority and per kind add up to the run's totals", () => {
    for (const groups of [r.byKind!, r.byPriority!]) {
      const sum = (f: (g: (typeof groups)[string]) => number): number => Object.values(groups).reduce((n, g) => n + f(g), 0);
      expect(sum((g) => g.accepted)).toBe(r.tasks.accepted);
      expect(sum((g) => g.completed)).toBe(r.tasks.completed);
      expect(sum((g) => g.deadLettered + g.failed)).toBe(r.tasks.deadLettered + r.tasks.failed);
      expect(sum((g) => g.retried)).toBe(r.tasks.retried);
      expect(sum((g) => g.latencyMs.count)).toBe(r.latencyMs.count);
      expect(sum((g) => g.throughputPerSec)).toBeCloseTo(r.throughputPerSec, 1);
    }
    expect(Object.keys(r.byKind!)).toEqual(["ask", "code"]);
    expect(r.byKind!["ask"]!.requires).toEqual({ llm: 0.5 });
    // code tasks are all high priority; ask tasks normal or low.
    expect(Object.keys(r.byPriority!)).toEqual(["high", "normal", "low"]);
    expect(r.byPriority!["high"]!.accepted).toBe(r.byKind!["code"]!.accepted);
  });

  it("splits each completed task's time into phases that add up to its latency", () => {
    const b = r.timeBreakdown!;
    expect(b.count).toBe(r.latencyMs.count);
    expect(b.waitSlotMs + b.waitThreadMs + b.runMs + b.backoffMs + b.fastFailMs).toBeCloseTo(r.latencyMs.mean, 0);
    // Simulated attempts start when placed: no thread wait. The outage makes retries wait out backoff.
    expect(b.waitThreadMs).toBe(0);
    expect(b.backoffMs).toBeGreaterThan(0);
    expect(b.fastFailAttempts).toBeGreaterThan(0);
    for (const g of Object.values(r.byKind!)) {
      const t = g.timeBreakdown;
      expect(t.waitSlotMs + t.waitThreadMs + t.runMs + t.backoffMs + t.fastFailMs).toBeCloseTo(g.latencyMs.mean, 0);
    }
  });

  it("makes Little's law exact: the time average in the hive equals λ·W plus the window's edges", () => {
    const l = r.littlesLaw!;
    expect(l.meanInSystem).toBeCloseTo(r.extra["meanInSystem"] as number, 2);
    expect(l.lambdaW + l.carriedIn - l.spilledOut).toBeCloseTo(l.meanInSystem, 2);
    expect(l.unfinished).toBe(0);
  });

  it("gives latency percentiles per sampling interval and each agent's fast failures", () => {
    const withLatency = r.series.filter((p) => p.latencyP95Ms !== undefined);
    expect(withLatency.length).toBeGreaterThan(r.series.length / 2);
    for (const p of withLatency) expect(p.latencyP50Ms!).toBeLessThanOrEqual(p.latencyP95Ms!);
    const fast = r.agents.reduce((n, a) => n + (a.fastFails ?? 0), 0);
    expect(fast).toBeGreaterThan(0);
    for (const a of r.agents) expect(a.fastFails!).toBeLessThanOrEqual(a.failed);
    expect(r.agents[0]!.capabilities).toEqual({ llm: 0.9 });
    expect(r.faultWindows).toEqual([{ what: "outage", dependency: "llm", fromMs: 20_000, toMs: 28_000 }]);
  });
});
