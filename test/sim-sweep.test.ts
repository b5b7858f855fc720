// sweep(): replicas and parameter grids on a real Piscina pool, aggregated with 95% CIs.
import { describe, expect, it } from "vitest";
import { estimate, tQuantile975 } from "../src/sim/estimate.ts";
import { setPath, sweep } from "../src/sim/sweep.ts";

const mm1 = {
  name: "mm1",
  agents: [{ name: "server" }],
  workload: { kinds: [{ name: "job", duration: { exponential: { meanMs: 1_000 } } }], arrivals: { poisson: { ratePerSec: 0.5 } } },
  run: { durationMs: 900_000, warmupMs: 120_000 },
};

describe("estimate", () => {
  it("gives Student-t 95% intervals", () => {
    expect(tQuantile975(1)).toBe(12.706);
    expect(tQuantile975(30)).toBe(2.042);
    expect(tQuantile975(1_000)).toBeCloseTo(1.962, 3);
    const e = estimate([1, 2, 3, 4, 5]);
    expect(e.mean).toBe(3);
    expect(e.stddev).toBeCloseTo(Math.sqrt(2.5), 12);
    // 3 ± 2.776 × 1.5811 / √5
    expect(e.ci95[0]).toBeCloseTo(3 - 1.963, 3);
    expect(e.ci95[1]).toBeCloseTo(3 + 1.963, 3);
    expect(estimate([7])).toEqual({ n: 1, mean: 7, stddev: 0, ci95: [7, 7] });
  });
});

describe("sweep", () => {
  it("runs every grid point's replicas on the pool; each mean's interval holds the M/M/1 figure", async () => {
    const progress: number[] = [];
    const report = await sweep(mm1, { replicas: 6, threads: 2, seed: 11, vary: { "workload.arrivals.poisson.ratePerSec": [0.25, 0.5] }, onProgress: (done) => progress.push(done) });
    expect(report).toMatchObject({ mode: "sweep", scenario: "mm1", replicas: 6, threads: 2, vary: { "workload.arrivals.poisson.ratePerSec": [0.25, 0.5] } });
    expect(progress.at(-1)).toBe(12);
    expect(report.rows.map((r) => r.params)).toEqual([{ "workload.arrivals.poisson.ratePerSec": 0.25 }, { "workload.arrivals.poisson.ratePerSec": 0.5 }]);
    for (const row of report.rows) {
      const lambda = row.params["workload.arrivals.poisson.ratePerSec"] as number;
      const w = row.figures["latencyMeanMs"]!;
      expect(w.n).toBe(6);
      // W = 1 / (μ − λ) with μ = 1/s, widened a little: the interval is itself an estimate.
      const expected = 1_000 / (1 - lambda);
      expect(w.ci95[0] - 0.1 * expected).toBeLessThan(expected);
      expect(w.ci95[1] + 0.1 * expected).toBeGreaterThan(expected);
      expect(row.figures["throughputPerSec"]!.mean).toBeCloseTo(lambda, 1);
      expect(row.figures["successRate"]!.mean).toBe(1);
    }
  }, 60_000);

  it("gives the same figures on one thread as on two (seeded replicas)", async () => {
    const short = { ...mm1, run: { durationMs: 60_000 } };
    const one = await sweep(short, { replicas: 2, threads: 1, seed: 3 });
    const two = await sweep(short, { replicas: 2, threads: 2, seed: 3 });
    expect(one.rows).toEqual(two.rows);
  }, 60_000);

  it("refuses bad options and bad vary keys before running anything, naming them", async () => {
    await expect(sweep(mm1, { replicas: 0 })).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining('"replicas" must be an integer from 1 to 10000, received 0') });
    await expect(sweep(mm1, { replicas: 1, vary: { "workload.nothing.here": [1] } })).rejects.toThrow(
      /"vary" key "workload.nothing.here" does not name a field of the scenario \("workload.nothing" is missing\)/,
    );
    await expect(sweep(mm1, { replicas: 1, vary: { "agents.0.count": [0] } })).rejects.toThrow(/Cannot sweep at agents.0.count=0: .*"agents\[0\].count"/);
  });

  it("sets dotted paths without touching the original", () => {
    const out = setPath(mm1, "agents.0.count", 4) as typeof mm1 & { agents: { count: number }[] };
    expect(out.agents[0]!.count).toBe(4);
    expect((mm1.agents[0] as { count?: number }).count).toBeUndefined();
  });
});
