// `plan` against queueing theory: an M/M/c queue, where Erlang C gives the mean wait for each
// number of servers in closed form, so the smallest count that meets a wait target is known.
import { beforeAll, describe, expect, it } from "vitest";
import { isApiaryError } from "../src/core/errors.ts";
import { mmcWait } from "../src/sim/erlang.ts";
import { plan, type PlanReport } from "../src/sim/plan.ts";
import type { ScenarioInput } from "../src/sim/scenario.ts";

/** Poisson arrivals at 6/s, exponential service of mean 1 s, `count` servers. */
const mmc: ScenarioInput = {
  name: "mmc-plan",
  seed: 1,
  agents: [{ name: "server", count: 4 }],
  workload: { kinds: [{ name: "job", duration: { exponential: { meanMs: 1_000 } } }], arrivals: { poisson: { ratePerSec: 6 } } },
  run: { durationMs: 600_000, warmupMs: 20_000 },
};
const TARGET_MS = 110;

describe("plan on an M/M/c queue", () => {
  let report: PlanReport;
  beforeAll(async () => {
    report = await plan(mmc, { vary: { "agents.0.count": [4, 5, 6, 7, 8, 9, 10, 11, 12] }, targets: [`waitMs.mean<${TARGET_MS}`, "successRate>=99%"], replicas: 6, threads: 2 });
  }, 180_000);

  it("chooses the server count Erlang C gives: the smallest with a mean wait under the target", () => {
    // Erlang C: 7 servers wait 614 ms on average, 8 wait 178 ms, 9 wait 65 ms, 10 wait 25 ms.
    const theory = [4, 5, 6, 7, 8, 9, 10, 11, 12].map((c) => ({ c, waitMs: mmcWait(c, 6, 1_000).meanMs }));
    const expected = theory.find((t) => t.waitMs < TARGET_MS)!.c;
    expect(expected).toBe(9);
    expect(report.choice).toEqual({ "agents.0.count": expected });
    expect(report.statement).toMatch(/^agents\.0\.count = 9 is the smallest setting that meets every target with 95% confidence/);
    // The evidence: the choice meets the target, the setting before it does not.
    expect(report.evidence.choice!.targets.every((t) => t.passed)).toBe(true);
    expect(report.evidence.previous!.params).toEqual({ "agents.0.count": 8 });
    expect(report.evidence.previous!.targets.find((t) => t.figure === "waitMs.mean")!.passed).toBe(false);
  });

  it("measures the waits Erlang C predicts at the settings it tried (within 25%)", () => {
    for (const c of report.candidates.filter((x) => x.tried !== null && (x.params["agents.0.count"] as number) <= 10)) {
      const n = c.params["agents.0.count"] as number;
      const theory = mmcWait(n, 6, 1_000).meanMs;
      const measured = c.figures["waitMs.mean"]!.mean;
      expect(Math.abs(measured - theory) / theory, `${n} servers: measured ${measured} ms, Erlang C ${theory} ms`).toBeLessThan(0.25);
    }
  });

  it("bisects instead of trying every count: the largest first, then midpoints", () => {
    expect(report.search).toBe("bisection");
    expect(report.gridSize).toBe(9);
    expect(report.tried).toBe(4);
    const order = report.candidates.filter((c) => c.tried !== null).sort((a, b) => a.tried! - b.tried!).map((c) => c.params["agents.0.count"]);
    expect(order).toEqual([12, 8, 10, 9]);
    const skipped = report.candidates.find((c) => c.params["agents.0.count"] === 5)!;
    expect(skipped).toMatchObject({ verdict: "skipped", replicas: 0 });
    expect(skipped.note).toMatch(/larger value on its line misses/);
    expect(report.candidates.find((c) => c.params["agents.0.count"] === 11)!.note).toMatch(/smaller value on its line already meets/);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});

describe("plan's options", () => {
  it("names the option and the value received when a target or a vary path is wrong", async () => {
    const refusal = async (options: Parameters<typeof plan>[1]): Promise<string> => {
      try {
        await plan(mmc, options);
      } catch (error) {
        expect(isApiaryError(error, "INVALID_OPTIONS")).toBe(true);
        return (error as Error).message;
      }
      throw new Error("expected a refusal");
    };
    expect(await refusal({ vary: { "agents.0.count": [1, 2] }, targets: ["waitMs.p95=2"] })).toMatch(/^Cannot plan: "targets\[0\]" must be FIGURE<VALUE.*received "waitMs.p95=2"$/);
    expect(await refusal({ vary: { "agents.0.count": [1, 2] }, targets: [] })).toMatch(/"targets" must name at least one target/);
    expect(await refusal({ vary: { "agents.9.count": [1, 2] }, targets: ["waitMs.p95<2"] })).toMatch(/"agents.9.count"/);
    expect(await refusal({ vary: { "agents.0.count": [1, 0] }, targets: ["waitMs.p95<2"] })).toMatch(/^Cannot plan at agents.0.count = 0: .*"agents\[0\]\.count"/);
    expect(await refusal({ vary: { "agents.0.count": [1] }, targets: ["waitMs.p95<2"], replicas: 1 })).toMatch(/"replicas" must be an integer from 2/);
  });
});
