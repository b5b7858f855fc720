import { describe, expect, it } from "vitest";
import { isApiaryError } from "../src/core/errors.ts";
import { erlangC, mmcWait } from "../src/sim/erlang.ts";
import { evaluateEstimate, evaluateRun, parseTarget } from "../src/sim/targets.ts";
import { runReport } from "./fixtures/reports.ts";

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    expect(isApiaryError(error, "INVALID_OPTIONS")).toBe(true);
    return (error as Error).message;
  }
  throw new Error("expected a refusal");
}

describe("targets", () => {
  it("reads FIGURE OP VALUE, with % for rates and groups by priority or kind", () => {
    expect(parseTarget("waitMs.p95<2000", '"--target"')).toEqual({ text: "waitMs.p95<2000", figure: "waitMs.p95", op: "<", value: 2000 });
    expect(parseTarget(" successRate >= 99.5% ", '"--target"')).toMatchObject({ figure: "successRate", op: ">=", value: 0.995 });
    expect(parseTarget("byKind.ask.latencyMs.p99<=8e3", '"--target"', { kinds: ["ask"] })).toMatchObject({ figure: "byKind.ask.latencyMs.p99", op: "<=", value: 8000 });
    expect(parseTarget({ figure: "byPriority.high.throughputPerSec", op: ">", value: 5 }, "targets[0]")).toMatchObject({ text: "byPriority.high.throughputPerSec>5" });
  });

  it("names the flag and the value received when a target is not one", () => {
    expect(refusal(() => parseTarget("waitMs.p95=2000", '"--target"'))).toMatch(/^"--target" must be FIGURE<VALUE.*received "waitMs.p95=2000"$/);
    expect(refusal(() => parseTarget("waitMs.p96<2000", '"--target"'))).toMatch(/"--target" names no figure of the report: "waitMs.p96".*received "waitMs.p96<2000"/);
    expect(refusal(() => parseTarget("byKind.asks.waitMs.p95<1", '"--target"', { kinds: ["ask", "code"] }))).toMatch(/names kind "asks", which the scenario does not have \(its kinds: ask, code\)/);
    expect(refusal(() => parseTarget("byPriority.urgent.waitMs.p95<1", "targets[2]"))).toMatch(/^targets\[2\] names priority "urgent"/);
    expect(refusal(() => parseTarget(42 as never, "targets[0]"))).toMatch(/received 42$/);
  });

  it("judges a run by its figure and a sweep row by its whole 95% interval", () => {
    const r = runReport();
    const [wait, success, missing] = evaluateRun(r, [parseTarget("waitMs.p95<20", "t"), parseTarget("successRate>=99%", "t"), parseTarget("byKind.ask.waitMs.p95<1", "t")]);
    expect(wait).toMatchObject({ actual: 10.4, passed: true });
    expect(success).toMatchObject({ passed: false });
    expect(missing).toMatchObject({ actual: null, passed: false });
    const t = parseTarget("waitMs.p95<100", "t");
    expect(evaluateEstimate({ n: 5, mean: 80, stddev: 5, ci95: [70, 90] }, t).passed).toBe(true);
    const unsure = evaluateEstimate({ n: 5, mean: 95, stddev: 5, ci95: [85, 105] }, t);
    expect(unsure).toMatchObject({ passed: false, unsure: true });
    expect(unsure.note).toMatch(/not shown with 95% confidence/);
    expect(evaluateEstimate({ n: 5, mean: 120, stddev: 5, ci95: [110, 130] }, t)).toMatchObject({ passed: false });
  });
});

describe("Erlang C", () => {
  it("gives the M/M/4 figures of the mmc example: P(wait) 0.596, Wq 0.745 s", () => {
    expect(erlangC(4, 3.2)).toBeCloseTo(0.5964, 3);
    const w = mmcWait(4, 3.2, 1_000);
    expect(w.meanMs).toBeCloseTo(745.5, 0);
    // P(Wq > t) = C e^{-(c-a) t / S}: the p95 is where that is 5%.
    expect(w.quantileMs(0.95)).toBeCloseTo((Math.log(0.5964 / 0.05) / 0.8) * 1_000, -1);
    expect(w.quantileMs(0.3)).toBe(0);
    expect(mmcWait(4, 4, 1_000).meanMs).toBe(Infinity);
  });
});
