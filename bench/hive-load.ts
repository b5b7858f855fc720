/**
 * The hive workload the `inspect` and `metrics` scopes share: an inline-backend hive running
 * batches of tiny `echo` tasks, so the orchestration (actors, bus, metrics, inspection) is what
 * is measured, not the task.
 *
 * @module
 */
import { createHive, type Hive, type HiveOptions } from "../src/hive/hive.ts";
import { opsPerSecond } from "./harness.ts";

/** Tasks per measured batch (submitted together, awaited together). */
export const HIVE_BATCH = 500;

/** A started inline hive with two agents; `extra` adds options (inspect, metrics). */
export async function benchHive(extra: Partial<HiveOptions> = {}): Promise<Hive> {
  const hive = createHive({ backend: "inline", agents: [{ id: "a", concurrency: 64 }, { id: "b", concurrency: 64 }], ...extra });
  await hive.start();
  return hive;
}

/**
 * Waits until the event loop is idle (a 5 ms timer fires within 2 ms of its time, twice in a
 * row; at most 3 s), so I/O the previous measurement left behind (relay sockets, trace writes)
 * is not charged to the next one.
 */
export async function quiesce(): Promise<void> {
  const end = performance.now() + 3_000;
  let calm = 0;
  while (calm < 2 && performance.now() < end) {
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 5));
    calm = performance.now() - t0 < 7 ? calm + 1 : 0;
  }
}

/** Tasks per second the hive completes, over at least `minMs` (after {@link quiesce}). */
export async function hiveOpsPerSecond(hive: Hive, minMs: number): Promise<number> {
  await quiesce();
  return opsPerSecond(
    async () => {
      const results: Promise<unknown>[] = [];
      for (let i = 0; i < HIVE_BATCH; i++) results.push(hive.run({ kind: "echo", input: i }));
      await Promise.all(results);
      // A macrotask turn per batch: work observers defer to timers (@statelyai/inspect sends
      // each event from a setTimeout 0) runs inside the measured window, charged to its side.
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
    HIVE_BATCH,
    { minMs },
  );
}
