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

/** Runs one replica. */
export default async function runReplica(job: ReplicaJob): Promise<ReplicaResult> {
  const report = await simulate(job.scenario, { seed: job.seed });
  return job.analyse === true && report.bottleneck !== undefined ? { figures: figuresOf(report), bottleneck: report.bottleneck } : { figures: figuresOf(report) };
}
