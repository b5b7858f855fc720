/**
 * `apiary load`: a live load test. For each in-flight level (10, 100, 1,000, 5,000 by default) a
 * fresh hive on real worker threads runs real CPU tasks closed-loop — exactly `level` tasks in
 * flight, a new one submitted as each ends — for a number of tasks or a duration, and a
 * {@link createRecorder recorder} turns what happened into a {@link RunReport}. Every accepted
 * task is followed to its end, so each level's counts reconcile: nothing is lost, and anything
 * shed or rejected is counted as such.
 *
 * Measurement: with `tasksPerLevel`, every task of the level counts and throughput covers the
 * whole level, its drain included. With `durationMs`, the window runs from the warm-up's end to
 * the deadline (throughput is the steady state's); tasks still in flight then are followed to
 * their end for the counts and latency.
 *
 * @module
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { z } from "zod";
import type { BackendName } from "../backends/types.ts";
import { AbortedError, InvalidOptionsError, isApiaryError } from "../errors.ts";
import { createHive, type HiveOptions } from "../hive.ts";
import { createRecorder } from "../sim/recorder.ts";
import type { LoadReport } from "../sim/report.ts";
import { formatNumber } from "../sim/format.ts";
import { successRate } from "../sim/totals.ts";
import { nonNegativeInt, parseFor, positiveInt } from "../validation.ts";
import { DEFAULT_LOAD_WORKLOAD, type LoadWorkload } from "./load-workload.ts";

/** The in-flight levels of a default run. */
export const DEFAULT_LEVELS: readonly number[] = [10, 100, 1_000, 5_000];
/** Measured time per level of a default run, ms (plus warm-up and drain). */
export const DEFAULT_DURATION_MS = 6_000;

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Tasks kept in flight, one run per level. @default [10, 100, 1000, 5000] */
  levels?: readonly number[] | undefined;
  /** Tasks submitted per level. Give this or `durationMs`. */
  tasksPerLevel?: number | undefined;
  /** Measured time per level after the warm-up, ms. @default 6000 when `tasksPerLevel` is not given */
  durationMs?: number | undefined;
  /** Time at the start of each level left out of the figures, ms. @default 1000 with `durationMs` (at most a fifth of it), 0 with `tasksPerLevel` */
  warmupMs?: number | undefined;
  /** Interval between series points, ms. @default 100 */
  sampleEveryMs?: number | undefined;
  /** Worker threads. @default the number of CPUs */
  threads?: number | undefined;
  /** Execution backend. @default "piscina" on Node, "comlink" on Deno */
  backend?: BackendName | undefined;
  /** The hive's ready queue; bounding it makes the hive reject or shed past `maxQueued`. @default unbounded in practice (100000) */
  queue?: HiveOptions["queue"] | undefined;
  /** Seed of the task stream and the hive's tie-breaks. @default 42 */
  seed?: number | undefined;
  /** The swarm and its tasks. @default the built-in workload */
  workload?: LoadWorkload | undefined;
  /** Called as work progresses: `done` of `total` units (tasks, or ms of the levels' time), and a line on where it stands. */
  onProgress?: ((done: number, total: number, detail: string) => void) | undefined;
  /** Stops the test: the level running ends early and {@link runLoad} rejects with ABORTED. */
  signal?: AbortSignal | undefined;
}

const schema = z.object({
  levels: z.array(positiveInt(), { error: "must be an array of positive integers" }).min(1, { error: "must name at least one level" }).optional(),
  tasksPerLevel: positiveInt().optional(),
  durationMs: positiveInt().optional(),
  warmupMs: nonNegativeInt().optional(),
  sampleEveryMs: positiveInt().optional(),
  threads: positiveInt().optional(),
  seed: nonNegativeInt().optional(),
});

/**
 * Runs the load test and returns one run report per level.
 *
 * @throws {InvalidOptionsError} when an option is invalid (the message names it and the value), or both `tasksPerLevel` and `durationMs` are given
 * @throws {AbortedError} when `signal` aborts
 *
 * @example
 * ```ts
 * const report = await runLoad({ levels: [10, 100], tasksPerLevel: 500 });
 * for (const l of report.levels) console.log(l.inFlight, l.throughputPerSec, l.latencyMs.p99, l.successRate);
 * ```
 */
export async function runLoad(options: LoadOptions = {}): Promise<LoadReport> {
  const checked = parseFor(schema, stripUndefined(options), "run load test");
  if (checked.tasksPerLevel !== undefined && checked.durationMs !== undefined) {
    throw new InvalidOptionsError(`Cannot run load test: "durationMs" must not be given together with "tasksPerLevel" (${checked.tasksPerLevel}), received ${checked.durationMs}`);
  }
  const levels = checked.levels ?? DEFAULT_LEVELS;
  const tasksPerLevel = checked.tasksPerLevel;
  const durationMs = tasksPerLevel === undefined ? (checked.durationMs ?? DEFAULT_DURATION_MS) : undefined;
  const warmupMs = checked.warmupMs ?? (durationMs === undefined ? 0 : Math.min(1_000, Math.floor(durationMs / 5)));
  const workload = options.workload ?? DEFAULT_LOAD_WORKLOAD;
  const seed = checked.seed ?? 42;
  const perLevel = tasksPerLevel ?? warmupMs + durationMs!;
  const total = perLevel * levels.length;
  const out: LoadReport["levels"] = [];
  for (const [index, inFlight] of levels.entries()) {
    const report = await runLevel({
      inFlight, index, count: levels.length, tasksPerLevel, durationMs, warmupMs, seed, workload,
      sampleEveryMs: checked.sampleEveryMs ?? 100, threads: checked.threads, backend: options.backend, queue: options.queue, signal: options.signal,
      progress: options.onProgress === undefined ? undefined : (done, detail) => options.onProgress!(index * perLevel + Math.min(done, perLevel), total, detail),
    });
    out.push(report);
  }
  return { mode: "load", scenario: workload.name, levels: out };
}

interface LevelPlan {
  inFlight: number;
  index: number;
  count: number;
  tasksPerLevel: number | undefined;
  durationMs: number | undefined;
  warmupMs: number;
  sampleEveryMs: number;
  seed: number;
  workload: LoadWorkload;
  threads: number | undefined;
  backend: BackendName | undefined;
  queue: HiveOptions["queue"] | undefined;
  signal: AbortSignal | undefined;
  /** `done`: tasks ended (tasks mode) or ms elapsed (duration mode). */
  progress: ((done: number, detail: string) => void) | undefined;
}

async function runLevel(p: LevelPlan): Promise<LoadReport["levels"][number]> {
  const hive = createHive({
    agents: p.workload.agents,
    seed: p.seed,
    defaults: { timeoutMs: 60_000, retries: 1 },
    ...(p.threads !== undefined ? { threads: p.threads } : {}),
    ...(p.backend !== undefined ? { backend: p.backend } : {}),
    ...(p.queue !== undefined ? { queue: p.queue } : {}),
  });
  await hive.start(p.signal);
  try {
    const recorder = createRecorder(hive, { now: () => performance.now(), sampleEveryMs: p.sampleEveryMs, warmupMs: p.warmupMs, mode: "load", scenario: p.workload.name, seed: null });
    const next = p.workload.tasks(p.seed);
    const t0 = performance.now();
    let submitted = 0;
    let open = 0;
    let ended = 0;
    // Slots whose task the full queue turned away. Each task that ends submits its replacement
    // and retries one of these, so a full queue is probed at the rate tasks end, never in a spin.
    let owed = 0;
    let stopped = false;
    let lastReport = -Infinity;
    const label = `${formatNumber(p.inFlight)} in flight (${p.index + 1}/${p.count})`;
    const report = (): void => {
      if (p.progress === undefined) return;
      const now = performance.now();
      if (now - lastReport < 100) return;
      lastReport = now;
      const rate = (ended * 1_000) / Math.max(1, now - t0);
      const where = stopped ? `draining ${formatNumber(open)} still in flight` : `${formatNumber(ended)} done  ${formatNumber(rate)}/s`;
      p.progress(p.tasksPerLevel !== undefined ? ended : now - t0, `${label}  ${where}`);
    };
    const deadline = p.durationMs === undefined ? undefined : setTimeout(() => {
      stopped = true;
      recorder.endWindow();
    }, p.warmupMs + p.durationMs);
    const onAbort = (): void => void hive.stop();
    p.signal?.addEventListener("abort", onAbort, { once: true });
    const more = (): boolean => !stopped && p.signal?.aborted !== true && (p.tasksPerLevel === undefined || submitted < p.tasksPerLevel);
    try {
      await new Promise<void>((resolve, reject) => {
        const submit = (): void => {
          submitted++;
          open++;
          try {
            hive.submit(next()).result.then(() => settle(), settle);
          } catch (error) {
            // The workload built a task the hive refuses (INVALID_TASK): a bug to report, not load.
            reject(error);
          }
        };
        const retryOwed = (): void => {
          if (owed > 0 && more()) {
            owed--;
            submit();
          }
        };
        const settle = (error?: unknown): void => {
          open--;
          ended++;
          report();
          if (isApiaryError(error) && error.code === "QUEUE_FULL") {
            owed++;
            // Nothing left running whose end would make room: try again on the next turn.
            if (open === 0) setImmediate(() => (retryOwed(), open === 0 && resolve()));
          } else {
            if (more()) submit();
            retryOwed();
          }
          if (open === 0 && !(owed > 0 && more())) resolve();
        };
        for (let i = 0; i < p.inFlight && more(); i++) submit();
        if (open === 0) resolve();
      });
    } finally {
      p.signal?.removeEventListener("abort", onAbort);
    }
    clearTimeout(deadline);
    if (p.signal?.aborted === true) throw new AbortedError(`Load test aborted at the ${p.inFlight}-in-flight level`, { cause: p.signal.reason });
    await hive.drain();
    // Events reach the recorder through the bus, a microtask after the results: let them land.
    for (let turn = 0; recorder.pending > 0 && turn < 1_000; turn++) await nextTurn();
    const all = hive.stats().tasks;
    const level = recorder.finish({
      inFlight: p.inFlight,
      closedLoop: true,
      threads: hive.stats().pool.threads,
      backend: hive.stats().backend,
      workloadSeed: p.seed,
      // Every task of the level, warm-up included, straight from the hive's own counts.
      allSubmitted: submitted,
      allAccepted: all.accepted,
      allCompleted: all.completed,
      allUnfinished: all.queued + all.running,
    });
    p.progress?.(p.tasksPerLevel ?? p.warmupMs + (p.durationMs ?? 0), `${label}  done`);
    return { ...level, inFlight: p.inFlight, successRate: successRate(level.tasks) };
  } finally {
    await hive.stop();
  }
}

function stripUndefined(o: LoadOptions): Record<string, unknown> {
  const { levels, tasksPerLevel, durationMs, warmupMs, sampleEveryMs, threads, seed } = o;
  return Object.fromEntries(Object.entries({ levels, tasksPerLevel, durationMs, warmupMs, sampleEveryMs, threads, seed }).filter(([, v]) => v !== undefined));
}
