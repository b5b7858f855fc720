/**
 * Tiny benchmark harness: measures operations per second of an async or sync body, and pairs
 * apiary's figure with the raw library's figure measured in the same process.
 *
 * @module
 */

/** One line of a bench scope's report. `ratio` = apiary ÷ baseline, same process. */
export interface BenchResult {
  name: string;
  opsPerSec: number;
  baseline: string;
  baselineOpsPerSec: number;
  ratio: number;
  /** Free-form extra figures (latencies, sizes). */
  extra?: Record<string, number | string>;
}

/** A bench scope: runs its pairs and returns their results. */
export type BenchScope = (options: { quick: boolean }) => Promise<BenchResult[]>;

/**
 * Runs `body` (which performs `opsPerCall` operations) repeatedly for at least `minMs`
 * milliseconds after `warmupMs` of warm-up, and returns operations per second.
 */
export async function opsPerSecond(
  body: () => unknown,
  opsPerCall: number,
  { minMs = 1_000, warmupMs = 300 }: { minMs?: number; warmupMs?: number } = {},
): Promise<number> {
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) await body();
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    await body();
    ops += opsPerCall;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return (ops * 1_000) / elapsed;
}

/**
 * Measures apiary and the baseline alternately (`rounds` times each, best kept) so that drift
 * on a shared machine affects both alike, and returns the paired result.
 */
export async function compare(
  name: string,
  baseline: string,
  apiary: () => Promise<number>,
  raw: () => Promise<number>,
  rounds = 3,
): Promise<BenchResult> {
  let best = 0;
  let bestRaw = 0;
  for (let i = 0; i < rounds; i++) {
    bestRaw = Math.max(bestRaw, await raw());
    best = Math.max(best, await apiary());
  }
  return {
    name,
    opsPerSec: Math.round(best),
    baseline,
    baselineOpsPerSec: Math.round(bestRaw),
    ratio: Math.round((best / bestRaw) * 1_000) / 1_000,
  };
}
