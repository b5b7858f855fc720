/**
 * `simulate(scenario, { seed })`: runs a scenario on a real hive — the same Queen, Supervisor,
 * Agent and Worker machines as a live one — with the `simulated` backend on a
 * {@link VirtualClock}, and returns its {@link RunReport}. Nothing waits on wall time: the driver
 * lets everything due at one instant run (timers, then the hive's microtask chains), then jumps
 * to the next due timer. The same scenario and seed give a byte-identical report (`wallMs`
 * aside).
 *
 * @module
 */
import { z } from "zod";
import { AbortedError, isApiaryError } from "../core/errors.ts";
import { createHive, type Hive, type HiveOptions, type ScheduleSpec, submitTrusted, type TaskHandle, type TaskOptions, type TrustedTask } from "../hive/hive.ts";
import { createRandom } from "../core/random.ts";
import { parseFor } from "../core/validation.ts";
import { createArrivals } from "./arrivals.ts";
import { analyseBottleneck } from "./bottleneck.ts";
import { VirtualClock } from "./clock.ts";
import { meanOf, poissonGaps } from "./distributions.ts";
import { createRecorder, type RecorderOptions } from "./recorder.ts";
import type { FaultWindow, RunReport } from "./report.ts";
import { agentIds, parseScenario, type Scenario, type ScenarioInput } from "./scenario.ts";
import { SimulatedBackend, type SimulatedBackendOptions } from "./simulated-backend.ts";
import { createTaskMaker } from "./workload.ts";

/** Options of {@link simulate}. */
export interface SimulateOptions {
  /** Seed of every random draw (durations, arrivals, faults, tie-breaks). @default the scenario's `seed`, else 1 */
  seed?: number;
  /** Aborting it stops the run; `simulate` rejects with `ABORTED`. */
  signal?: AbortSignal;
  /**
   * Called now and then (at most every 50 ms of wall time) with how far the run is: virtual ms
   * of `warmupMs + durationMs`, or tasks ended of `run.tasks`.
   */
  onProgress?: (done: number, total: number) => void;
}

const optionsSchema = z.strictObject({
  seed: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).optional(),
  signal: z.custom<AbortSignal>((v) => typeof v === "object" && v !== null && typeof (v as AbortSignal).aborted === "boolean", { error: "must be an AbortSignal" }).optional(),
  onProgress: z.custom<(done: number, total: number) => void>((v) => typeof v === "function", { error: "must be a function" }).optional(),
});

/** Independent random streams per concern, so adding faults does not reshuffle the arrivals. */
const STREAM = { backend: 1, tasks: 2, arrivals: 3, faults: 4 } as const;

function streamSeed(seed: number, stream: number): number {
  return (seed ^ Math.imul(stream, 0x9e3779b9)) >>> 0;
}

/**
 * Microtask turns without a sign of activity before an instant counts as settled. The hive's own
 * chains are one turn deep (a batch of submits, a port's batch of outcomes; the recorder hears of
 * events as they are published); callers' promise chains — a closed loop waiting on results, the
 * result cache — take a few more.
 */
const QUIET_TURNS = { hive: 1, callers: 4 } as const;

/** Steps at one virtual instant before the run is declared stuck. */
const MAX_STEPS_AT_ONE_INSTANT = 1_000_000;

const yieldToHost: () => Promise<void> = typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
  ? () => new Promise((resolve) => (globalThis as unknown as { setImmediate: (fn: () => void) => void }).setImmediate(resolve))
  : () => new Promise((resolve) => setTimeout(resolve, 0));

/** Hive options for a scenario, with `backend` the factory of its simulated backend. */
function hiveOptions(s: Scenario, clock: VirtualClock, seed: number, backend: NonNullable<HiveOptions["backend"]>): HiveOptions {
  const p = s.policies;
  return {
    backend,
    agents: s.agents.flatMap((g) => agentIds(g).map((id) => ({ id, capabilities: g.capabilities, concurrency: g.concurrency, ...(g.restart !== undefined ? { restart: g.restart } : {}) }))),
    clock,
    seed,
    defaults: { timeoutMs: p.timeoutMs, retries: p.retries, priority: "normal" },
    queue: p.queue,
    retry: p.retry,
    supervision: p.supervision,
    ...(p.allocation !== undefined ? { allocation: p.allocation } : {}),
    ...(p.limits !== undefined ? { limits: p.limits } : {}),
    // Parsed by the same schema the hive applies again; zod's output type only widens the optionals.
    ...(p.breaker !== undefined ? { breaker: p.breaker as NonNullable<HiveOptions["breaker"]> } : {}),
    cache: {
      ...(p.cache?.maxEntries !== undefined ? { maxEntries: p.cache.maxEntries } : {}),
      ...(p.cache?.ttlMs !== undefined ? { ttlMs: p.cache.ttlMs } : {}),
      ...(p.cache?.staleWhileRevalidateMs !== undefined ? { staleWhileRevalidateMs: p.cache.staleWhileRevalidateMs } : {}),
      persist: false,
    },
    metrics: false,
  };
}

/** A sampling interval giving about 200 points over the run's expected length. */
function defaultSampleEveryMs(s: Scenario): number {
  let totalMs: number;
  if (s.run.durationMs !== undefined) totalMs = s.run.warmupMs + s.run.durationMs;
  else {
    const tasks = s.run.tasks ?? 1;
    const a = s.workload.arrivals;
    let weight = 0;
    let meanMs = 0;
    for (const k of s.workload.kinds) {
      weight += k.weight;
      meanMs += k.weight * meanOf(k.duration);
    }
    meanMs /= weight;
    if ("poisson" in a) totalMs = (tasks / a.poisson.ratePerSec) * 1_000;
    else if ("bursty" in a) {
      const b = a.bursty;
      const mean = (b.ratePerSec * b.onMs + b.offRatePerSec * b.offMs) / (b.onMs + b.offMs);
      totalMs = (tasks / mean) * 1_000;
    } else {
      const slots = s.agents.reduce((n, g) => n + g.count * g.concurrency, 0);
      const think = a.closed.thinkMs === undefined ? 0 : meanOf(a.closed.thinkMs);
      totalMs = (tasks * (meanMs + think)) / Math.max(1, Math.min(a.closed.inFlight, slots));
    }
    totalMs += s.run.warmupMs;
  }
  const raw = totalMs / 200;
  if (!(raw > 1)) return 1;
  // A round number: 1, 2 or 5 times a power of ten.
  const p = 10 ** Math.floor(Math.log10(raw));
  return raw / p >= 5 ? 5 * p : raw / p >= 2 ? 2 * p : p;
}

/**
 * Runs `scenario` in virtual time and resolves to its report.
 *
 * The run: warm-up (`run.warmupMs`), then the measured window — `run.durationMs` of virtual time,
 * or until `run.tasks` tasks have arrived — then the tasks that arrived in the window are
 * followed to their end (for at most `run.drainMs`, default `run.durationMs`; any still
 * unfinished are then cancelled and `extra.drainCutoff` is set).
 *
 * @example
 * ```ts
 * const report = await simulate({
 *   name: "mm1",
 *   agents: [{ name: "server" }],
 *   workload: { kinds: [{ name: "job", duration: { exponential: { meanMs: 1_000 } } }], arrivals: { poisson: { ratePerSec: 0.8 } } },
 *   run: { durationMs: 86_400_000, warmupMs: 3_600_000 },
 * }, { seed: 42 });
 * report.latencyMs.mean; // ≈ 5000 (W = 1 / (μ − λ))
 * ```
 * @throws InvalidOptionsError (rejects) naming the scenario field or option and the value received
 * @throws AbortedError (rejects, code `ABORTED`) when `signal` aborts
 */
export async function simulate(scenario: ScenarioInput | Scenario, options: SimulateOptions = {}): Promise<RunReport> {
  const s = parseScenario(scenario);
  const o = parseFor(optionsSchema, options, "simulate");
  const seed = o.seed ?? s.seed ?? 1;
  const signal = o.signal;
  if (signal?.aborted) throw new AbortedError(`Simulation of ${JSON.stringify(s.name)} was aborted before it started`, { cause: signal.reason });

  const clock = new VirtualClock(s.run.resolutionMs, s.run.startAt);
  const failAfterMs: Record<string, number> = {};
  for (const d of s.dependencies) if (d.failAfterMs !== undefined) failAfterMs[d.name] = d.failAfterMs;
  const f = s.faults;
  const workload: Omit<SimulatedBackendOptions, "clock" | "dependencies"> = {
    kinds: s.workload.kinds.map((k) => ({
      name: k.name,
      duration: k.duration,
      failureProbability: k.failureProbability ?? f.taskFailureProbability,
      dependsOn: k.dependsOn,
    })),
    faults: { workerDeathProbability: f.workerDeathProbability, ...(f.latencySpikes !== undefined ? { latencySpikes: f.latencySpikes } : {}), outages: f.outages },
    failAfterMs,
    seed: streamSeed(seed, STREAM.backend),
  };
  let backend: SimulatedBackend | undefined;
  const hive = createHive(hiveOptions(s, clock, seed, (context) => (backend = new SimulatedBackend({ ...workload, clock: context.clock, dependencies: context.dependencies }))));
  for (const d of s.dependencies) {
    hive.dependency(d.name, () => undefined, {
      ...(d.consecutiveFailures !== undefined ? { consecutiveFailures: d.consecutiveFailures } : {}),
      ...(d.resetTimeoutMs !== undefined ? { resetTimeoutMs: d.resetTimeoutMs } : {}),
      ...(d.halfOpenMaxProbes !== undefined ? { halfOpenMaxProbes: d.halfOpenMaxProbes } : {}),
    });
  }
  await hive.start();
  try {
    return await drive(s, seed, hive, clock, backend!, o.onProgress, signal);
  } finally {
    await hive.stop();
    clock.clear();
  }
}

/** The event loop of a run: fire what is due, let the hive settle, repeat. */
async function drive(
  s: Scenario,
  seed: number,
  hive: Hive,
  clock: VirtualClock,
  backend: SimulatedBackend,
  onProgress: SimulateOptions["onProgress"],
  signal: AbortSignal | undefined,
): Promise<RunReport> {
  const warmupMs = s.run.warmupMs;
  const recorder = createRecorder(hive, {
    now: () => clock.now(),
    timers: clock,
    sampleEveryMs: s.run.sampleEveryMs ?? defaultSampleEveryMs(s),
    warmupMs,
    mode: "simulation",
    scenario: s.name,
    seed,
    detail: detailOf(s),
  });
  const makeTask = createTaskMaker(s, createRandom(streamSeed(seed, STREAM.tasks)));
  const taskLimit = s.run.tasks;
  let cohortArrivals = 0;
  let submits = 0;
  let arrivalsOver = false;
  /**
   * Submits the next task. The scenario was validated as a whole, so its tasks skip the per-task
   * parse; cached kinds keep the public path, which routes them through the cache. Untracked
   * (open loop: nobody waits on the result), the trusted path makes no handle or promise.
   */
  const submitNext = (track: boolean): TaskHandle<unknown> | undefined => {
    const task = makeTask();
    if (task.cache !== undefined) return hive.submit(task);
    return track ? hive[submitTrusted](task as TrustedTask) : hive[submitTrusted](task as TrustedTask, false);
  };
  const counted = (): void => {
    submits++;
    if (clock.now() < warmupMs) return;
    cohortArrivals++;
    if (taskLimit !== undefined && cohortArrivals >= taskLimit) {
      arrivalsOver = true;
      stopArrivals();
    }
  };
  // Repeating tasks go through the hive's own schedules; they stop when the arrivals do.
  const schedules = s.workload.schedules.map((sc, i) => {
    const kind = s.workload.kinds.find((k) => k.name === sc.kind)!;
    const task: TaskOptions = { kind: kind.name, requires: kind.requires, priority: sc.priority };
    if (kind.timeoutMs !== undefined) task.timeoutMs = kind.timeoutMs;
    if (kind.retries !== undefined) task.retries = kind.retries;
    const when: ScheduleSpec = "everyMs" in sc ? { everyMs: sc.everyMs } : { cron: sc.cron, timezone: sc.timezone };
    return hive.schedule(task, when, { id: `schedule-${i + 1}` });
  });
  const stopArrivals = (): void => {
    arrivals.stop();
    for (const schedule of schedules) schedule.stop();
  };
  const arrivals = createArrivals(s.workload.arrivals, clock, createRandom(streamSeed(seed, STREAM.arrivals)), {
    submit() {
      if (arrivalsOver) return;
      submitNext(false);
      counted();
    },
    submitTracked() {
      if (arrivalsOver) return Promise.resolve({ rejected: false });
      const handle = submitNext(true)!;
      counted();
      return handle.result.then(
        () => ({ rejected: false }),
        (error: unknown) => ({ rejected: isApiaryError(error) && (error.code === "QUEUE_FULL" || error.code === "HIVE_STOPPED") }),
      );
    },
  });

  // Agent crashes: a Poisson process over the whole swarm, each hitting an agent at random.
  const faultRandom = createRandom(streamSeed(seed, STREAM.faults));
  const ids = s.agents.flatMap((g) => agentIds(g));
  let faultsOver = false;
  if (s.faults.agentCrashesPerHour > 0) {
    const gap = poissonGaps(faultRandom, s.faults.agentCrashesPerHour / 3_600);
    let due = clock.now() + gap(); // exact times: the clock's rounding must not drift the rate
    const crash = (): void => {
      if (faultsOver) return;
      const id = ids[Math.floor(faultRandom.next() * ids.length)]!;
      try {
        hive.failAgent(id, "simulated crash");
      } catch {
        // The hive is stopping: nothing left to crash.
      }
      due += gap();
      clock.setTimeout(crash, due - clock.now());
    };
    clock.setTimeout(crash, due - clock.now());
  }

  /** Lets the hive's microtask chains at this instant run out: no activity over a few turns. */
  const quietTurns = "closed" in s.workload.arrivals || s.workload.kinds.some((k) => k.cache !== undefined) ? QUIET_TURNS.callers : QUIET_TURNS.hive;
  const settle = async (): Promise<void> => {
    let seen: number;
    do {
      seen = clock.activity + backend.attempts + submits;
      for (let i = 0; i < quietTurns; i++) await null;
    } while (clock.activity + backend.attempts + submits !== seen);
  };

  const windowEnd = s.run.durationMs !== undefined ? warmupMs + s.run.durationMs : Infinity;
  const drainMs = s.run.drainMs ?? s.run.durationMs ?? Infinity;
  let drainUntil = Infinity;
  let draining = false;
  let drainCutoff = false;
  const total = taskLimit ?? windowEnd;
  const progress = (): number => (taskLimit !== undefined ? cohortArrivals - recorder.pending : Math.min(clock.now(), windowEnd));
  let wallMark = performance.now();
  let lastProgress = wallMark;
  let steps = 0;
  let sameInstant = 0;
  let lastNow = -1;

  arrivals.start();
  for (;;) {
    await settle();
    if (!draining) {
      if (arrivalsOver && recorder.pending === 0) break; // a task-count run is complete
      if (clock.nextAt() > windowEnd) {
        clock.advanceTo(windowEnd);
        recorder.endWindow();
        stopArrivals();
        arrivalsOver = true;
        draining = true;
        drainUntil = windowEnd + drainMs;
        continue;
      }
    } else if (recorder.pending === 0) break;
    const limit = draining ? drainUntil : windowEnd;
    if (clock.fireNext(limit) === 0) {
      if (draining) {
        drainCutoff = recorder.pending > 0;
        break;
      }
      if (clock.nextAt() === Infinity) break; // nothing can happen any more
    }
    const now = clock.now();
    if (now === lastNow) {
      if (++sameInstant > MAX_STEPS_AT_ONE_INSTANT) throw new Error(`Simulation of ${JSON.stringify(s.name)} makes no progress: more than ${MAX_STEPS_AT_ONE_INSTANT} steps at virtual time ${now} ms`);
    } else {
      sameInstant = 0;
      lastNow = now;
    }
    if ((++steps & 255) === 0) {
      const wall = performance.now();
      if (wall - wallMark > 20) {
        // Let timers, I/O and abort signals of the host run now and then.
        await yieldToHost();
        wallMark = performance.now();
      }
      if (signal?.aborted) throw new AbortedError(`Simulation of ${JSON.stringify(s.name)} was aborted at virtual time ${Math.round(clock.now())} ms`, { cause: signal.reason });
      if (onProgress !== undefined && wall - lastProgress >= 50) {
        lastProgress = wall;
        onProgress(progress(), total);
      }
    }
  }
  if (!draining) recorder.endWindow();
  stopArrivals();
  faultsOver = true;
  const simulatedMs = clock.now();
  // Anything unfinished (drain cut off) is cancelled; the recorder hears of it before it finishes.
  await hive.stop();
  onProgress?.(total === Infinity ? simulatedMs : total, total === Infinity ? simulatedMs : total);
  const pool = backend.stats();
  return withFaultWindows(
    s,
    recorder.finish({
      agentCount: ids.length,
      simulatedMs: Math.round(simulatedMs * 1000) / 1000,
      timersFired: clock.fired,
      workerDeaths: pool.threadRestarts,
      ...(drainCutoff ? { drainCutoff: true } : {}),
    }),
  );
}

/** What the recorder's detailed figures know of a scenario: its kinds' requirements and its agents' capabilities. */
function detailOf(s: Scenario): NonNullable<RecorderOptions["detail"]> {
  return {
    kinds: s.workload.kinds.map((k) => ({ name: k.name, requires: k.requires })),
    agents: s.agents.flatMap((g) => agentIds(g).map((id) => ({ id, capabilities: g.capabilities }))),
  };
}

/** The report with the scenario's fault windows (outages, latency-spike windows) for the timeline, and its bottleneck analysis. */
function withFaultWindows(s: Scenario, report: RunReport): RunReport {
  const windows: FaultWindow[] = [
    ...s.faults.outages.map((o) => ({ what: "outage" as const, dependency: o.dependency, fromMs: o.atMs, toMs: o.atMs + o.forMs })),
    ...(s.faults.latencySpikes?.windows ?? []).map((w) => ({ what: "latencySpike" as const, fromMs: w.atMs, toMs: w.atMs + w.forMs })),
  ];
  if (windows.length > 0) report.faultWindows = windows;
  report.bottleneck = analyseBottleneck(report, { scenario: s });
  return report;
}
