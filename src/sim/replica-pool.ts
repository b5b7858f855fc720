/**
 * The worker pool that runs simulation replicas, one whole simulation per job: what `sweep`
 * and `plan` share. Piscina is imported when a pool is made, so importing the package loads no
 * worker pool library.
 *
 * @module
 */
import { isDeno } from "../backends/worker-file.ts";
import { SIM_YOUNG_GENERATION_MB } from "./gc.ts";
import type { Scenario } from "./scenario.ts";
import type { ReplicaJob, ReplicaResult } from "./sweep-worker.ts";

/** A pool of threads running replicas. */
export interface ReplicaPool {
  /** Runs one replica of `scenario` with `seed`; `analyse` also returns its bottleneck analysis. */
  run(scenario: Scenario, seed: number, options?: { signal?: AbortSignal | undefined; analyse?: boolean }): Promise<ReplicaResult>;
  /** Stops the threads. */
  destroy(): Promise<void>;
}

/** The replica worker module: the build on a Node that cannot strip types, else the source. */
function workerUrl(): URL {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new URL("./sweep-worker.js", here);
  const strips = isDeno || Boolean((globalThis as { process?: { features?: { typescript?: unknown } } }).process?.features?.typescript);
  return strips ? new URL("./sweep-worker.ts", here) : new URL("../../dist/src/sim/sweep-worker.js", here);
}

/** Starts a pool of `threads` replica threads. */
export async function createReplicaPool(threads: number): Promise<ReplicaPool> {
  const { Piscina } = await import("piscina");
  // A young generation sized for simulations (see gc.ts): replicas allocate fast and scale
  // worse over threads when the collector's helpers compete with them.
  const pool = new Piscina<ReplicaJob, ReplicaResult>({
    filename: workerUrl().href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 1_000,
    resourceLimits: { maxYoungGenerationSizeMb: SIM_YOUNG_GENERATION_MB },
  });
  return {
    run: (scenario, seed, options = {}) =>
      pool.run({ scenario, seed, ...(options.analyse === true ? { analyse: true } : {}) } satisfies ReplicaJob, options.signal !== undefined ? { signal: options.signal } : {}),
    destroy: () => pool.destroy(),
  };
}
