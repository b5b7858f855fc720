/**
 * The comlink backend: module Web Workers (Deno, browsers), or
 * `node:worker_threads` on Node. Like Piscina, each thread runs one batch at a time and the rest
 * wait on the main thread, so a thread that dies (or is terminated because its attempt ignored
 * an abort) takes down only the batch it was running; that batch fails over (see runner.ts) and
 * the thread is replaced.
 *
 * @module
 */
import * as Comlink from "comlink";
import { exitNoticeCode } from "../../workers/exit-notice.ts";
import { nodeEndpoint, type NodePort } from "../../workers/node-endpoint.ts";
import type { TaskOutcome, WorkerInit } from "../../workers/protocol.ts";
import type { WebWorkerApi } from "../../workers/web-entry.ts";
import { TasksModuleError } from "../core/errors.ts";
import type { ThreadBackendOptions } from "./piscina.ts";
import { type Batch, BatchRunner } from "./runner.ts";
import { startDeadline } from "./start-deadline.ts";
import type { Attempt, AttemptCallback, BackendStats, ExecutionBackend, StartCallback } from "./types.ts";
import { threadStartError, workerFileUrl } from "./worker-file.ts";

interface Thread {
  api: Comlink.Remote<WebWorkerApi>;
  terminate(): void;
  /** The batch running on this thread and how to fail it if the thread dies; null when idle. */
  current: { batch: Batch; fail: (error: Error) => void } | null;
  dead: boolean;
  /** Lets the thread go once it has idled `idleTimeoutMs` (a pool above `minThreads` only). */
  idleTimer?: ReturnType<typeof setTimeout> | undefined;
}

interface Waiting {
  batch: Batch;
  resolve: (outcomes: TaskOutcome[]) => void;
  reject: (error: unknown) => void;
}

interface WebWorkerLike {
  addEventListener(type: "error", listener: (event: { message?: string; preventDefault(): void }) => void): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  terminate(): void;
}
type WebWorkerCtor = new (url: URL, options: { type: "module" }) => WebWorkerLike;

/** Runs attempts on comlink-wrapped workers. */
export class ComlinkBackend implements ExecutionBackend {
  readonly name = "comlink" as const;
  readonly startsOnDispatch = false;
  readonly #options: ThreadBackendOptions;
  readonly #runner: BatchRunner;
  readonly #init: WorkerInit;
  /** Live threads; a dead one is removed at once and replaced. */
  #threads: Thread[] = [];
  /** Batches waiting for an idle thread, in order. */
  #waiting: Waiting[] = [];
  #nodeWorker: (typeof import("node:worker_threads"))["Worker"] | undefined;
  #closed = false;
  #replaced = 0;

  constructor(options: ThreadBackendOptions) {
    this.#options = options;
    this.#runner = new BatchRunner(
      { maxBatch: options.maxBatch, spread: options.threads * 2, abortGraceMs: options.abortGraceMs, onReports: options.dependencies?.onReports, onProgress: options.progress?.deliver },
      (batch) => this.#transport(batch),
    );
    this.#init = {
      tasksUrl: options.tasksUrl,
      abortFlags: this.#runner.abortFlags,
      dependencyStates: options.dependencies?.states ?? null,
      startStamps: this.#runner.startStamps,
      progressChannel: options.progress?.name ?? null,
      rateChannel: options.dependencies?.rateChannel ?? null,
      ...(options.workerData !== undefined ? { userData: options.workerData } : {}),
    };
  }

  /** Fewest threads: `minThreads` when the pool grows and shrinks, else `threads`. */
  get #minThreads(): number {
    return Math.min(this.#options.minThreads ?? this.#options.threads, this.#options.threads);
  }

  async start(signal?: AbortSignal): Promise<{ kinds: string[] }> {
    if (typeof (globalThis as { Worker?: unknown }).Worker !== "function") {
      this.#nodeWorker = (await import("node:worker_threads")).Worker;
    }
    try {
      for (let i = 0; i < this.#minThreads; i++) this.#threads.push(this.#spawn());
    } catch (error) {
      await this.close();
      throw threadStartError(error, this.#options.execArgv);
    }
    const deadline = startDeadline(this.#options.startTimeoutMs, signal);
    const stop = deadline.signal;
    try {
      const first = this.#threads[0]!;
      return await new Promise<{ kinds: string[] }>((resolve, reject) => {
        stop.addEventListener("abort", () => reject(stop.reason), { once: true });
        first.current = { batch: null as unknown as Batch, fail: reject };
        first.api.describe().then(resolve, reject).finally(() => {
          first.current = null;
        });
      });
    } catch (error) {
      await this.close();
      const detail = deadline.expired ? `no answer within ${this.#options.startTimeoutMs} ms` : error instanceof Error ? error.message : String(error);
      throw new TasksModuleError(`Cannot start the comlink backend: ${detail}`, { cause: error });
    } finally {
      deadline[Symbol.dispose]();
    }
  }

  #spawn(): Thread {
    const url = workerFileUrl("web-entry");
    let endpoint: Comlink.Endpoint;
    let terminate: () => void;
    const thread = { current: null, dead: false } as unknown as Thread;
    const NodeWorker = this.#nodeWorker;
    if (NodeWorker !== undefined) {
      const { env, execArgv } = this.#options;
      const w = new NodeWorker(url, { ...(env !== undefined ? { env } : {}), ...(execArgv !== undefined ? { execArgv } : {}) });
      w.on("error", (error) => this.#kill(thread, error));
      w.on("exit", (code) => this.#kill(thread, new Error(`worker thread exited with code ${code}`)));
      endpoint = nodeEndpoint(w as unknown as NodePort);
      terminate = () => void w.terminate();
    } else {
      const WebWorker = (globalThis as unknown as { Worker: WebWorkerCtor }).Worker;
      const w = new WebWorker(url, { type: "module" });
      w.addEventListener("error", (event) => {
        // Unhandled, a worker's error would take the whole process down.
        event.preventDefault();
        this.#kill(thread, new Error(`worker thread error: ${event.message ?? "unknown"}`));
      });
      w.addEventListener("message", (event) => {
        const code = exitNoticeCode(event.data);
        if (code !== undefined) this.#kill(thread, new Error(code === "close" ? "worker thread closed itself" : `worker thread exited with code ${code}`));
      });
      endpoint = w as unknown as Comlink.Endpoint;
      terminate = () => w.terminate();
    }
    thread.api = Comlink.wrap<WebWorkerApi>(endpoint);
    thread.terminate = terminate;
    void thread.api.init(this.#init);
    return thread;
  }

  #kill(thread: Thread, error: Error): void {
    if (thread.dead) return;
    thread.dead = true;
    thread.terminate();
    this.#threads = this.#threads.filter((t) => t !== thread);
    const current = thread.current;
    thread.current = null;
    current?.fail(error);
    if (!this.#closed) {
      this.#replaced++;
      if (this.#threads.length < this.#minThreads || this.#waiting.length > 0) this.#threads.push(this.#spawn());
      this.#pump();
    }
  }

  /** A pool above `minThreads`: a thread that idles `idleTimeoutMs` stops (it was not lost: nothing replaces it). */
  #idle(thread: Thread): void {
    if (this.#threads.length <= this.#minThreads || thread.idleTimer !== undefined) return;
    const timer = setTimeout(() => {
      thread.idleTimer = undefined;
      if (thread.current !== null || thread.dead || this.#closed || this.#threads.length <= this.#minThreads) return;
      thread.dead = true;
      this.#threads = this.#threads.filter((t) => t !== thread);
      thread.api[Comlink.releaseProxy]();
      thread.terminate();
    }, this.#options.idleTimeoutMs ?? 60_000);
    (timer as { unref?: () => void }).unref?.();
    thread.idleTimer = timer;
  }

  #transport(batch: Batch): Promise<TaskOutcome[]> {
    if (this.#closed) return Promise.reject(new Error("backend is closed"));
    return new Promise<TaskOutcome[]>((resolve, reject) => {
      const waiting: Waiting = { batch, resolve, reject };
      this.#waiting.push(waiting);
      batch.controller.signal.addEventListener(
        "abort",
        () => {
          const at = this.#waiting.indexOf(waiting);
          if (at >= 0) {
            this.#waiting.splice(at, 1);
            reject(new Error(String(batch.controller.signal.reason)));
            return;
          }
          const thread = this.#threads.find((t) => t.current?.batch === batch);
          if (thread) this.#kill(thread, new Error(String(batch.controller.signal.reason)));
        },
        { once: true },
      );
      this.#pump();
    });
  }

  /** Starts waiting batches on idle threads; starts more threads, up to `threads`, while batches wait. */
  #pump(): void {
    for (const thread of this.#threads) {
      if (this.#waiting.length === 0) return;
      if (thread.current !== null || thread.dead) continue;
      const { batch, resolve, reject } = this.#waiting.shift()!;
      if (thread.idleTimer !== undefined) {
        clearTimeout(thread.idleTimer);
        thread.idleTimer = undefined;
      }
      thread.current = { batch, fail: reject };
      thread.api.run(batch.transfer === undefined ? batch.tasks : Comlink.transfer(batch.tasks, batch.transfer)).then(
        (outcomes) => {
          if (thread.current?.batch !== batch) return; // the thread was killed under it
          thread.current = null;
          resolve(outcomes);
          this.#pump();
          if (thread.current === null) this.#idle(thread);
        },
        (error: unknown) => {
          if (thread.current?.batch !== batch) return;
          thread.current = null;
          reject(error);
          this.#pump();
          if (thread.current === null) this.#idle(thread);
        },
      );
    }
    // Work still waits and every thread is busy: grow (a new thread takes its first batch as it starts).
    if (this.#waiting.length > 0 && this.#threads.length < this.#options.threads && !this.#closed) {
      this.#threads.push(this.#spawn());
      this.#pump();
    }
  }

  exec(attempt: Attempt, done: AttemptCallback, onStart?: StartCallback): void {
    this.#runner.exec(attempt, done, onStart);
  }

  abort(seq: number, kill = true): void {
    this.#runner.abort(seq, kill);
  }

  stats(): BackendStats {
    const threads = this.#minThreads === this.#options.threads ? this.#options.threads : this.#threads.length;
    return { threads, inFlight: this.#runner.inFlight, messages: this.#runner.messages, threadRestarts: this.#replaced };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#runner.clear();
    this.#waiting = [];
    const threads = this.#threads;
    this.#threads = [];
    for (const t of threads) {
      if (t.idleTimer !== undefined) clearTimeout(t.idleTimer);
      t.dead = true;
      t.api[Comlink.releaseProxy]();
      t.terminate();
    }
  }
}
