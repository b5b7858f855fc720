/**
 * Bench scope `durability`: the full path (inline backend, trivial tasks, 1,000 in flight) with a
 * file journal at each durability level, against the same hive with `durability: "none"` in the
 * same run. Each level gets a fresh folder; every group write is fsynced, so the figure depends
 * on the disk: `every-task` holds dispatch and results until their records are on disk, and group
 * commit is what keeps it from paying one fsync per task.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHive, type Hive, type HiveOptions } from "../src/index.ts";
import { type BenchScope, compare } from "./harness.ts";
import { closedLoop } from "./pool.ts";

async function started(options: Partial<HiveOptions>): Promise<Hive> {
  const hive = createHive({ backend: "inline", agents: [{ id: "a", concurrency: 600 }, { id: "b", concurrency: 600 }], metrics: false, ...options });
  await hive.start();
  return hive;
}

/** Tasks/s of `total` echo tasks at 1,000 in flight, until `drain()` (which, with a journal, waits for the last write). */
async function loop(hive: Hive, total: number, next: () => number): Promise<number> {
  const t0 = performance.now();
  await closedLoop(() => hive.run({ kind: "echo", input: next() }), 1_000, total);
  await hive.drain();
  return (total * 1_000) / (performance.now() - t0);
}

const durability: BenchScope = async ({ quick }) => {
  const total = quick ? 5_000 : 30_000;
  const rounds = quick ? 1 : 3;
  const dirs: string[] = [];
  const hives: Hive[] = [];
  try {
    const none = await started({});
    hives.push(none);
    const results = [];
    for (const level of ["batched", "every-task"] as const) {
      const dir = mkdtempSync(join(tmpdir(), "apiary-bench-journal-"));
      dirs.push(dir);
      const journaled = await started({ store: { dir }, durability: level });
      hives.push(journaled);
      let n = 0;
      results.push(
        await compare(
          `durability ${level}, file journal, 1,000 in flight`,
          'durability "none"',
          () => loop(journaled, total, () => n++),
          () => loop(none, total, () => n++),
          rounds,
        ),
      );
      await journaled.stop();
      const stats = journaled.stats().journal!;
      results.at(-1)!.extra = { records: stats.written, groupWrites: stats.writes, recordsPerWrite: Math.round(stats.written / Math.max(1, stats.writes)), compactions: stats.compactions };
    }
    // The same on real threads with ~1 ms CPU tasks (64 in flight): what a journal costs when
    // the tasks do work.
    const cpuTotal = quick ? 500 : 2_000;
    const cpuNone = await started({ backend: "piscina", threads: 2 });
    hives.push(cpuNone);
    const dir = mkdtempSync(join(tmpdir(), "apiary-bench-journal-"));
    dirs.push(dir);
    const cpuJournaled = await started({ backend: "piscina", threads: 2, store: { dir }, durability: "every-task" });
    hives.push(cpuJournaled);
    const burn = async (hive: Hive): Promise<number> => {
      const t0 = performance.now();
      await closedLoop(() => hive.run({ kind: "burn", input: { ms: 1 } }), 64, cpuTotal);
      await hive.drain();
      return (cpuTotal * 1_000) / (performance.now() - t0);
    };
    results.push(await compare("durability every-task, ~1 ms CPU tasks on Piscina, 64 in flight", 'durability "none"', () => burn(cpuJournaled), () => burn(cpuNone), rounds));
    return results;
  } finally {
    await Promise.all(hives.map((h) => h.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
};

export default durability;
