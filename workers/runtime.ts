/**
 * The thread-side dispatcher: loads the task module once, runs batches of attempts, and turns
 * whatever a handler returns or throws into a {@link TaskOutcome}. Shared by the Piscina entry
 * (`entry.ts`) and the comlink Web Worker entry (`web-entry.ts`). Imports nothing from `actors/`.
 *
 * @module
 */
import { builtins } from "./builtins.ts";
import { findUncloneable } from "./cloneable.ts";
import type { TaskContext, TaskHandler, TaskHandlers } from "./define.ts";
import { DependencyMirror, type WorkerDependency, workerDependency } from "./dependency.ts";
import { type DependencyReport, type Description, type SerializedError, stampEnd, stampStart, type StartStamps, startStampViews, type TaskMessage, type TaskOutcome } from "./protocol.ts";

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

/** The per-attempt context a handler receives; its `signal` is created on first use. */
class AttemptContext implements TaskContext {
  readonly taskId: string;
  readonly attempt: number;
  readonly agentId: string;
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

  constructor(message: TaskMessage, flags: Int32Array | null, deps: DependencyMirror | null, stamps: StartStamps | null) {
    this.#stamps = stamps;
    this.taskId = message.id;
    this.attempt = message.attempt;
    this.agentId = message.agentId;
    this.#seq = message.seq;
    this.#flags = flags;
    this.#deps = deps;
  }

  dependency(name: string): WorkerDependency {
    return workerDependency(this.#deps, name, this.reports ??= []);
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
  #loading: Promise<TaskHandlers> | undefined;

  constructor(tasksUrl: string | null, abortFlags: SharedArrayBuffer | null, dependencyStates: SharedArrayBuffer | null = null, startStamps: SharedArrayBuffer | null = null) {
    this.#tasksUrl = tasksUrl;
    this.#flags = abortFlags ? new Int32Array(abortFlags) : null;
    this.#deps = dependencyStates ? new DependencyMirror(dependencyStates) : null;
    this.#stamps = startStamps ? startStampViews(startStamps) : null;
  }

  /** Loads (once) and returns the handler table: the built-ins overlaid with the user's module. */
  load(): Promise<TaskHandlers> {
    this.#loading ??= this.#load();
    return this.#loading;
  }

  async #load(): Promise<TaskHandlers> {
    if (this.#tasksUrl === null) return (this.#handlers = builtins);
    let mod: { default?: unknown };
    try {
      mod = (await import(this.#tasksUrl)) as { default?: unknown };
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      const hint = /\.ts$/.test(this.#tasksUrl) && /extension|Unknown file/i.test(detail) ? " (this runtime cannot import TypeScript: pass a .js/.mjs module, or run on Node >= 22.18 or Deno)" : "";
      throw new Error(`tasks module ${this.#tasksUrl} could not be loaded: ${detail}${hint}`);
    }
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
    }
    return (this.#handlers = handlers);
  }

  /** The task kinds this thread offers. */
  async describe(): Promise<Description> {
    return { kinds: Object.keys(await this.load()).sort() };
  }

  /** Runs a batch; synchronous handlers run in order, async ones concurrently. */
  run(tasks: readonly TaskMessage[]): TaskOutcome[] | Promise<TaskOutcome[]> {
    const handlers = this.#handlers;
    if (handlers === undefined) return this.load().then(() => this.run(tasks));
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
      const ctx = new AttemptContext(task, this.#flags, this.#deps, this.#stamps);
      // The attempt's timeout runs from here, not from when its message arrived.
      if (this.#stamps !== null) stampStart(this.#stamps, task.seq, performance.timeOrigin + performance.now());
      try {
        const value = handler(task.input, ctx);
        if (value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function") {
          (pending ??= []).push(
            (value as Promise<unknown>).then(
              (v) => {
                ctx.finish();
                const outcome = settle(v);
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
          outcomes[i] = withReports(settle(value), ctx);
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
  return outcome;
}

function settle(value: unknown): TaskOutcome {
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
