/**
 * Built-in task `montecarlo`: a seeded Monte Carlo estimate of π (points in the unit quarter
 * circle), with its standard error. Reproducible for a given seed.
 *
 * @module
 */
import { createRandom } from "../src/core/random.ts";
import type { TaskContext } from "./define.ts";

/** Input of the `montecarlo` task. */
export interface MonteCarloInput {
  /** Number of random points. @default 1_000_000 */
  samples?: number;
  /** Generator seed. @default 1 */
  seed?: number;
}

/** Output of the `montecarlo` task. */
export interface MonteCarloReport {
  samples: number;
  estimate: number;
  /** Standard error of the estimate. */
  stdError: number;
}

/** Estimates π. Checks `ctx.signal` every 65,536 samples. */
export function montecarlo(input: MonteCarloInput = {}, ctx?: TaskContext): MonteCarloReport {
  const samples = Math.max(1, Math.floor(input.samples ?? 1_000_000));
  const rng = createRandom(input.seed ?? 1);
  let inside = 0;
  for (let i = 0; i < samples; i++) {
    if ((i & 0xffff) === 0 && ctx?.signal.aborted) throw ctx.signal.reason ?? new Error("aborted");
    const x = rng.next();
    const y = rng.next();
    if (x * x + y * y <= 1) inside++;
  }
  const p = inside / samples;
  return { samples, estimate: 4 * p, stdError: 4 * Math.sqrt((p * (1 - p)) / samples) };
}
