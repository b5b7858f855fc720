// Queueing theory: the simulated hive against the closed forms of M/M/1 and M/M/c.
//
// Tolerance 5%. Each check is one seeded run, so it is deterministic; the seed is the first one,
// not a chosen one. What the tolerance means statistically: at ρ = 0.8 waiting times are strongly
// autocorrelated, so means converge slowly — at these lengths (≈80,000 and ≈64,000 tasks) the
// standard error of W is about 3%, and over seeds 1–8 the error of W ranged from −1.8% to +8.9%
// (M/M/1) and from −2.3% to +7.0% (M/M/4); the README lists the sweep. Little's law and the
// utilisation, which do not wait on rare long busy periods, are held to 1–2%.
import { describe, expect, it } from "vitest";
import { type RunReport, simulate } from "../src/index.ts";

/** Erlang C: the probability that an arrival waits in M/M/c with offered load `a` = λ/μ. */
function erlangC(c: number, a: number): number {
  let sum = 0;
  let term = 1;
  for (let k = 0; k < c; k++) {
    if (k > 0) term *= a / k;
    sum += term;
  }
  const top = (term * a) / c / (1 - a / c);
  return top / (sum + top);
}

/** c servers (agents of one slot), Poisson arrivals at `lambda`/s, exponential service of mean 1 s. */
function mmc(c: number, lambda: number, durationMs: number): Promise<RunReport> {
  return simulate(
    {
      name: `M/M/${c}`,
      agents: [{ name: "server", count: c }],
      workload: { kinds: [{ name: "job", duration: { exponential: { meanMs: 1_000 } } }], arrivals: { poisson: { ratePerSec: lambda } } },
      run: { durationMs, warmupMs: 100_000 },
    },
    { seed: 1 },
  );
}

const within = (actual: number, expected: number, tolerance: number): void => {
  expect(Math.abs(actual / expected - 1), `${actual} vs ${expected}`).toBeLessThan(tolerance);
};

describe("queueing behaviour", () => {
  it("M/M/1 (λ = 0.8, μ = 1): W = 1/(μ−λ) = 5 s, Lq = ρ²/(1−ρ) = 3.2, L = 4, utilisation ρ — within 5%", async () => {
    const r = await mmc(1, 0.8, 100_000_000);
    expect(r.tasks.completed).toBeGreaterThan(75_000);
    within(r.latencyMs.mean, 5_000, 0.05);
    within(r.waitMs.mean, 4_000, 0.05);
    within(Number(r.extra["meanQueued"]), 3.2, 0.05);
    within(Number(r.extra["meanInSystem"]), 4, 0.05);
    within(r.agents[0]!.utilisation, 0.8, 0.02);
    // Little's law on the run's own figures (λ̂ · Ŵ against the time average of L).
    within(Number(r.extra["littleL"]), Number(r.extra["meanInSystem"]), 0.01);
  });

  it("M/M/4 (λ = 3.2, μ = 1): Erlang C wait Wq = C/(cμ−λ) and response W = Wq + 1/μ — within 5%", async () => {
    const c = 4;
    const lambda = 3.2;
    const waitProbability = erlangC(c, lambda);
    expect(waitProbability).toBeCloseTo(0.5964, 3);
    const wqMs = (waitProbability / (c - lambda)) * 1_000;
    const r = await mmc(c, lambda, 20_000_000);
    expect(r.tasks.completed).toBeGreaterThan(60_000);
    within(r.waitMs.mean, wqMs, 0.05);
    within(r.latencyMs.mean, wqMs + 1_000, 0.05);
    within(Number(r.extra["meanQueued"]), lambda * (wqMs / 1_000), 0.05);
    for (const a of r.agents) within(a.utilisation, 0.8, 0.02);
    within(Number(r.extra["littleL"]), Number(r.extra["meanInSystem"]), 0.01);
  });
});
