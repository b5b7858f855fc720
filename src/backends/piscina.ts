/**
 * The Piscina backend: the default on Node. Attempts are micro-batched into pool messages;
 * every pool call carries an AbortSignal, and an aborted attempt that does not stop within the
 * grace period has its thread terminated (Piscina replaces it). The pool keeps
 * {@link SPARE_THREADS} started threads beyond `threads` that get no work while the others
 * live, so a dead thread's work moves on at once instead of waiting for a thread to start.
 *
 * @module
 */
import { Piscina } from "piscina";
import { type Description, LOAD_GUARD, type TaskOutcome, type WorkerInit, type WorkerRequest } from "../../workers/protocol.ts";
import { TasksModuleError } from "../core/errors.ts";
import { type Batch, BatchRunner, COLLATERAL } from "./runner.ts";
import { spareKeepingBalancer } from "./spare-balancer.ts";
import { startDeadline } from "./start-deadline.ts";
import type { Attempt, AttemptCallback, BackendStats, DependencyChannel, ExecutionBackend, ProgressChannel, StartCallback } from "./types.ts";
import { threadStartError, workerFileUrl } from "./worker-file.ts";

/** Options of the thread backends. */
export interface ThreadBackendOptions {
  /** URL of the user's task module, or null for the built-ins only. */
  tasksUrl: string | null;
  /** Worker threads: the most, when `minThreads` is less. */
  threads: number;
  /** Fewest worker threads of a pool that grows and shrinks; absent: `threads` (fixed). */
  minThreads?: number | undefined;
  /** How long a thread above `minThreads` may idle before it is let go, ms. */
  idleTimeoutMs?: number | undefined;
  /** Handlers' `ctx.workerData`. */
  workerData?: unknown;
  /** The threads' `process.env`. */
  env?: Record<string, string> | undefined;
  /** The threads' Node flags. */
  execArgv?: string[] | undefined;
  /** Most attempts carried by one message. */
  maxBatch: number;
  /** How long an aborted attempt may keep running before its thread is terminated, ms. */
  abortGraceMs: number;
  /** How long `start()` may take to load the task module, ms. */
  startTimeoutMs: number;
  /** Per-thread V8 limits; a thread over them dies and is replaced. */
  resourceLimits?: { maxOldGenerationSizeMb?: number | undefined; maxYoungGenerationSizeMb?: number | undefined; stackSizeMb?: number | undefined } | undefined;
  /** The dependency breakers' shared states and report sink. */
  dependencies?: DependencyChannel | undefined;
  /** Where `ctx.progress` reports go. */
  progress?: ProgressChannel | undefined;
}

/**
 * Threads started beyond `threads`, idle while the others live: a thread's start (~30–60 ms) is
 * then not on the path of the work a dead thread leaves behind.
 */
export const SPARE_THREADS = 1;

/**
 * Messages one thread holds. One: the next batch waits in the pool's queue and leaves the moment
 * the thread's reply comes back. A second message waiting in the thread would spare it that
 * round trip, but it dies with the thread when a neighbour exits — and its reply, too, when it
 * was already on its way (Piscina rejects a dead thread's messages without reading what it had
 * sent) — and on Deno, so placed, an exiting thread's death at times went unreported (its
 * attempt ran on into its timeout).
 */
export const MESSAGES_PER_THREAD = 1;

/** Runs attempts on a Piscina pool. */
export class PiscinaBackend implements ExecutionBackend {
  readonly name = "piscina" as const;
  readonly startsOnDispatch = false;
  readonly #options: ThreadBackendOptions;
  readonly #pool: Piscina<WorkerRequest, TaskOutcome[] | Description>;
  readonly #runner: BatchRunner;
  /** Ids of the pool's threads that have started and are not terminated. */
  readonly #ready = new Set<number>();
  /** Threads terminated or dead while the pool was open (each one is replaced). */
  #threadsLost = 0;
  /** True when the pool grows and shrinks (`minThreads` below `threads`). */
  readonly #shrinks: boolean;
  /** Abort listeners running now: a thread destroyed meanwhile was terminated for its batch. */
  #killing = 0;
  /** Live threads destroyed, not by us, in a pool that shrinks: let go idle, unless an error shows within the turn. */
  #suspects = 0;
  /** Errors seen (idle threads' and batches') while there are suspects. */
  #suspectErrors = 0;
  #closing = false;
  /** Threads inside a synchronous module load, and the flag that stops new ones (see `guardedLoad`). */
  readonly #loadGuard = new Int32Array(new SharedArrayBuffer(LOAD_GUARD.bytes));

  constructor(options: ThreadBackendOptions) {
    this.#options = options;
    this.#runner = new BatchRunner(
      { maxBatch: options.maxBatch, spread: options.threads * 2, abortGraceMs: options.abortGraceMs, onReports: options.dependencies?.onReports, onProgress: options.progress?.deliver },
      (batch) => this.#run(batch),
    );
    const workerData: WorkerInit = {
      tasksUrl: options.tasksUrl,
      abortFlags: this.#runner.abortFlags,
      dependencyStates: options.dependencies?.states ?? null,
      startStamps: this.#runner.startStamps,
      progressChannel: options.progress?.name ?? null,
      rateChannel: options.dependencies?.rateChannel ?? null,
      loadGuard: this.#loadGuard.buffer as SharedArrayBuffer,
      ...(options.workerData !== undefined ? { userData: options.workerData } : {}),
    };
    const minThreads = Math.min(options.minThreads ?? options.threads, options.threads);
    try {
      this.#pool = new Piscina({
        filename: workerFileUrl("entry").href,
        minThreads: minThreads + SPARE_THREADS,
        maxThreads: options.threads + SPARE_THREADS,
        idleTimeout: options.idleTimeoutMs ?? 60_000,
        concurrentTasksPerWorker: MESSAGES_PER_THREAD,
        loadBalancer: spareKeepingBalancer({ threads: options.threads, messagesPerThread: MESSAGES_PER_THREAD, ready: this.#ready }),
        workerData,
        ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
        ...(options.env !== undefined ? { env: options.env } : {}),
        ...(options.execArgv !== undefined ? { execArgv: options.execArgv } : {}),
      });
    } catch (error) {
      throw threadStartError(error, options.execArgv);
    }
    this.#pool.on("workerCreate", (thread: { id: number }) => {
      // A thread that exited reports id -1 when destroyed: forget those here.
      const alive = new Set(this.#pool.threads.map((t) => t.threadId));
      for (const id of this.#ready) if (!alive.has(id)) this.#ready.delete(id);
      this.#ready.add(thread.id);
    });
    this.#shrinks = minThreads < options.threads;
    this.#pool.on("workerDestroy", (thread: { id: number }) => {
      const alive = this.#ready.delete(thread.id) && thread.id !== -1;
      if (this.#closing) return;
      if (!this.#shrinks || !alive || this.#killing > 0) {
        this.#threadsLost++;
        return;
      }
      // Piscina lets a thread idle past idleTimeoutMs go — and also destroys, still alive, one
      // whose handler threw uncaught: that error surfaces in this turn (the pool's "error", or
      // the batch's rejection), before the check.
      if (this.#suspects++ === 0) setImmediate(this.#classify);
    });
    // A thread that dies with no task on it is reported here (and destroyed, and replaced).
    this.#pool.on("error", () => {
      if (this.#suspects > 0) this.#suspectErrors++;
    });
  }

  /** Counts the turn's suspects: as many lost as errors were seen, the rest let go idle. */
  readonly #classify = (): void => {
    this.#threadsLost += Math.min(this.#suspects, this.#suspectErrors);
    this.#suspects = 0;
    this.#suspectErrors = 0;
  };

  #run(batch: Batch): Promise<TaskOutcome[]> {
    const signal = batch.controller.signal;
    const message: WorkerRequest = { op: "run", tasks: batch.tasks };
    const options = batch.transfer === undefined ? { signal } : { signal, transferList: batch.transfer };
    if (!this.#shrinks) return this.#pool.run(message, options) as Promise<TaskOutcome[]>;
    // Piscina terminates a thread inside its own abort listener: ours around it mark that turn.
    signal.addEventListener("abort", () => this.#killing++, { once: true });
    const sent = this.#pool.run(message, options) as Promise<TaskOutcome[]>;
    signal.addEventListener("abort", () => this.#killing--, { once: true });
    return sent.catch((error: unknown) => {
      if (this.#suspects > 0 && !signal.aborted && !(error instanceof Error && error.message === COLLATERAL)) this.#suspectErrors++;
      throw error;
    });
  }

  async start(signal?: AbortSignal): Promise<{ kinds: string[] }> {
    const deadline = startDeadline(this.#options.startTimeoutMs, signal);
    try {
      const d = (await this.#pool.run({ op: "describe" }, { signal: deadline.signal })) as Description;
      return { kinds: d.kinds };
    } catch (error) {
      const detail = deadline.expired ? `no answer within ${this.#options.startTimeoutMs} ms` : error instanceof Error ? error.message : String(error);
      throw new TasksModuleError(`Cannot start the piscina backend: ${detail}`, { cause: error });
    } finally {
      deadline[Symbol.dispose]();
    }
  }

  exec(attempt: Attempt, done: AttemptCallback, onStart?: StartCallback): void {
    this.#runner.exec(attempt, done, onStart);
  }

  abort(seq: number, kill = true): void {
    this.#runner.abort(seq, kill);
  }

  /** Threads started and not terminated now (the spare included). */
  get threadsAlive(): number {
    return this.#ready.size;
  }

  stats(): BackendStats {
    const max = this.#options.threads;
    const min = Math.min(this.#options.minThreads ?? max, max);
    // A pool that grows and shrinks reports the working threads it has now (not the warm spare).
    const threads = min === max ? max : Math.min(max, Math.max(min, this.#pool.threads.length - SPARE_THREADS));
    return { threads, inFlight: this.#runner.inFlight, messages: this.#runner.messages, threadRestarts: this.#threadsLost };
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#runner.clear();
    // No thread may be inside a synchronous module load when it is terminated (Node 20 aborts the
    // process there): stop new ones, wait out those under way (milliseconds; bounded).
    Atomics.store(this.#loadGuard, LOAD_GUARD.CLOSING, 1);
    const end = performance.now() + 2_000;
    while (Atomics.load(this.#loadGuard, LOAD_GUARD.LOADING) > 0 && performance.now() < end) await new Promise((resolve) => setTimeout(resolve, 1));
    await this.#pool.destroy();
  }
}
