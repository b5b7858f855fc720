/**
 * Bench scope `load`: the closed loop of `apiary load` — the built-in workload (90% ~1 ms burns,
 * 10% Monte Carlo) at 10, 100, 1,000 and 5,000 tasks in flight — on the hive (its eight agents,
 * Piscina backend) against raw Piscina running the same task stream with the same threads,
 * measured alternately in one process. The ratio is what the orchestration costs (or saves) at
 * each depth.
 *
 * @module
 */
import { Piscina } from "piscina";
import { DEFAULT_LOAD_WORKLOAD } from "../src/cli/load-workload.ts";
import { createHive } from "../src/index.ts";
import { type BenchResult, type BenchScope, compare } from "./harness.ts";
import { closedLoop } from "./pool.ts";

const THREADS = 2;
const LEVELS = [10, 100, 1_000, 5_000];

const load: BenchScope = async ({ quick }) => {
  const raw = new Piscina({ filename: new URL("./raw-worker.js", import.meta.url).href, minThreads: THREADS, maxThreads: THREADS });
  const results: BenchResult[] = [];
  try {
    for (const level of LEVELS) {
      const total = quick ? Math.max(500, level) : Math.max(3_000, 2 * level);
      const hive = createHive({ backend: "piscina", threads: THREADS, agents: DEFAULT_LOAD_WORKLOAD.agents, seed: 42 });
      await hive.start();
      try {
        // Both sides draw the same seeded stream, started afresh for each measurement.
        results.push(
          await compare(
            `built-in load mix, ${level.toLocaleString("en")} in flight`,
            "raw piscina",
            () => {
              const next = DEFAULT_LOAD_WORKLOAD.next(42);
              return closedLoop(() => hive.run(next()), level, total);
            },
            () => {
              const next = DEFAULT_LOAD_WORKLOAD.next(42);
              return closedLoop(
                () => {
                  const t = next();
                  return raw.run({ kind: t.kind, input: t.input });
                },
                level,
                total,
              );
            },
            quick ? 1 : 2,
          ),
        );
      } finally {
        await hive.stop();
      }
    }
  } finally {
    await raw.destroy();
  }
  return results;
};

export default load;
