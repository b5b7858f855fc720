/**
 * The thread-side dispatcher: loads the task module once, runs batches of attempts, and turns
 * whatever a handler returns or throws into a {@link TaskOutcome}. Shared by the Piscina entry
 * (`entry.ts`) and the comlink Web Worker entry (`web-entry.ts`). Imports nothing from `actors/`.
 *
 * @module
 */
import { builtins, type LazyBuiltin, lazyBuiltins } from "./builtins.ts";
import { findUncloneable } from "./cloneable.ts";
import type { TaskContext, TaskHandler, TaskHandlers } from "./define.ts";
import { DependencyMirror, type WorkerDependency, workerDependency } from "./dependency.ts";
import {
  type DependencyReport,
  type Description,
  openProgressPort,
  PROGRESS_INTERVAL_MS,
  type ProgressPort,
  type ProgressReport,
  type SerializedError,
  stampEnd,
  stampStart,
  type StartStamps,
  startStampViews,
  type TaskMessage,
  type TaskOutcome,
} from "./protocol.ts";
import { buffersOf, isTransferred } from "./transfer.ts";

/** Serialises any thrown value into the shape that crosses back to the main thread. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const out: SerializedError = { name: error.name, message: error.message };
    if (error.stack !== undefined) out.stack = error.stack;
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") out.code = code;
    return out;
  }
  return { name: "Error", message: typeof error === "string" ? error : `non-error thrown: ${String(error)}` };
}

const nativeAborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted")?.get;

/** The signal's own aborted state, bypassing an instance override. */
function isAborted(signal: AbortSignal): boolean {
  return nativeAborted ? (nativeAborted.call(signal) as boolean) : signal.reason !== undefined;
}

const NO_AFTER: readonly unknown[] = Object.freeze([]);

/**
 * Where progress reports go: a function (the inline backend: the main thread itself), or the name
 * of a `BroadcastChannel` the main thread listens on (threads), opened on the first report.
 */
function progressSender(progress: string | ((report: ProgressReport) => void) | null): ProgressSender | null {
  if (progress === null) return null;
  if (typeof progress === "function") return { send: progress, direct: true };
  let channel: ProgressPort | undefined;
  return { send: (report) => (channel ??= openProgressPort(progress)).postMessage(report), direct: false };
}

/**
 * How an attempt's progress leaves: `direct` (inline) reaches the hive in the call; a channel's
 * post races the attempt's outcome, which travels on another port, so the value the throttle
 * still holds when the attempt ends goes back inside its outcome instead.
 */
interface ProgressSender {
  send(report: ProgressReport): void;
  direct: boolean;
}

/** The per-attempt context a handler receives; its `signal` is created on first use. */
class AttemptContext implements TaskContext {
  readonly taskId: string;
  readonly attempt: number;
  readonly agentId: string;
  readonly after: readonly unknown[];
  readonly workerData: unknown;
  /** Attempt sequence; the shared flag slot `seq % flags.length` equals `seq` once aborted. */
  readonly #seq: number;
  readonly #flags: Int32Array | null;
  #controller: AbortController | undefined;
  /** True while `#abort` runs (guards against re-entry through the `aborted` override). */
  #aborting = false;
  /** Set when the attempt has settled; a pending abort watcher then stops. */
  done = false;
  readonly #deps: DependencyMirror | null;
  /** Guarded dependency calls made so far; sent back with the outcome. Undefined until the first. */
  reports: DependencyReport[] | undefined;

  readonly #stamps: StartStamps | null;
  readonly #sendProgress: ProgressSender | null;
  /** The value the throttle held when the attempt ended (threads): it goes back with the outcome. */
  unsentProgress: { value: unknown } | undefined;
  /** When the last progress report left, and the value waiting for the next (throttled). */
  #progressAt = Number.NEGATIVE_INFINITY;
  #progressTimer: ReturnType<typeof setTimeout> | undefined;
  #progressValue: unknown;

  constructor(
    message: TaskMessage,
    flags: Int32Array | null,
    deps: DependencyMirror | null,
    stamps: StartStamps | null,
    sendProgress: ProgressSender | null = null,
    workerData: unknown = undefined,
  ) {
    this.workerData = workerData;
    this.#stamps = stamps;
    this.#sendProgress = sendProgress;
    this.taskId = message.id;
    this.attempt = message.attempt;
    this.agentId = message.agentId;
    this.after = message.after ?? NO_AFTER;
    this.#seq = message.seq;
    this.#flags = flags;
    this.#deps = deps;
  }

  dependency(name: string): WorkerDependency {
    return workerDependency(this.#deps, name, this.reports ??= []);
  }

  progress(value: unknown): void {
    if (this.done || this.#sendProgress === null) return;
    try {
      structuredClone(value);
    } catch (error) {
      const e = new Error(`ctx.progress: the value cannot cross threads (${error instanceof Error ? error.message : String(error)})`);
      (e as Error & { code: string }).code = "INVALID_OPTIONS";
      throw e;
    }
    this.#progressValue = value;
    const wait = this.#progressAt + PROGRESS_INTERVAL_MS - performance.now();
    if (wait <= 0) this.#flushProgress();
    else this.#progressTimer ??= setTimeout(() => this.#flushProgress(), wait);
  }

  #flushProgress(): void {
    this.#progressTimer = undefined;
    if (this.done) return;
    this.#progressAt = performance.now();
    this.#sendProgress?.send({ taskId: this.taskId, attempt: this.attempt, value: this.#progressValue });
  }

  #flagged(): boolean {
    const flags = this.#flags;
    return flags !== null && Atomics.load(flags, this.#seq % flags.length) === this.#seq;
  }

  #abort(): void {
    const c = this.#controller;
    // Deno's abort algorithm reads `signal.aborted` (our override) before it sets the state.
    if (c === undefined || this.#aborting || isAborted(c.signal)) return;
    this.#aborting = true;
    try {
      const reason = new Error(`task ${this.taskId} attempt ${this.attempt} was aborted (timeout or cancel)`);
      reason.name = "AbortError";
      c.abort(reason);
    } finally {
      this.#aborting = false;
    }
  }

  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    const signal = controller.signal;
    const flags = this.#flags;
    if (flags === null) return signal;
    // A synchronous CPU loop never yields to the event loop, so `aborted` reads the shared flag.
    Object.defineProperty(signal, "aborted", {
      get: () => {
        if (!this.#aborting && !isAborted(signal) && this.#flagged()) this.#abort();
        return isAborted(signal);
      },
    });
    Object.defineProperty(signal, "throwIfAborted", {
      value: () => {
        if (signal.aborted) throw signal.reason;
      },
    });
    if (this.#flagged()) {
      // Aborted before the handler first looked: fire after it has had a chance to listen.
      queueMicrotask(() => this.#abort());
    } else {
      this.#watch(flags);
    }
    return signal;
  }

  /** Async handlers get the abort event without polling: wait on the shared slot. */
  #watch(flags: Int32Array): void {
    const index = this.#seq % flags.length;
    const current = Atomics.load(flags, index);
    const waitAsync = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number) => { async: boolean; value: unknown } }).waitAsync;
    if (typeof waitAsync !== "function") return;
    const result = waitAsync(flags, index, current);
    const check = (): void => {
      if (this.done) return;
      if (this.#flagged()) this.#abort();
      else this.#watch(flags);
    };
    if (result.async) (result.value as Promise<unknown>).then(check, () => {});
    else check();
  }

  /** Settles the attempt: wakes its watcher so it can stop, and marks it finished for the main thread. */
  finish(): void {
    if (this.#progressTimer !== undefined) {
      // The latest value wins, the last one too: the throttle held it, the attempt ends now.
      clearTimeout(this.#progressTimer);
      this.#progressTimer = undefined;
      if (this.#sendProgress?.direct === true) this.#flushProgress();
      else this.unsentProgress = { value: this.#progressValue };
    }
    this.done = true;
    if (this.#stamps !== null) stampEnd(this.#stamps, this.#seq);
    const flags = this.#flags;
    if (this.#controller && flags !== null) Atomics.notify(flags, this.#seq % flags.length);
  }
}

/** Loads a task module and runs attempts against it. One per thread. */
export class ThreadRuntime {
  readonly #tasksUrl: string | null;
  readonly #flags: Int32Array | null;
  readonly #deps: DependencyMirror | null;
  /** Where each attempt is stamped as it starts; null when nobody reads them (inline). */
  readonly #stamps: StartStamps | null;
  /** Resolved handlers once loaded; undefined before. */
  #handlers: TaskHandlers | undefined;
  /** Built-in kinds on offer whose module is not loaded yet (none the task module overrides). */
  readonly #lazy = new Map<string, LazyBuiltin>(Object.entries(lazyBuiltins));
  #loading: Promise<TaskHandlers> | undefined;
  /** Loads the task module synchronously where it can (see `load-module.ts`), else undefined. */
  readonly #loadSync: ((url: string) => { default?: unknown } | undefined) | undefined;
  /** Where `ctx.progress` reports go; null when nobody listens. */
  readonly #sendProgress: ProgressSender | null;
  /** Handlers' `ctx.workerData`. */
  readonly #workerData: unknown;

  constructor(
    tasksUrl: string | null,
    abortFlags: SharedArrayBuffer | null,
    dependencyStates: SharedArrayBuffer | null = null,
    startStamps: SharedArrayBuffer | null = null,
    loadSync?: (url: string) => { default?: unknown } | undefined,
    progress: string | ((report: ProgressReport) => void) | null = null,
    workerData: unknown = undefined,
    rateChannel: string | null = null,
  ) {
    this.#workerData = workerData;
    this.#loadSync = loadSync;
    this.#sendProgress = progressSender(progress);
    this.#tasksUrl = tasksUrl;
    this.#flags = abortFlags ? new Int32Array(abortFlags) : null;
    this.#deps = dependencyStates ? new DependencyMirror(dependencyStates, rateChannel) : null;
    this.#stamps = startStamps ? startStampViews(startStamps) : null;
  }

  /**
   * Loads (once) and returns the handler table: the built-ins overlaid with the user's module.
   * When the module loads synchronously, the table is in place before this returns.
   */
  load(): Promise<TaskHandlers> {
    this.#loading ??= this.#load();
    return this.#loading;
  }

  async #load(): Promise<TaskHandlers> {
    if (this.#tasksUrl === null) return (this.#handlers = { ...builtins });
    const mod = this.#loadSync?.(this.#tasksUrl) ?? (await this.#import(this.#tasksUrl));
    const table = mod.default;
    if (table === null || typeof table !== "object") {
      throw new Error(`tasks module ${this.#tasksUrl} must default-export an object of task handlers; received ${table === null ? "null" : typeof table}`);
    }
    const handlers: TaskHandlers = { ...builtins };
    for (const [kind, handler] of Object.entries(table)) {
      if (typeof handler !== "function") {
        throw new Error(`tasks module ${this.#tasksUrl}: handler "${kind}" must be a function; received ${typeof handler}`);
      }
      handlers[kind] = handler as TaskHandler;
      this.#lazy.delete(kind);
    }
    return (this.#handlers = handlers);
  }

  async #import(url: string): Promise<{ default?: unknown }> {
    try {
      return (await import(url)) as { default?: unknown };
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      const hint = /\.ts$/.test(url) && /extension|Unknown file/i.test(detail) ? " (this runtime cannot import TypeScript: pass a .js/.mjs module, or run on Node >= 22.18 or Deno)" : "";
      throw new Error(`tasks module ${url} could not be loaded: ${detail}${hint}`);
    }
  }

  /**
   * Loads the modules of the built-ins `tasks` need that are not loaded yet: synchronously where
   * it can, else returns when they are imported. A built-in that cannot be loaded fails its tasks.
   */
  #loadBuiltins(handlers: TaskHandlers, tasks: readonly TaskMessage[]): Promise<unknown> | undefined {
    let imports: Promise<void>[] | undefined;
    for (const { kind } of tasks) {
      const builtin = this.#lazy.get(kind);
      if (builtin === undefined) continue;
      this.#lazy.delete(kind);
      const mod = this.#loadSync?.(builtin.url) as Record<string, unknown> | undefined;
      if (mod !== undefined) handlers[kind] = mod[builtin.name] as TaskHandler;
      else {
        (imports ??= []).push(
          builtin.load().then(
            (m) => {
              handlers[kind] = m[builtin.name] as TaskHandler;
            },
            (error: unknown) => {
              handlers[kind] = () => {
                throw new Error(`built-in task kind "${kind}" could not be loaded: ${error instanceof Error ? error.message : String(error)}`);
              };
            },
          ),
        );
      }
    }
    return imports && Promise.all(imports);
  }

  /** The task kinds this thread offers. */
  async describe(): Promise<Description> {
    return { kinds: [...Object.keys(await this.load()), ...this.#lazy.keys()].sort() };
  }

  /**
   * Runs a batch; synchronous handlers run in order, async ones concurrently. The buffers of
   * results returned with `transfer(value, list)` are added to `transfers` (once each), for the
   * reply to move rather than copy.
   */
  run(tasks: readonly TaskMessage[], transfers?: ArrayBuffer[]): TaskOutcome[] | Promise<TaskOutcome[]> {
    const handlers = this.#handlers;
    if (handlers === undefined) return this.load().then(() => this.run(tasks, transfers));
    if (this.#lazy.size > 0) {
      const loading = this.#loadBuiltins(handlers, tasks);
      if (loading !== undefined) return loading.then(() => this.run(tasks, transfers));
    }
    const outcomes: TaskOutcome[] = new Array(tasks.length);
    let pending: Promise<void>[] | undefined;
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!;
      const handler = handlers[task.kind];
      if (handler === undefined) {
        outcomes[i] = {
          ok: false,
          kind: "unknown-kind",
          error: { name: "Error", message: `unknown task kind ${JSON.stringify(task.kind)}` },
        };
        continue;
      }
      const ctx = new AttemptContext(task, this.#flags, this.#deps, this.#stamps, this.#sendProgress, this.#workerData);
      // The attempt's timeout runs from here, not from when its message arrived.
      if (this.#stamps !== null) stampStart(this.#stamps, task.seq, performance.timeOrigin + performance.now());
      try {
        const value = handler(task.input, ctx);
        if (value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function") {
          (pending ??= []).push(
            (value as Promise<unknown>).then(
              (v) => {
                ctx.finish();
                const outcome = settle(v, transfers);
                outcome.async = true;
                outcomes[i] = withReports(outcome, ctx);
              },
              (e: unknown) => {
                ctx.finish();
                outcomes[i] = withReports({ ok: false, kind: "handler", error: serializeError(e), async: true }, ctx);
              },
            ),
          );
        } else {
          ctx.finish();
          outcomes[i] = withReports(settle(value, transfers), ctx);
        }
      } catch (error) {
        ctx.finish();
        outcomes[i] = withReports({ ok: false, kind: "handler", error: serializeError(error) }, ctx);
      }
    }
    return pending === undefined ? outcomes : Promise.all(pending).then(() => outcomes);
  }
}

/** Attaches the attempt's dependency reports (if it made guarded calls) to its outcome. */
function withReports(outcome: TaskOutcome, ctx: AttemptContext): TaskOutcome {
  if (ctx.reports !== undefined && ctx.reports.length > 0) outcome.deps = ctx.reports;
  if (ctx.unsentProgress !== undefined) outcome.progress = ctx.unsentProgress;
  return outcome;
}

function settle(result: unknown, transfers: ArrayBuffer[] | undefined): TaskOutcome {
  let value = result;
  if (isTransferred(result)) {
    value = result.value;
    if (transfers !== undefined) buffersOf(result.list, transfers);
  }
  const bad = findUncloneable(value, "result");
  if (bad !== null) {
    return {
      ok: false,
      kind: "result",
      error: { name: "DataCloneError", message: `the handler's result cannot cross threads: ${bad.path} is ${bad.reason}` },
    };
  }
  return { ok: true, value };
}
