/**
 * The built-in workload of `apiary load` when no scenario is given: eight agents of mixed
 * capabilities and a seeded stream of real CPU tasks — mostly calibrated ~1 ms `burn`s, some
 * Monte Carlo estimates of π (~1–2.5 ms).
 *
 * @module
 */
import type { Priority } from "../../actors/types.ts";
import type { AgentOptions, HiveOptions, TaskOptions } from "../hive/hive.ts";
import { createRandom } from "../core/random.ts";

/** A load workload: the swarm, and a source of tasks (called once per task submitted). */
export interface LoadWorkload {
  /** Name in reports. */
  name: string;
  agents: AgentOptions[];
  /** The task handler module, when the tasks are not built-ins (see `HiveOptions.tasks`). */
  tasks?: URL | string;
  /** Hive policies (a scenario's): task defaults, queue, retry backoff, supervision, breakers. */
  hive?: Pick<HiveOptions, "defaults" | "queue" | "retry" | "supervision" | "breaker" | "allocation">;
  /** Returns the next task; the stream is seeded, so a seed gives the same sequence. */
  next(seed: number): () => TaskOptions;
}

/** Share of Monte Carlo tasks in the built-in mix; the rest are `burn`s. */
const MONTECARLO_SHARE = 0.1;

const PRIORITIES: [Priority, number][] = [["high", 0.1], ["normal", 0.8], ["low", 0.1]];

/** The built-in workload: burn specialists, Monte Carlo specialists and generalists. */
export const DEFAULT_LOAD_WORKLOAD: LoadWorkload = {
  name: "built-in: 8 agents, ~1 ms burn (90%) and Monte Carlo (10%)",
  agents: [
    { id: "burn-1", capabilities: { burn: 0.9 }, concurrency: 4 },
    { id: "burn-2", capabilities: { burn: 0.9 }, concurrency: 4 },
    { id: "burn-3", capabilities: { burn: 0.8, montecarlo: 0.2 }, concurrency: 4 },
    { id: "burn-4", capabilities: { burn: 0.7 }, concurrency: 2 },
    { id: "quant-1", capabilities: { montecarlo: 0.9, burn: 0.3 }, concurrency: 2 },
    { id: "quant-2", capabilities: { montecarlo: 0.8 }, concurrency: 2 },
    { id: "generalist-1", capabilities: { burn: 0.6, montecarlo: 0.6 }, concurrency: 2 },
    { id: "generalist-2", capabilities: { burn: 0.5, montecarlo: 0.5 }, concurrency: 2 },
  ],
  next(seed) {
    const rng = createRandom(seed);
    const priority = (): Priority => {
      let u = rng.next();
      for (const [p, w] of PRIORITIES) if ((u -= w) < 0) return p;
      return "normal";
    };
    return () => {
      if (rng.next() < MONTECARLO_SHARE) {
        return { kind: "montecarlo", requires: { montecarlo: 0.5 }, priority: priority(), input: { samples: 50_000 + Math.floor(rng.next() * 50_000), seed: Math.floor(rng.next() * 2 ** 31) } };
      }
      // 0.5 to 1.5 ms of CPU, 1 ms on average.
      return { kind: "burn", requires: { burn: 0.5 }, priority: priority(), input: { ms: Math.round((0.5 + rng.next()) * 100) / 100 } };
    };
  },
};
