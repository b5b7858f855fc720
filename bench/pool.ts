/**
 * Bench scope `pool`: the hive on the Piscina backend against raw Piscina with the same thread
 * count and the same work, measured alternately in one process. Trivial tasks with 1,000 in
 * flight, and ~1 ms CPU tasks.
 *
 * @module
 */
import { Piscina } from "piscina";
import { createHive } from "../src/index.ts";
import { type BenchResult, type BenchScope, compare } from "./harness.ts";

const THREADS = 2;

/** Keeps `inFlight` calls outstanding until `total` have finished; returns calls per second. */
export async function closedLoop(call: () => Promise<unknown>, inFlight: number, total: number): Promise<number> {
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (started >= total) return;
      started++;
      call().then(() => {
        done++;
        if (done === total) resolve();
        else next();
      }, reject);
    };
    for (let i = 0; i < inFlight; i++) next();
  });
  return (total * 1_000) / (performance.now() - t0);
}

const pool: BenchScope = async ({ quick }) => {
  const raw = new Piscina({ filename: new URL("./raw-worker.js", import.meta.url).href, minThreads: THREADS, maxThreads: THREADS });
  const hive = createHive({
    backend: "piscina",
    threads: THREADS,
    agents: [
      { id: "a", concurrency: 600 },
      { id: "b", concurrency: 600 },
    ],
  });
  await hive.start();
  const results: BenchResult[] = [];
  try {
    const trivialTotal = quick ? 5_000 : 30_000;
    results.push(
      await compare(
        "trivial tasks, 1,000 in flight",
        "raw piscina",
        () => closedLoop(() => hive.run({ kind: "echo", input: 1 }), 1_000, trivialTotal),
        () => closedLoop(() => raw.run({ kind: "echo", input: 1 }), 1_000, trivialTotal),
        quick ? 1 : 3,
      ),
    );
    const cpuTotal = quick ? 300 : 2_000;
    results.push(
      await compare(
        "~1 ms CPU tasks, 64 in flight",
        "raw piscina",
        () => closedLoop(() => hive.run({ kind: "burn", input: { ms: 1 } }), 64, cpuTotal),
        () => closedLoop(() => raw.run({ kind: "burn", input: { ms: 1 } }), 64, cpuTotal),
        quick ? 1 : 3,
      ),
    );
  } finally {
    await hive.stop();
    await raw.destroy();
  }
  return results;
};

export default pool;
