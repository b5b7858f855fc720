/**
 * The worker-thread side of `sweep`: runs one replica — a whole virtual-time simulation — and
 * returns its figures. Loaded by Piscina (`dist/src/sim/sweep-worker.js` on Node without type
 * stripping, this file on Deno).
 *
 * @module
 */
import { type Figures, figuresOf } from "./figures.ts";
import type { Scenario } from "./scenario.ts";
import { simulate } from "./simulate.ts";

/** One replica to run. */
export interface ReplicaJob {
  scenario: Scenario;
  seed: number;
}

/** Runs one replica. */
export default async function runReplica(job: ReplicaJob): Promise<Figures> {
  return figuresOf(await simulate(job.scenario, { seed: job.seed }));
}
