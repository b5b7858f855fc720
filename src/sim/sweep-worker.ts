/**
 * The worker-thread side of `sweep` and `plan`: runs one replica — a whole virtual-time
 * simulation — and returns its figures (and, when asked, its bottleneck analysis). Loaded by
 * Piscina (`dist/src/sim/sweep-worker.js` on Node without type stripping, this file on Deno).
 *
 * @module
 */
import { type Figures, figuresOf } from "./figures.ts";
import type { Bottleneck } from "./report.ts";
import type { Scenario } from "./scenario.ts";
import { simulate } from "./simulate.ts";

/** One replica to run. */
export interface ReplicaJob {
  scenario: Scenario;
  seed: number;
  /** Return the run's bottleneck analysis too. */
  analyse?: boolean;
}

/** What a replica returns. */
export interface ReplicaResult {
  figures: Figures;
  bottleneck?: Bottleneck;
}

/**
 * Piscina loads this module with `require()` (Node's require of an ES module). For a module with a
 * default export, Node 20 then builds a facade module to add `__esModule`, and a thread terminated
 * while it does so aborts the whole process (a V8 fatal error, met once in a full test run: a pool
 * stopped while a fresh thread loaded this file). Exporting `__esModule` skips the facade.
 */
export const __esModule = true;

/** Runs one replica. */
export default async function runReplica(job: ReplicaJob): Promise<ReplicaResult> {
  const report = await simulate(job.scenario, { seed: job.seed });
  return job.analyse === true && report.bottleneck !== undefined ? { figures: figuresOf(report), bottleneck: report.bottleneck } : { figures: figuresOf(report) };
}
