/**
 * The Piscina backend: the default on Node. Attempts are micro-batched into pool messages;
 * every pool call carries an AbortSignal, and an aborted attempt that does not stop within the
 * grace period has its thread terminated (Piscina replaces it).
 *
 * @module
 */
import { Piscina } from "piscina";
import type { Description, TaskOutcome, WorkerInit, WorkerRequest } from "../../workers/protocol.ts";
import { TasksModuleError } from "../core/errors.ts";
import { BatchRunner } from "./runner.ts";
import { startDeadline } from "./start-deadline.ts";
import type { Attempt, AttemptCallback, BackendStats, DependencyChannel, ExecutionBackend, StartCallback } from "./types.ts";
import { workerFileUrl } from "./worker-file.ts";

/** Options of the thread backends. */
export interface ThreadBackendOptions {
  /** URL of the user's task module, or null for the built-ins only. */
  tasksUrl: string | null;
  /** Worker threads. */
  threads: number;
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
}

/** Runs attempts on a Piscina pool. */
export class PiscinaBackend implements ExecutionBackend {
  readonly name = "piscina" as const;
  readonly startsOnDispatch = false;
  readonly #options: ThreadBackendOptions;
  readonly #pool: Piscina<WorkerRequest, TaskOutcome[] | Description>;
  readonly #runner: BatchRunner;
  #poolErrors = 0;

  constructor(options: ThreadBackendOptions) {
    this.#options = options;
    this.#runner = new BatchRunner(
      { maxBatch: options.maxBatch, spread: options.threads * 2, abortGraceMs: options.abortGraceMs, onReports: options.dependencies?.onReports },
      (batch) => this.#pool.run({ op: "run", tasks: batch.tasks }, { signal: batch.controller.signal }) as Promise<TaskOutcome[]>,
    );
    const workerData: WorkerInit = { tasksUrl: options.tasksUrl, abortFlags: this.#runner.abortFlags, dependencyStates: options.dependencies?.states ?? null, startStamps: this.#runner.startStamps };
    this.#pool = new Piscina({
      filename: workerFileUrl("entry").href,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: 60_000,
      // A second message waits in the thread, so a thread that finishes starts the next batch
      // without waiting for the main thread (busy with the actors) to hand it over.
      concurrentTasksPerWorker: 2,
      workerData,
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    // A thread that dies with no task on it is reported here; Piscina replaces it.
    this.#pool.on("error", () => {
      this.#poolErrors++;
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

  stats(): BackendStats {
    return { threads: this.#options.threads, inFlight: this.#runner.inFlight, messages: this.#runner.messages, threadRestarts: this.#runner.threadDeaths + this.#poolErrors };
  }

  async close(): Promise<void> {
    this.#runner.clear();
    await this.#pool.destroy();
  }
}
