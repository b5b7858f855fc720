/**
 * A steady demo workload for the long-running commands (`apiary serve`, `apiary inspect`):
 * keeps a few of the demo's tasks in flight on a hive until told to stop.
 *
 * @module
 */
import type { Hive } from "../hive/hive.ts";
import { demoTasks } from "./demo.ts";

/** Options of {@link runDemoLoad}. */
export interface DemoLoadOptions {
  /** Seed of the task mix. */
  seed: number;
  /** Tasks kept in flight. @default 4 */
  inFlight?: number;
  /** Stops submitting when aborted; the promise resolves once the tasks in flight ended. */
  signal: AbortSignal;
}

/**
 * Submits demo tasks, `inFlight` at a time, until `signal` aborts.
 * @returns how many tasks ended (completed or not).
 */
export async function runDemoLoad(hive: Hive, options: DemoLoadOptions): Promise<number> {
  const { signal, seed } = options;
  const inFlight = options.inFlight ?? 4;
  // one batch of the seeded mix, cycled; energy and Monte Carlo tasks of a few ms to a few hundred.
  const tasks = demoTasks(64, seed);
  let next = 0;
  let ended = 0;
  const lane = async (): Promise<void> => {
    while (!signal.aborted) {
      const task = tasks[next++ % tasks.length]!;
      await hive.run(task).catch(() => {});
      ended++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return ended;
}
