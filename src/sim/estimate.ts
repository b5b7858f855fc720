/**
 * Means and 95% confidence intervals over replicas (Student's t, two-sided).
 *
 * @module
 */
import type { Estimate } from "./report.ts";

// t(0.975, df) for df = 1 … 30.
const T975 = [
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

/** The 97.5% quantile of Student's t with `df` degrees of freedom (a table to 30, then the Cornish–Fisher expansion). */
export function tQuantile975(df: number): number {
  if (!(df >= 1)) return Number.NaN;
  if (df <= 30) return T975[Math.floor(df) - 1]!;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df);
}

/** Mean, sample standard deviation and 95% CI of `values`; one value gives a zero-width interval. */
export function estimate(values: readonly number[]): Estimate {
  const n = values.length;
  if (n === 0) return { n: 0, mean: Number.NaN, stddev: Number.NaN, ci95: [Number.NaN, Number.NaN] };
  let mean = 0;
  for (const v of values) mean += v;
  mean /= n;
  if (n === 1) return { n, mean, stddev: 0, ci95: [mean, mean] };
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  const stddev = Math.sqrt(ss / (n - 1));
  const half = (tQuantile975(n - 1) * stddev) / Math.sqrt(n);
  return { n, mean, stddev, ci95: [mean - half, mean + half] };
}
