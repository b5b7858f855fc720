/**
 * Seeded samplers for the duration distributions a scenario names. Each draws from a
 * {@link Random} (sfc32), so a seed reproduces every sample.
 *
 * @module
 */
import type { Random } from "../core/random.ts";

/**
 * A distribution of durations in ms, written as an object with one key:
 *
 * - `{ constant: 250 }` — always 250 ms;
 * - `{ exponential: { meanMs: 250 } }` — memoryless, mean 250 ms (M in queueing notation);
 * - `{ lognormal: { medianMs: 200, sigma: 0.5 } }` — `medianMs · e^(sigma·Z)`, Z standard normal
 *   (mean `medianMs · e^(sigma²/2)`); the usual shape of service times with a long tail;
 * - `{ empirical: [120, 180, 950] }` — one of the listed values, each equally likely (resampling
 *   measured durations).
 */
export type Distribution =
  | { constant: number }
  | { exponential: { meanMs: number } }
  | { lognormal: { medianMs: number; sigma: number } }
  | { empirical: number[] };

/** Draws one value (ms) per call. */
export type Sampler = () => number;

/**
 * A sampler of `distribution` drawing from `random`.
 *
 * @example
 * ```ts
 * const draw = createSampler({ exponential: { meanMs: 100 } }, createRandom(1));
 * draw(); // e.g. 37.2
 * ```
 */
export function createSampler(distribution: Distribution, random: Random): Sampler {
  if ("constant" in distribution) {
    const value = distribution.constant;
    return () => value;
  }
  if ("exponential" in distribution) {
    const mean = distribution.exponential.meanMs;
    // 1 - u is in (0, 1]: the logarithm is finite.
    return () => -mean * Math.log(1 - random.next());
  }
  if ("lognormal" in distribution) {
    const { medianMs, sigma } = distribution.lognormal;
    const normal = createNormal(random);
    return () => medianMs * Math.exp(sigma * normal());
  }
  const values = distribution.empirical;
  const n = values.length;
  return () => values[Math.floor(random.next() * n)]!;
}

/** A standard normal sampler (Box–Muller; the second value of each pair is kept for the next call). */
export function createNormal(random: Random): () => number {
  let spare = Number.NaN;
  return () => {
    if (!Number.isNaN(spare)) {
      const z = spare;
      spare = Number.NaN;
      return z;
    }
    const u = 1 - random.next(); // (0, 1]
    const v = random.next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** The mean of `distribution`, ms (what its samples average to). */
export function meanOf(distribution: Distribution): number {
  if ("constant" in distribution) return distribution.constant;
  if ("exponential" in distribution) return distribution.exponential.meanMs;
  if ("lognormal" in distribution) return distribution.lognormal.medianMs * Math.exp((distribution.lognormal.sigma ** 2) / 2);
  const values = distribution.empirical;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Draws from `random` with probability `p` of true. */
export function bernoulli(random: Random, p: number): boolean {
  return p > 0 && random.next() < p;
}

/** An exponential inter-arrival sampler for a Poisson process of `ratePerSec`, in ms. */
export function poissonGaps(random: Random, ratePerSec: number): Sampler {
  const meanMs = 1_000 / ratePerSec;
  return () => -meanMs * Math.log(1 - random.next());
}
