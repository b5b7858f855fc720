// A scenario as a live load workload: agents, policies and the task mix, each kind a burn.
import { describe, expect, it } from "vitest";
import { scenarioWorkload } from "../src/cli/load-scenario.ts";
import { parseScenario } from "../src/sim/scenario.ts";

const scenario = parseScenario({
  name: "mix",
  agents: [{ name: "w", count: 3, capabilities: { fast: 0.9 }, concurrency: 2, restart: "transient" }],
  workload: {
    kinds: [
      { name: "quick", requires: { fast: 0.5 }, duration: { constant: 0.25 }, priorities: { high: 1 }, retries: 2 },
      { name: "slow", duration: { empirical: [2, 4] }, timeoutMs: 900 },
    ],
    arrivals: { poisson: { ratePerSec: 10 } },
  },
  dependencies: [{ name: "db" }],
  faults: { outages: [{ dependency: "db", atMs: 0, forMs: 10 }] },
  policies: { queue: { maxQueued: 50, overflow: "shed-lowest" }, timeoutMs: 5_000, retries: 1 },
  run: { tasks: 10 },
});

describe("scenarioWorkload", () => {
  it("expands agent groups and carries the scenario's policies to the hive", () => {
    const { workload, meanTaskMs } = scenarioWorkload(scenario);
    expect(workload.name).toBe("mix");
    expect(workload.agents).toEqual(["w-1", "w-2", "w-3"].map((id) => ({ id, capabilities: { fast: 0.9 }, concurrency: 2, restart: "transient" })));
    expect(workload.hive).toMatchObject({ defaults: { timeoutMs: 5_000, retries: 1 }, queue: { maxQueued: 50, overflow: "shed-lowest" } });
    expect(meanTaskMs).toBeCloseTo((0.25 + 3) / 2, 6);
  });

  it("turns each kind into a burn of the duration drawn for it, with its requirements, priority, timeout and retries", () => {
    const next = scenarioWorkload(scenario).workload.next(1);
    const tasks = Array.from({ length: 200 }, next);
    expect(new Set(tasks.map((t) => t.kind))).toEqual(new Set(["burn"]));
    const quick = tasks.filter((t) => (t.input as { ms: number }).ms === 0.25);
    const slow = tasks.filter((t) => (t.input as { ms: number }).ms !== 0.25);
    expect(quick.length).toBeGreaterThan(60);
    expect(slow.length).toBeGreaterThan(60);
    for (const t of quick) expect(t).toMatchObject({ requires: { fast: 0.5 }, priority: "high", retries: 2 });
    for (const t of slow) {
      expect([2, 4]).toContain((t.input as { ms: number }).ms);
      expect(t).toMatchObject({ requires: {}, priority: "normal", timeoutMs: 900 });
    }
    // The stream is seeded.
    const again = scenarioWorkload(scenario).workload.next(1);
    expect(Array.from({ length: 200 }, again)).toEqual(tasks);
  });

  it("lists what a live run leaves out", () => {
    const { leftOut } = scenarioWorkload(scenario);
    expect(leftOut).toEqual([
      "injected faults (outages): a live run has only the failures that really happen",
      "dependencies: the burn tasks call none",
      "the arrivals (poisson) and the run length: the load test keeps each level's tasks in flight for --tasks-per-level or --duration-ms",
    ]);
  });
});
