/**
 * The inline backend: runs handlers on the calling thread, in a microtask. For tests and tiny
 * tasks. A synchronous handler runs on the main thread and cannot be cut short: there is no
 * thread to terminate, and while it runs nothing else does, its timeout timer included — one
 * that overruns its timeout completes when it returns, one that never returns hangs the
 * process. A timeout (or cancel) does end, for its caller, a task whose handler awaits past it:
 * `abort` fires its `ctx.signal` and drops its outcome. Use a thread backend for untrusted work.
 *
 * @module
 */
import { ABORT_SLOTS, raiseAbortFlag, type TaskOutcome } from "../../workers/protocol.ts";
import { ThreadRuntime } from "../../workers/runtime.ts";
import { TasksModuleError } from "../core/errors.ts";
import { toResult } from "./outcome.ts";
import type { Attempt, AttemptCallback, BackendStats, DependencyChannel, ExecutionBackend, ProgressChannel } from "./types.ts";

/** Runs attempts on the main thread. */
export class InlineBackend implements ExecutionBackend {
  readonly name = "inline" as const;
  readonly startsOnDispatch = true;
  readonly #flagsBuffer = new SharedArrayBuffer(ABORT_SLOTS * 4);
  readonly #flags = new Int32Array(this.#flagsBuffer);
  readonly #runtime: ThreadRuntime;
  /** Attempts not yet settled or aborted, by seq. */
  readonly #live = new Map<number, { attempt: Attempt; done: AttemptCallback }>();
  #queue: Attempt[] = [];
  #scheduled = false;
  #messages = 0;
  readonly #onReports: DependencyChannel["onReports"] | undefined;

  constructor(options: { tasksUrl: string | null; dependencies?: DependencyChannel | undefined; progress?: ProgressChannel | undefined; workerData?: unknown }) {
    this.#runtime = new ThreadRuntime(options.tasksUrl, this.#flagsBuffer, options.dependencies?.states ?? null, null, undefined, options.progress?.deliver ?? null, options.workerData);
    this.#onReports = options.dependencies?.onReports;
  }

  async start(): Promise<{ kinds: string[] }> {
    try {
      return await this.#runtime.describe();
    } catch (error) {
      throw new TasksModuleError(`Cannot start the inline backend: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  exec(attempt: Attempt, done: AttemptCallback): void {
    this.#live.set(attempt.seq, { attempt, done });
    this.#queue.push(attempt);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (const a of queue) {
      if (!this.#live.has(a.seq)) continue; // aborted before it ran
      this.#messages++;
      // One attempt per run: a slow async handler must not hold back a fast one.
      const out = this.#runtime.run([{ id: a.id, seq: a.seq, kind: a.kind, input: a.input, attempt: a.attempt, agentId: a.agentId, after: a.after }]);
      if (Array.isArray(out)) this.#deliver(a, out[0]!);
      else void out.then((outcomes) => this.#deliver(a, outcomes[0]!));
    }
  };

  #deliver(a: Attempt, outcome: TaskOutcome): void {
    if (outcome.deps !== undefined) this.#onReports?.(outcome.deps);
    const entry = this.#live.get(a.seq);
    if (entry === undefined) return;
    this.#live.delete(a.seq);
    entry.done(toResult(a, outcome));
  }

  abort(seq: number): void {
    if (!this.#live.delete(seq)) return;
    raiseAbortFlag(this.#flags, seq);
  }

  stats(): BackendStats {
    return { threads: 0, inFlight: this.#live.size, messages: this.#messages, threadRestarts: 0 };
  }

  async close(): Promise<void> {
    this.#live.clear();
    this.#queue = [];
  }
}
