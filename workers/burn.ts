/**
 * Built-in task `burn`: keeps one thread's CPU busy for `ms` milliseconds of wall time, checking
 * the clock every 256 iterations. The calibrated load for benchmarks and load tests.
 *
 * @module
 */
import type { TaskContext } from "./define.ts";

/** Input of the `burn` task. */
export interface BurnInput {
  /** Milliseconds of CPU to burn; 0 returns at once. */
  ms: number;
}

/** Burns CPU and returns the number of loop iterations done (a value the caller can check). */
export function burn(input: BurnInput, ctx?: TaskContext): number {
  const ms = input?.ms ?? 0;
  if (!(ms > 0)) return 0;
  const end = performance.now() + ms;
  let iterations = 0;
  let x = 0;
  for (;;) {
    for (let i = 0; i < 256; i++) x = (x * 1_103_515_245 + 12_345) | 0;
    iterations += 256;
    if (performance.now() >= end) break;
    if ((iterations & 0xffff) === 0 && ctx?.signal.aborted) throw ctx.signal.reason ?? new Error("aborted");
  }
  // Returning x keeps the loop from being optimised away.
  return iterations + (x & 0);
}
