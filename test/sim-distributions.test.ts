import { describe, expect, it } from "vitest";
import { createRandom } from "../src/core/random.ts";
import { VirtualClock } from "../src/sim/clock.ts";
import { createSampler, type Distribution, meanOf } from "../src/sim/distributions.ts";

function samples(d: Distribution, n: number, seed = 1): Float64Array {
  const draw = createSampler(d, createRandom(seed));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = draw();
  return out;
}

const mean = (xs: Float64Array): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("distributions", () => {
  // 200,000 samples: the standard error of the mean is under 0.25% of it for these shapes, so a
  // 1% tolerance is over four standard errors.
  const N = 200_000;

  it.each<[string, Distribution]>([
    ["exponential", { exponential: { meanMs: 250 } }],
    ["lognormal", { lognormal: { medianMs: 200, sigma: 0.5 } }],
    ["empirical", { empirical: [10, 20, 60, 110] }],
  ])("%s samples average to the distribution's mean within 1%%", (_name, d) => {
    expect(Math.abs(mean(samples(d, N)) / meanOf(d) - 1)).toBeLessThan(0.01);
  });

  it("a constant is always itself", () => {
    expect(new Set(samples({ constant: 42 }, 1_000))).toEqual(new Set([42]));
  });

  it("lognormal samples have the median asked for, and exponential ones the memoryless tail", () => {
    const ln = [...samples({ lognormal: { medianMs: 200, sigma: 0.5 } }, N)].sort((a, b) => a - b);
    expect(Math.abs(ln[N / 2]! / 200 - 1)).toBeLessThan(0.01);
    // P(X > 2m) = e^-2 for an exponential of mean m.
    const ex = samples({ exponential: { meanMs: 100 } }, N);
    expect(Math.abs(ex.filter((x) => x > 200).length / N - Math.exp(-2))).toBeLessThan(0.005);
  });

  it("empirical samples draw each listed value equally often", () => {
    const xs = samples({ empirical: [1, 2, 3, 4] }, N);
    for (const v of [1, 2, 3, 4]) expect(Math.abs(xs.filter((x) => x === v).length / N - 0.25)).toBeLessThan(0.005);
  });

  it("the same seed gives the same samples, another seed others", () => {
    const d: Distribution = { lognormal: { medianMs: 50, sigma: 1 } };
    expect(samples(d, 100, 7)).toEqual(samples(d, 100, 7));
    expect(samples(d, 100, 8)).not.toEqual(samples(d, 100, 7));
  });
});

describe("VirtualClock", () => {
  it("fires timers in time order, ties in the order they were set, and skips cleared ones", () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("c@30"), 30);
    clock.setTimeout(() => fired.push("a@10"), 10);
    const gone = clock.setTimeout(() => fired.push("never"), 20);
    clock.setTimeout(() => fired.push("b@10"), 10);
    clock.clearTimeout(gone);
    while (clock.fireNext() > 0) fired.push(`t=${clock.now()}`);
    expect(fired).toEqual(["a@10", "b@10", "t=10", "c@30", "t=30"]);
    expect(clock.pending).toBe(0);
    expect(clock.nextAt()).toBe(Infinity);
  });

  it("fires a timer set for the current instant on the next step, not inside the one that set it", () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(1);
      clock.setTimeout(() => fired.push(2), 0);
    }, 5);
    expect(clock.fireNext()).toBe(1);
    expect(fired).toEqual([1]);
    expect(clock.fireNext()).toBe(1);
    expect(fired).toEqual([1, 2]);
    expect(clock.now()).toBe(5);
  });

  it("with a resolution, timers fall due on the nearest multiple of it and fire together", () => {
    const clock = new VirtualClock(10);
    const fired: number[] = [];
    for (const ms of [12, 14, 16, 3]) clock.setTimeout(() => fired.push(ms), ms);
    expect(clock.fireNext()).toBe(1); // 3 → 0 (never before now)
    expect(clock.now()).toBe(0);
    expect(clock.fireNext()).toBe(2); // 12 and 14 → 10
    expect(clock.now()).toBe(10);
    expect(clock.fireNext()).toBe(1); // 16 → 20
    expect(fired).toEqual([3, 12, 14, 16]);
  });

  it("does not pass a limit: time stops there and the timer stays due", () => {
    const clock = new VirtualClock();
    clock.setTimeout(() => {}, 100);
    expect(clock.fireNext(40)).toBe(0);
    expect(clock.now()).toBe(40);
    expect(clock.fireNext()).toBe(1);
    expect(clock.now()).toBe(100);
  });

  it("keeps the heap small when most timers are cleared (re-armed timeouts)", () => {
    const clock = new VirtualClock();
    let live = 0;
    for (let i = 0; i < 10_000; i++) {
      const t = clock.setTimeout(() => live++, 1_000 + i);
      if (i % 10 !== 0) clock.clearTimeout(t);
    }
    expect(clock.pending).toBe(1_000);
    while (clock.fireNext() > 0);
    expect(live).toBe(1_000);
  });
});
