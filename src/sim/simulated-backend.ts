/**
 * The simulated backend: no work runs. Each attempt's duration is drawn from its kind's
 * distribution and its outcome is reported when that much time has passed on the hive clock
 * (a virtual clock in `simulate`). Faults are drawn per attempt: a handler failure
 * (`TASK_FAILED`), a worker thread dying under it (`WORKER_CRASHED`), a latency spike
 * (the duration times a factor, at random or inside a window), and calls to named dependencies
 * that are down during an outage window.
 *
 * Dependencies go through the hive's own breakers exactly as a handler's `ctx.dependency(name)`
 * does in a thread: the breaker's state is read from the shared mirror, an open circuit fails the
 * attempt fast (its error's `cause` has code `CIRCUIT_OPEN`, which does not count against the
 * agent), a half-open one takes a probe token, and each call's outcome travels back with the
 * attempt's outcome.
 *
 * It lives with the simulation, not among the named backends: it needs a scenario's workload, so
 * `simulate` hands it to its hive as a backend factory.
 *
 * @module
 */
import { DependencyMirror } from "../../workers/dependency.ts";
import type { DependencyCallResult, DependencyReport } from "../../workers/protocol.ts";
import type { Attempt, AttemptCallback, AttemptResult, BackendStats, DependencyChannel, ExecutionBackend } from "../backends/types.ts";
import type { HiveClock } from "../core/clock.ts";
import { TaskFailedError, WorkerCrashedError } from "../core/errors.ts";
import { createRandom, type Random } from "../core/random.ts";
import { bernoulli, createSampler, type Distribution, type Sampler } from "./distributions.ts";

/** A task kind as the simulated backend runs it. */
export interface SimulatedKind {
  name: string;
  duration: Distribution;
  /** Probability that an attempt fails (the handler throws) at the end of its duration. @default 0 */
  failureProbability?: number;
  /** Named dependencies each attempt calls (through the hive's breakers), in order. @default [] */
  dependsOn?: readonly string[];
}

/** What goes wrong, and when (times in ms of the hive clock since `start`). */
export interface SimulatedFaults {
  /** Probability that the thread running an attempt dies under it. @default 0 */
  workerDeathProbability?: number;
  /** Longer attempts: with `probability` each, and for every attempt that starts inside a window, the duration is multiplied by `factor`. */
  latencySpikes?: { probability: number; factor: number; windows: readonly { atMs: number; forMs: number }[] };
  /** Windows in which calls to a dependency fail. */
  outages?: readonly { dependency: string; atMs: number; forMs: number }[];
}

/** Options of {@link SimulatedBackend}. */
export interface SimulatedBackendOptions {
  /** The hive clock: durations elapse on it. */
  clock: HiveClock;
  /** The hive's dependency breakers (their shared state, and where call outcomes go). */
  dependencies?: DependencyChannel | undefined;
  kinds: readonly SimulatedKind[];
  faults?: SimulatedFaults;
  /** How long a call to a dependency that is down takes to fail, ms, by dependency. @default the attempt's drawn duration */
  failAfterMs?: Readonly<Record<string, number>>;
  /** Seed of the durations and faults drawn. */
  seed: number;
}

interface Kind {
  sample: Sampler;
  failureProbability: number;
  dependsOn: readonly string[];
}

interface Live {
  timer: unknown;
  /** Dependency outcomes to report when the attempt would have ended, even if aborted. */
  reports: DependencyReport[] | undefined;
  done: AttemptCallback | null;
}

/** Runs attempts in (virtual) time without running anything. */
export class SimulatedBackend implements ExecutionBackend {
  readonly name = "simulated" as const;
  readonly startsOnDispatch = true;
  readonly #clock: HiveClock;
  readonly #kinds = new Map<string, Kind>();
  readonly #random: Random;
  readonly #deathProbability: number;
  readonly #spikes: SimulatedFaults["latencySpikes"];
  /** Outage windows by dependency, as absolute clock times once started. */
  readonly #outages = new Map<string, { from: number; to: number }[]>();
  readonly #faults: SimulatedFaults;
  readonly #failAfterMs: Readonly<Record<string, number>>;
  readonly #mirror: DependencyMirror | null;
  readonly #onReports: DependencyChannel["onReports"] | undefined;
  /** Attempts handed over and not yet ended or aborted, by seq. */
  readonly #live = new Map<number, Live>();
  #origin = 0;
  #messages = 0;
  #deaths = 0;

  constructor(options: SimulatedBackendOptions) {
    this.#clock = options.clock;
    this.#random = createRandom(options.seed);
    for (const k of options.kinds) {
      this.#kinds.set(k.name, { sample: createSampler(k.duration, this.#random), failureProbability: k.failureProbability ?? 0, dependsOn: k.dependsOn ?? [] });
    }
    this.#faults = options.faults ?? {};
    this.#deathProbability = this.#faults.workerDeathProbability ?? 0;
    this.#spikes = this.#faults.latencySpikes;
    this.#failAfterMs = options.failAfterMs ?? {};
    this.#mirror = options.dependencies === undefined ? null : new DependencyMirror(options.dependencies.states);
    this.#onReports = options.dependencies?.onReports;
  }

  /** Offers the scenario's task kinds; fault windows count from now. */
  async start(): Promise<{ kinds: string[] }> {
    this.#origin = this.#clock.now();
    for (const o of this.#faults.outages ?? []) {
      let list = this.#outages.get(o.dependency);
      if (list === undefined) this.#outages.set(o.dependency, list = []);
      list.push({ from: this.#origin + o.atMs, to: this.#origin + o.atMs + o.forMs });
    }
    return { kinds: [...this.#kinds.keys()] };
  }

  exec(attempt: Attempt, done: AttemptCallback): void {
    this.#messages++;
    const kind = this.#kinds.get(attempt.kind);
    const now = this.#clock.now();
    if (kind === undefined) {
      // The hive checks kinds on submit; this only guards a misuse of the backend on its own.
      this.#settleLater(
        attempt.seq,
        0,
        { ok: false, error: new TaskFailedError(`Task ${attempt.id} (${attempt.kind}) failed: the simulated workload has no such kind`, { taskId: attempt.id }) },
        undefined,
        done,
      );
      return;
    }
    let ms = kind.sample();
    const spikes = this.#spikes;
    if (spikes !== undefined && (bernoulli(this.#random, spikes.probability) || this.#inWindow(spikes.windows, now))) ms *= spikes.factor;
    let result: AttemptResult | undefined;
    let reports: DependencyReport[] | undefined;
    for (const dep of kind.dependsOn) {
      const call = this.#call(dep, now);
      if (call.report !== null) (reports ??= []).push(call.report);
      if (call.report?.[1] === "rejected") {
        ms = 0; // fails fast, as a handler does on an open circuit
        result = { ok: false, error: new TaskFailedError(`Task ${attempt.id} (${attempt.kind}) failed: CircuitOpenError: Circuit "${dep}" is open`, { cause: circuitOpen(dep), taskId: attempt.id }) };
        break;
      }
      if (call.down) {
        ms = this.#failAfterMs[dep] ?? ms;
        const cause = new Error(`dependency ${JSON.stringify(dep)} is down (simulated outage)`);
        cause.name = "DependencyDownError";
        result = { ok: false, error: new TaskFailedError(`Task ${attempt.id} (${attempt.kind}) failed: ${cause.name}: ${cause.message}`, { cause, taskId: attempt.id }) };
        break;
      }
    }
    if (result === undefined) {
      if (this.#deathProbability > 0 && bernoulli(this.#random, this.#deathProbability)) {
        this.#deaths++;
        result = { ok: false, error: new WorkerCrashedError(`The worker thread running task ${attempt.id} (${attempt.kind}) died (simulated)`, { taskId: attempt.id }) };
      } else if (kind.failureProbability > 0 && bernoulli(this.#random, kind.failureProbability)) {
        const cause = new Error("simulated failure");
        cause.name = "SimulatedFailure";
        result = { ok: false, error: new TaskFailedError(`Task ${attempt.id} (${attempt.kind}) failed: SimulatedFailure: simulated failure`, { cause, taskId: attempt.id }) };
      } else {
        result = { ok: true, value: ms };
      }
    }
    this.#settleLater(attempt.seq, ms, result, reports, done);
  }

  #settleLater(seq: number, ms: number, result: AttemptResult, reports: DependencyReport[] | undefined, done: AttemptCallback): void {
    const live: Live = { timer: undefined, reports, done };
    live.timer = this.#clock.setTimeout(() => {
      if (this.#live.get(seq) === live) this.#live.delete(seq);
      if (live.reports !== undefined) this.#onReports?.(live.reports);
      const callback = live.done;
      live.done = null;
      callback?.(result);
    }, ms);
    this.#live.set(seq, live);
  }

  /** One guarded call to `dep` at `now`: what the thread side reports, and whether it is down. */
  #call(dep: string, now: number): { report: DependencyReport | null; down: boolean } {
    const mirror = this.#mirror;
    const slot = mirror === null ? -1 : mirror.slotOf(dep);
    const down = this.#inOutage(dep, now);
    // Not registered with the hive: no breaker guards it, the call just fails while down.
    if (mirror === null || slot < 0) return { report: null, down };
    let probe = false;
    if (mirror.state(slot) !== "closed") {
      probe = mirror.takeProbe(slot);
      if (!probe) return { report: [slot, "rejected"], down: false };
    }
    const outcome: DependencyCallResult = probe ? (down ? "probe-fail" : "probe-ok") : down ? "fail" : "ok";
    return { report: [slot, outcome], down };
  }

  #inOutage(dep: string, now: number): boolean {
    const windows = this.#outages.get(dep);
    if (windows === undefined) return false;
    for (const w of windows) if (now >= w.from && now < w.to) return true;
    return false;
  }

  #inWindow(windows: readonly { atMs: number; forMs: number }[], now: number): boolean {
    const t = now - this.#origin;
    for (const w of windows) if (t >= w.atMs && t < w.atMs + w.forMs) return true;
    return false;
  }

  /**
   * Aborts an attempt: its outcome is never reported. Its timer is cancelled, unless it called a
   * dependency: then the call's outcome still reaches the breaker when the attempt would have ended,
   * as a thread's does.
   */
  abort(seq: number): void {
    const live = this.#live.get(seq);
    if (live === undefined) return;
    this.#live.delete(seq);
    live.done = null;
    if (live.reports === undefined) this.#clock.clearTimeout(live.timer);
  }

  /** Attempts handed over since start (cheaper than `stats().messages`: no object). */
  get attempts(): number {
    return this.#messages;
  }

  stats(): BackendStats {
    return { threads: 0, inFlight: this.#live.size, messages: this.#messages, threadRestarts: this.#deaths };
  }

  /** Drops every attempt; none is reported. */
  async close(): Promise<void> {
    for (const live of this.#live.values()) {
      live.done = null;
      this.#clock.clearTimeout(live.timer);
    }
    this.#live.clear();
  }
}

function circuitOpen(name: string): Error {
  const error = new Error(`Circuit "${name}" is open: the call fails fast`);
  error.name = "CircuitOpenError";
  (error as Error & { code: string }).code = "CIRCUIT_OPEN";
  return error;
}
