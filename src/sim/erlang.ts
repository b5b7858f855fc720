/**
 * Erlang C: the M/M/c queue (Poisson arrivals, exponential service, `c` servers), in closed
 * form. What the bottleneck analysis predicts with, and what the tests check `plan` against.
 *
 * @module
 */

/**
 * The probability that an arrival has to wait, for `c` servers offered `a` = λ/μ erlangs
 * (busy servers on average). 1 when `a >= c` (the queue grows without bound).
 */
export function erlangC(c: number, a: number): number {
  if (!(a > 0)) return 0;
  if (a >= c) return 1;
  // Erlang B by its stable recursion, then C from B.
  let b = 1;
  for (let k = 1; k <= c; k++) b = (a * b) / (k + a * b);
  return (c * b) / (c - a * (1 - b));
}

/** Waiting in an M/M/c queue. */
export interface MmcWait {
  /** Probability of waiting at all. */
  pWait: number;
  /** Mean wait, ms (Infinity when saturated). */
  meanMs: number;
  /** The `q`-quantile of the wait, ms (0 when at least a share `q` do not wait; Infinity when saturated). */
  quantileMs(q: number): number;
}

/**
 * Waiting for `c` servers with `ratePerSec` arrivals and a mean service of `serviceMs`:
 * P(wait > t) = C · e^(−(c − a) t / S).
 */
export function mmcWait(c: number, ratePerSec: number, serviceMs: number): MmcWait {
  const a = (ratePerSec * serviceMs) / 1_000;
  if (a >= c) return { pWait: 1, meanMs: Infinity, quantileMs: () => Infinity };
  const pWait = erlangC(c, a);
  const decay = (c - a) / serviceMs; // per ms
  return {
    pWait,
    meanMs: pWait / decay,
    quantileMs: (q) => (pWait <= 1 - q ? 0 : Math.log(pWait / (1 - q)) / decay),
  };
}
