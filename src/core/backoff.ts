/**
 * The one backoff rule, shared by task retries, agent restarts and the bus's redeliveries:
 * exponential from `minMs` to `maxMs`, scaled by a seeded factor in [1 − jitter, 1 + jitter].
 *
 * @module
 */

/** An exponential backoff with jitter. */
export interface Backoff {
  /** Delay at level 0, ms. */
  minMs: number;
  /** Upper bound of the delay before jitter, ms. */
  maxMs: number;
  /** Relative jitter in [0, 1]: 0.2 draws the delay from ±20 % of the base. */
  jitter: number;
}

/**
 * Delay at backoff `level` (0 for the first): min(maxMs, minMs · 2^level), scaled by
 * `1 + jitter · (2·draw − 1)` and rounded to a whole ms.
 *
 * @param draw A uniform draw in [0, 1) (from the caller's seeded random), 0.5 for no jitter.
 */
export function backoffMs(backoff: Backoff, level: number, draw: number): number {
  const base = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.max(0, level));
  return Math.max(0, Math.round(base * (1 + backoff.jitter * (2 * draw - 1))));
}
