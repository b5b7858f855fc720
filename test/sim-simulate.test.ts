import { describe, expect, it } from "vitest";
import { type ApiaryError, createHive, type RunReport, type ScenarioInput, simulate } from "../src/index.ts";

/** The report without its wall time (the one figure a seed does not reproduce). */
function canonical(report: RunReport): string {
  const { wallMs: _wall, ...rest } = report;
  return JSON.stringify(rest);
}

function reconciles(r: RunReport): void {
  const t = r.tasks;
  expect(t.accepted).toBe(t.completed + t.failed + t.cancelled + t.deadLettered + t.shed);
  expect(t.submitted).toBe(t.accepted + t.rejected);
}

const faulty: ScenarioInput = {
  name: "faulty",
  agents: [{ name: "w", count: 6, concurrency: 2, capabilities: { llm: 0.9, calc: 0.5 } }, { name: "calc", count: 2, capabilities: { calc: 1 } }],
  workload: {
    kinds: [
      { name: "ask", requires: { llm: 0.5 }, duration: { lognormal: { medianMs: 400, sigma: 0.6 } }, dependsOn: ["llm"], retries: 2 },
      { name: "sum", requires: { calc: 0.5 }, duration: { exponential: { meanMs: 200 } }, weight: 2, retries: 1 },
    ],
    priorities: { high: 1, normal: 3, low: 1 },
    arrivals: { poisson: { ratePerSec: 12 } },
  },
  dependencies: [{ name: "llm", consecutiveFailures: 3, resetTimeoutMs: 5_000, failAfterMs: 1_000 }],
  faults: {
    taskFailureProbability: 0.03,
    workerDeathProbability: 0.01,
    agentCrashesPerHour: 40,
    latencySpikes: { probability: 0.01, factor: 8 },
    outages: [{ dependency: "llm", atMs: 300_000, forMs: 60_000 }],
  },
  policies: { timeoutMs: 5_000, supervision: { maxRestarts: 1_000, withinMs: 60_000 } },
  run: { durationMs: 900_000, warmupMs: 30_000 },
};

describe("simulate", () => {
  it("gives a byte-identical report for the same scenario and seed, and another for another seed", async () => {
    const short: ScenarioInput = { ...faulty, run: { durationMs: 240_000, warmupMs: 10_000 } };
    const a = await simulate(short, { seed: 11 });
    const b = await simulate(short, { seed: 11 });
    const c = await simulate(short, { seed: 12 });
    expect(canonical(a)).toBe(canonical(b));
    expect(canonical(c)).not.toBe(canonical(a));
    expect(a.seed).toBe(11);
    expect(a.mode).toBe("simulation");
    expect(a.wallMs).toBeGreaterThan(0);
  });

  it("shows faults in the report — crashes, restarts, worker deaths, a dependency breaker tripping in the outage — and every task ends once", async () => {
    const r = await simulate(faulty, { seed: 3 });
    reconciles(r);
    expect(r.tasks.retried).toBeGreaterThan(0);
    expect(r.tasks.deadLettered).toBeGreaterThan(0);
    expect(r.extra["crashes"]).toBeGreaterThan(0);
    expect(r.extra["restarts"]).toBeGreaterThan(0);
    expect(r.extra["workerDeaths"]).toBeGreaterThan(0);
    const what = (w: string) => r.marks.filter((m) => m.what === w);
    expect(what("crashed").length).toBe(r.extra["crashes"]);
    expect(what("restarted").length).toBeGreaterThan(0);
    // The llm breaker opens inside the outage window (30 s warm-up + 300 s .. +60 s) and closes after it.
    const dep = r.marks.filter((m) => m.agentId === "dependency:llm");
    const firstOpen = dep.find((m) => m.what === "breaker.open")!;
    expect(firstOpen.t).toBeGreaterThanOrEqual(300_000);
    expect(firstOpen.t).toBeLessThan(360_000);
    expect(dep.at(-1)!.what).toBe("breaker.closed");
    expect(dep.at(-1)!.t).toBeGreaterThanOrEqual(360_000);
    expect(r.extra["dependencyBreakerTrips"]).toBeGreaterThan(0);
    // Per-agent figures add up to the window's attempts; the series covers the run.
    expect(r.agents.map((a) => a.id)).toEqual(["w-1", "w-2", "w-3", "w-4", "w-5", "w-6", "calc-1", "calc-2"]);
    expect(r.agents.reduce((n, a) => n + a.restarts, 0)).toBe(r.extra["restarts"]);
    for (const a of r.agents) expect(a.utilisation).toBeGreaterThan(0);
    expect(r.series.at(-1)!.t).toBeGreaterThanOrEqual(930_000);
  });

  it("runs a closed loop at N in flight: Little's law holds exactly with constant durations", async () => {
    const r = await simulate({
      name: "closed",
      agents: [{ name: "a", count: 4, concurrency: 2 }],
      workload: { kinds: [{ name: "job", duration: { constant: 250 } }], arrivals: { closed: { inFlight: 6 } } },
      run: { durationMs: 60_000 },
    });
    reconciles(r);
    // 6 in flight on 8 slots: nothing waits, each task takes 250 ms, so 24 tasks/s.
    expect(r.throughputPerSec).toBeCloseTo(24, 1);
    expect(r.latencyMs.mean).toBe(250);
    expect(r.waitMs.max).toBe(0);
    expect(r.extra["meanInSystem"]).toBeCloseTo(6, 2);
    expect(r.agents.reduce((n, a) => n + a.utilisation, 0) / 4).toBeCloseTo(6 / 8, 2);
  });

  it("stops after a task count, then follows those tasks to their end", async () => {
    const r = await simulate({
      name: "count",
      agents: [{ name: "a", concurrency: 3 }],
      workload: { kinds: [{ name: "job", duration: { exponential: { meanMs: 100 } } }], arrivals: { poisson: { ratePerSec: 20 } } },
      run: { tasks: 500, warmupMs: 1_000 },
    });
    expect(r.tasks).toMatchObject({ submitted: 500, accepted: 500, completed: 500 });
    expect(r.durationMs).toBeGreaterThan(20_000);
  });

  it("bursty arrivals come at the on-rate during bursts and not at all between them", async () => {
    const r = await simulate({
      name: "bursty",
      agents: [{ name: "a", concurrency: 100 }],
      workload: { kinds: [{ name: "job", duration: { constant: 10 } }], arrivals: { bursty: { ratePerSec: 50, onMs: 1_000, offMs: 3_000 } } },
      run: { durationMs: 400_000, sampleEveryMs: 1_000 },
    });
    expect(r.extra["arrivalsPerSec"]).toBeGreaterThan(50 * 0.25 * 0.95);
    expect(r.extra["arrivalsPerSec"]).toBeLessThan(50 * 0.25 * 1.05);
    // Samples every second: completions fall in the first of every four seconds (and its next ms).
    const quiet = r.series.filter((p) => Math.round(p.t / 1_000) % 4 === 3 || Math.round(p.t / 1_000) % 4 === 0);
    expect(quiet.reduce((n, p) => n + p.completed, 0)).toBe(0);
  });

  it("answers repeated cacheable tasks from the hive's result cache", async () => {
    const r = await simulate({
      name: "cached",
      agents: [{ name: "a", concurrency: 4 }],
      workload: { kinds: [{ name: "lookup", duration: { constant: 50 }, cache: { keys: 20 } }], arrivals: { poisson: { ratePerSec: 10 } } },
      run: { durationMs: 120_000 },
    });
    expect(r.extra["cacheHits"]).toBeGreaterThan(1_000);
    expect(r.tasks.completed).toBeLessThanOrEqual(40);
  });

  it("leaves the warm-up out of the figures but not out of the series", async () => {
    const r = await simulate({
      name: "warm",
      agents: [{ name: "a" }],
      workload: { kinds: [{ name: "job", duration: { constant: 100 } }], arrivals: { poisson: { ratePerSec: 2 } } },
      run: { durationMs: 100_000, warmupMs: 50_000, sampleEveryMs: 10_000 },
    }, { seed: 5 });
    expect(r.warmupMs).toBe(50_000);
    expect(r.durationMs).toBe(100_000);
    expect(r.series[0]!.t).toBe(10_000);
    const all = r.series.reduce((n, p) => n + p.completed, 0);
    expect(all).toBeGreaterThan(r.tasks.completed);
  });

  it("rejects with ABORTED when its signal aborts", async () => {
    const controller = new AbortController();
    const run = simulate({
      name: "long",
      agents: [{ name: "a", count: 10 }],
      workload: { kinds: [{ name: "job", duration: { constant: 100 } }], arrivals: { poisson: { ratePerSec: 50 } } },
      run: { durationMs: 1e9 },
    }, { signal: controller.signal, onProgress: () => controller.abort(new Error("enough")) });
    await expect(run).rejects.toMatchObject({ code: "ABORTED" });
  });

  it("rejects an invalid scenario or option naming the field and the value", async () => {
    await expect(simulate({ name: "x" } as ScenarioInput)).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: 'Invalid scenario: "agents" must be an array of agent groups, received undefined',
    });
    await expect(simulate(faulty, { seed: 1.5 })).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: 'Cannot simulate: "seed" must be an integer, received 1.5' });
  });
});

describe('createHive({ backend: "simulated" })', () => {
  it("is refused without a scenario's workload, pointing at simulate()", () => {
    let error: ApiaryError | undefined;
    try {
      createHive({ backend: "simulated" as "inline", agents: [{ id: "a" }] });
    } catch (e) {
      error = e as ApiaryError;
    }
    expect(error?.code).toBe("INVALID_OPTIONS");
    expect(error?.message).toContain('"backend" "simulated" needs a scenario\'s workload: run it with simulate(scenario, { seed }), received "simulated"');
  });
});
