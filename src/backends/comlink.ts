/**
 * The comlink backend: module Web Workers (the default on Deno; browsers), or
 * `node:worker_threads` on Node. Batches are sent to the least-busy thread; a thread that errors
 * or must be stopped is terminated and replaced, and its batches fail over (see runner.ts).
 *
 * @module
 */
import * as Comlink from "comlink";
import { nodeEndpoint, type NodePort } from "../../workers/node-endpoint.ts";
import type { TaskOutcome, WorkerInit } from "../../workers/protocol.ts";
import type { WebWorkerApi } from "../../workers/web-entry.ts";
import { TasksModuleError } from "../errors.ts";
import type { ThreadBackendOptions } from "./piscina.ts";
import { type Batch, BatchRunner } from "./runner.ts";
import type { Attempt, AttemptCallback, BackendStats, ExecutionBackend } from "./types.ts";
import { workerFileUrl } from "./worker-file.ts";

interface Thread {
  api: Comlink.Remote<WebWorkerApi>;
  terminate(): void;
  /** Batches on this thread and how to fail them if it dies. */
  batches: Map<Batch, (error: Error) => void>;
  dead: boolean;
}

interface WebWorkerLike {
  addEventListener(type: "error", listener: (event: { message?: string; preventDefault(): void }) => void): void;
  terminate(): void;
}
type WebWorkerCtor = new (url: URL, options: { type: "module" }) => WebWorkerLike;

/** Runs attempts on comlink-wrapped workers. */
export class ComlinkBackend implements ExecutionBackend {
  readonly name = "comlink" as const;
  readonly #options: ThreadBackendOptions;
  readonly #runner: BatchRunner;
  readonly #init: WorkerInit;
  /** Live threads; a dead one is removed at once and replaced. */
  #threads: Thread[] = [];
  #nodeWorker: (typeof import("node:worker_threads"))["Worker"] | undefined;
  #closed = false;
  #replaced = 0;

  constructor(options: ThreadBackendOptions) {
    this.#options = options;
    this.#runner = new BatchRunner(
      { maxBatch: options.maxBatch, spread: options.threads * 2, abortGraceMs: options.abortGraceMs },
      (batch) => this.#transport(batch),
    );
    this.#init = { tasksUrl: options.tasksUrl, abortFlags: this.#runner.abortFlags };
  }

  async start(signal?: AbortSignal): Promise<{ kinds: string[] }> {
    if (typeof (globalThis as { Worker?: unknown }).Worker !== "function") {
      this.#nodeWorker = (await import("node:worker_threads")).Worker;
    }
    for (let i = 0; i < this.#options.threads; i++) this.#threads.push(this.#spawn());
    const timeout = AbortSignal.timeout(this.#options.startTimeoutMs);
    const stop = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      const first = this.#threads[0]!;
      const d = await new Promise<{ kinds: string[] }>((resolve, reject) => {
        stop.addEventListener("abort", () => reject(stop.reason), { once: true });
        first.batches.set(null as unknown as Batch, reject);
        first.api.describe().then(resolve, reject);
      });
      first.batches.clear();
      return d;
    } catch (error) {
      await this.close();
      const detail = timeout.aborted ? `no answer within ${this.#options.startTimeoutMs} ms` : error instanceof Error ? error.message : String(error);
      throw new TasksModuleError(`Cannot start the comlink backend: ${detail}`, { cause: error });
    }
  }

  #spawn(): Thread {
    const url = workerFileUrl("web-entry");
    let endpoint: Comlink.Endpoint;
    let terminate: () => void;
    const thread = { batches: new Map(), dead: false } as unknown as Thread;
    const NodeWorker = this.#nodeWorker;
    if (NodeWorker !== undefined) {
      const w = new NodeWorker(url);
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
    for (const fail of thread.batches.values()) fail(error);
    thread.batches.clear();
    if (!this.#closed) {
      this.#replaced++;
      this.#threads.push(this.#spawn());
    }
  }

  #transport(batch: Batch): Promise<TaskOutcome[]> {
    let thread = this.#threads[0];
    if (thread === undefined) return Promise.reject(new Error("backend is closed"));
    for (const t of this.#threads) if (t.batches.size < thread.batches.size) thread = t;
    const chosen = thread;
    return new Promise<TaskOutcome[]>((resolve, reject) => {
      chosen.batches.set(batch, reject);
      batch.controller.signal.addEventListener("abort", () => this.#kill(chosen, new Error(String(batch.controller.signal.reason))), { once: true });
      chosen.api.run(batch.tasks).then(
        (outcomes) => {
          chosen.batches.delete(batch);
          resolve(outcomes);
        },
        (error: unknown) => {
          chosen.batches.delete(batch);
          reject(error);
        },
      );
    });
  }

  exec(attempt: Attempt, done: AttemptCallback): void {
    this.#runner.exec(attempt, done);
  }

  abort(seq: number): void {
    this.#runner.abort(seq);
  }

  stats(): BackendStats {
    return { threads: this.#options.threads, inFlight: this.#runner.inFlight, messages: this.#runner.messages, threadRestarts: this.#replaced };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#runner.clear();
    const threads = this.#threads;
    this.#threads = [];
    for (const t of threads) {
      t.dead = true;
      t.api[Comlink.releaseProxy]();
      t.terminate();
    }
  }
}
