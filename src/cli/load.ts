/**
 * `apiary load`: a live load test. For each in-flight level (10, 100, 1,000, 5,000 by default) a
 * fresh hive on real worker threads runs real CPU tasks closed-loop — exactly `level` tasks in
 * flight, a new one submitted as each ends — for a number of tasks or a duration, and a
 * recorder (`createRecorder`) turns what happened into a `RunReport`. Every accepted
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
import type { BackendName } from "../backends/registry.ts";
import { AbortedError, InvalidOptionsError, isApiaryError } from "../core/errors.ts";
import { createHive, type HiveOptions } from "../hive/hive.ts";
import { formatNumber } from "../sim/format.ts";
import { createRecorder } from "../sim/recorder.ts";
import type { LoadReport } from "../sim/report.ts";
import { successRate } from "../sim/totals.ts";
import { nonNegativeInt, parseFor, positiveInt } from "../core/validation.ts";
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
  /** Execution backend. @default "piscina" */
  backend?: BackendName | undefined;
  /** The hive's ready queue; bounding it makes the hive reject or shed past `maxQueued`. @default the workload's, else unbounded in practice (100000) */
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
  const checked = parseFor(schema, options, "run load test");
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
      inFlight,
      index,
      count: levels.length,
      tasksPerLevel,
      durationMs,
      warmupMs,
      seed,
      workload,
      sampleEveryMs: checked.sampleEveryMs ?? 100,
      threads: checked.threads,
      backend: options.backend,
      queue: options.queue,
      signal: options.signal,
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
  const policies = p.workload.hive ?? {};
  const queue = p.queue ?? policies.queue;
  const hive = createHive({
    ...policies,
    agents: p.workload.agents,
    ...(p.workload.tasks !== undefined ? { tasks: p.workload.tasks } : {}),
    seed: p.seed,
    defaults: { timeoutMs: 60_000, retries: 1, ...policies.defaults },
    ...(p.threads !== undefined ? { threads: p.threads } : {}),
    ...(p.backend !== undefined ? { backend: p.backend } : {}),
    ...(queue !== undefined ? { queue } : {}),
  });
  await hive.start(p.signal);
  try {
    const recorder = createRecorder(hive, { now: () => performance.now(), sampleEveryMs: p.sampleEveryMs, warmupMs: p.warmupMs, mode: "load", scenario: p.workload.name, seed: null });
    const next = p.workload.next(p.seed);
    const t0 = performance.now();
    let submitted = 0;
    let open = 0;
    let ended = 0;
    // While the level runs, open + vacant + owed = inFlight. `vacant`: slots to fill now.
    // `owed`: slots whose task the full queue turned away; each task that ends lets one of them
    // try again, so a full queue is probed at the rate tasks end, never in a spin.
    let vacant = p.inFlight;
    let owed = 0;
    let stopped = false;
    let scheduled = false;
    let lastReport = -Infinity;
    const label = `${formatNumber(p.inFlight)} in flight (${p.index + 1}/${p.count})`;
    const reportProgress = (): void => {
      if (p.progress === undefined) return;
      const now = performance.now();
      if (now - lastReport < 100) return;
      lastReport = now;
      const rate = (ended * 1_000) / Math.max(1, now - t0);
      const where = stopped ? `draining ${formatNumber(open)} still in flight` : `${formatNumber(ended)} done  ${formatNumber(rate)}/s`;
      p.progress(p.tasksPerLevel !== undefined ? ended : now - t0, `${label}  ${where}`);
    };
    const deadlineAt = p.durationMs === undefined ? Infinity : t0 + p.warmupMs + p.durationMs;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      recorder.endWindow();
    };
    const deadline = p.durationMs === undefined ? undefined : setTimeout(stop, deadlineAt - performance.now());
    // A backend that settles tasks in microtasks (inline) would let the loop run without ever
    // yielding, starving every timer (deadline, sampling, progress). The heartbeat says when the
    // event loop last turned; past 50 ms the refill waits for the next turn.
    let beat = performance.now();
    const heartbeat = setInterval(() => void (beat = performance.now()), 10);
    const onAbort = (): void => void hive.stop();
    p.signal?.addEventListener("abort", onAbort, { once: true });
    const more = (): boolean => {
      if (performance.now() >= deadlineAt) stop();
      return !stopped && p.signal?.aborted !== true && (p.tasksPerLevel === undefined || submitted < p.tasksPerLevel);
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const refill = (): void => {
          scheduled = false;
          if (open === 0 && vacant === 0 && owed > 0) {
            owed--;
            vacant++;
          }
          for (; vacant > 0; vacant--) {
            if (!more()) {
              vacant = owed = 0;
              break;
            }
            submitted++;
            open++;
            try {
              hive.submit(next()).result.then(() => settle(), settle);
            } catch (error) {
              // The workload built a task the hive refuses (INVALID_TASK): a bug to report, not load.
              reject(error);
              return;
            }
          }
          if (open === 0 && !scheduled) resolve();
        };
        const refillSoon = (): void => {
          const starved = performance.now() - beat > 50;
          // Nothing running whose end would make room for an owed slot: retry on the next turn.
          const waiting = open === 0 && vacant === 0 && owed > 0;
          if (!starved && !waiting) return refill();
          if (!scheduled) {
            scheduled = true;
            setImmediate(refill);
          }
        };
        const settle = (error?: unknown): void => {
          open--;
          ended++;
          reportProgress();
          if (isApiaryError(error) && error.code === "QUEUE_FULL") {
            owed++;
          } else {
            vacant++;
            if (owed > 0) {
              owed--;
              vacant++;
            }
          }
          refillSoon();
        };
        refill();
      });
    } finally {
      p.signal?.removeEventListener("abort", onAbort);
      clearTimeout(deadline);
      clearInterval(heartbeat);
    }
    if (p.signal?.aborted === true) throw new AbortedError(`Load test aborted at the ${p.inFlight}-in-flight level`, { cause: p.signal.reason });
    await hive.drain();
    // Events reach the recorder through the bus, a microtask after the results: let them land.
    for (let turn = 0; recorder.pending > 0 && turn < 1_000; turn++) await nextTurn();
    const stats = hive.stats();
    const all = stats.tasks;
    const level = recorder.finish({
      inFlight: p.inFlight,
      closedLoop: true,
      threads: stats.pool.threads,
      backend: stats.backend,
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
