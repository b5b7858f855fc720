/**
 * The hive's intake: validates tasks, gives out handles, batches submits to the Queen once per
 * turn (behind the journal's write under `every-task`), and settles each caller's promise from
 * the lifecycle events.
 *
 * @module
 */
import type { Actor } from "xstate";
import type { LifecycleEvent, queenMachine, TaskSpec } from "../../actors/queen.ts";
import type { Capabilities, Priority } from "../../actors/types.ts";
import { findNonJson, findUncloneable } from "../../workers/cloneable.ts";
import { bufferOf, buffersInside, invalidTransferItem } from "../../workers/transfer.ts";
import type { HiveClock } from "../core/clock.ts";
import { describeValue, InvalidOptionsError, InvalidTaskError, TaskCancelledError } from "../core/errors.ts";
import type { Disposer } from "../core/disposer.ts";
import { parseFor } from "../core/validation.ts";
import { errorFromResult, type HiveDurability, type TaskResult } from "./durability.ts";
import type { HiveEvent } from "./events.ts";
import type { MapResult, TaskHandle, TaskOptions, TaskProgressEvent } from "./options.ts";
import { type ParsedHiveOptions, type ParsedTask, taskSchema } from "./schema.ts";
import type { TaskCache } from "./task-cache.ts";
import { TaskTransfers } from "./transfers.ts";

/** A task built from a validated scenario (see {@link Intake.submitTrusted}). */
export interface TrustedTask {
  kind: string;
  requires: Capabilities;
  priority: Priority;
  timeoutMs?: number | undefined;
  retries?: number | undefined;
  input?: unknown;
}

/** Options of `map`: the task options shared by every input, and what to do when one fails. */
export type MapOptions<I> = Omit<TaskOptions<I>, "kind" | "input" | "id"> & { policy?: "fail-fast" | "settle" };

interface Waiter {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What `submit` returns: `accepted` is made only when asked for. */
class Handle<O> implements TaskHandle<O> {
  readonly id: string;
  readonly result: Promise<O>;
  readonly cancel: (reason?: string) => void;
  readonly #accepted: (id: string) => Promise<void>;
  readonly #onProgress: ProgressSubscribe;

  constructor(id: string, result: Promise<O>, cancel: (reason?: string) => void, accepted: (id: string) => Promise<void>, onProgress: ProgressSubscribe) {
    this.id = id;
    this.result = result;
    this.cancel = cancel;
    this.#accepted = accepted;
    this.#onProgress = onProgress;
  }

  get accepted(): Promise<void> {
    return this.#accepted(this.id);
  }

  onProgress(listener: ProgressListener): Disposer {
    return this.#onProgress(this.id, listener);
  }
}

type ProgressListener = (value: unknown, event: TaskProgressEvent) => void;
type ProgressSubscribe = (id: string, listener: ProgressListener) => Disposer;

/** `delayMs`, or `runAt` as a delay from now (wall clock): nothing when the task runs at once. */
function delayOf(t: Partial<Pick<ParsedTask, "delayMs" | "runAt">>): { delayMs?: number } {
  const ms = t.delayMs ?? (t.runAt === undefined ? 0 : Math.ceil((t.runAt instanceof Date ? t.runAt.getTime() : t.runAt) - Date.now()));
  return ms > 0 ? { delayMs: ms } : {};
}

/** What the intake needs of the hive around it. */
export interface IntakeHost {
  readonly options: ParsedHiveOptions;
  readonly clock: HiveClock;
  readonly durable: HiveDurability;
  readonly taskCache: TaskCache;
  /** The Queen, once started. */
  queen(): Actor<typeof queenMachine> | undefined;
  /** Whether the hive is running (submits written under `every-task` go to the Queen only then). */
  running(): boolean;
  /** Throws the error for work the hive does not take now (not started, draining, stopped). */
  accepting(action: string): void;
  /** The task kinds the backend runs. */
  kinds(): ReadonlySet<string>;
  /** Checks a task's `after` before it is accepted; throws InvalidTaskError. */
  checkAfter(id: string, after: readonly string[], action: string): void;
  /** A task with `after` was sent: track it until it can be released. */
  held(id: string, after: readonly string[], policy: "fail" | "settle"): void;
  publish(event: HiveEvent): void;
}

/** Submits, handles and results. */
export class Intake {
  readonly #host: IntakeHost;
  /** Callers waiting on a task's result, by id; removed when the task ends. */
  readonly #waiters = new Map<string, Waiter>();
  /** Tasks submitted since the last flush; sent to the Queen as one event in a microtask. */
  #outbox: TaskSpec[] = [];
  /** Submits waiting for their acceptance to reach the disk (`every-task`), by id. */
  readonly #unwritten = new Map<string, TaskSpec>();
  /** Of those, the ones cancelled meanwhile, with the reason. */
  readonly #cancelOnArrival = new Map<string, string>();
  /** Callers of `handle.accepted`, by id; settled on task.queued / task.rejected. */
  readonly #acceptWaiters = new Map<string, Waiter>();
  /** `handle.onProgress` listeners, by task id; dropped when the task ends. */
  readonly #progress = new Map<string, Set<ProgressListener>>();
  readonly #onProgressFn: ProgressSubscribe = (id, listener) => this.onProgress(id, listener);
  /** Inputs whose buffers move to their thread (`transfer`); the port reads it. */
  readonly transfers = new TaskTransfers();

  constructor(host: IntakeHost) {
    this.#host = host;
  }

  /** Submits on the way to the disk (`every-task`), not yet with the Queen. */
  get unwritten(): number {
    return this.#unwritten.size;
  }

  /** `hive.submit`. */
  submit<O, I>(task: TaskOptions<I>): TaskHandle<O> {
    if (task !== null && typeof task === "object" && (task.cache !== undefined || task.cacheKey !== undefined)) return this.#submitCached<O, I>(task);
    return this.#submitParsed<O>(this.validate(task, "submit task"));
  }

  /**
   * A task built from an already validated scenario — no cache, signal, id or idempotency key, a
   * known kind, an input that never crosses a thread — submitted without parsing it again. With
   * `track: false` nobody will look at its result: no handle, no promise.
   */
  submitTrusted(task: TrustedTask, track: boolean): TaskHandle<unknown> | undefined {
    if (track) return this.#submitParsed(task);
    this.#send(this.#specOf(this.#host.durable.ids.next(), task), undefined);
    return undefined;
  }

  /** Validates a task for `action`: shape, a running hive, a known kind, an input that can cross threads. */
  validate(task: unknown, action: string): ParsedTask {
    const t = parseFor(taskSchema, task, action, (m) => new InvalidTaskError(m));
    this.#host.accepting(action);
    this.#checkKind(t.kind, action);
    const bad = findUncloneable(t.input);
    if (bad !== null) throw new InvalidTaskError(`Cannot ${action}: "${bad.path}" cannot cross threads, received ${bad.reason}`);
    const remote = this.#host.options.backend === "remote";
    if (t.transfer !== undefined || remote) this.#checkBinary(t, action, remote);
    const journaled = this.#host.durable.journal !== undefined;
    if ((remote || journaled) && t.input !== undefined) {
      const notJson = findNonJson(t.input);
      if (notJson !== null) {
        throw new InvalidTaskError(
          `Cannot ${action}: "${notJson.path}" must be JSON data ${
            remote ? 'with backend "remote" (jobs travel to worker nodes as JSON)' : "in a durable hive (the journal keeps inputs as JSON, and a recovered task would run on what JSON kept)"
          }, received ${notJson.reason}: encode it (a Map as entries, a Date as its epoch ms, binary data as base64)`,
        );
      }
    }
    return t;
  }

  /** A task's `transfer` list, and binary inputs where they cannot go (a worker node: jobs are JSON). */
  #checkBinary(t: ParsedTask, action: string, remote: boolean): void {
    const inside = buffersInside(t.input);
    if (remote && inside.size > 0) {
      throw new InvalidTaskError(
        `Cannot ${action}: "input" must be JSON data with backend "remote" (jobs travel to worker nodes as JSON), received ${
          t.transfer === undefined ? "an ArrayBuffer or typed array in it" : 'one with "transfer"'
        }: encode binary data (for example base64) or use a thread backend`,
      );
    }
    const list = t.transfer;
    if (list === undefined || list.length === 0) return;
    const bad = invalidTransferItem(list);
    if (bad !== null) throw new InvalidTaskError(`Cannot ${action}: "transfer${bad.at}" ${bad.problem}`);
    list.forEach((item, i) => {
      if (!inside.has(bufferOf(item as ArrayBuffer))) {
        throw new InvalidTaskError(`Cannot ${action}: "transfer[${i}]" must be a buffer inside "input" (or a typed array over one), received one that is not in it`);
      }
    });
    const retries = t.retries ?? this.#host.options.defaults.retries;
    if (retries > 0) {
      throw new InvalidTaskError(
        `Cannot ${action}: a task with "transfer" runs its input once (it is gone from this thread once moved): "retries" must be 0, received ${retries}${
          t.retries === undefined ? ' (the hive\'s "defaults.retries")' : ""
        }`,
      );
    }
    if (this.#host.durable.journal !== undefined) {
      throw new InvalidTaskError(
        `Cannot ${action}: "transfer" is not for a durable hive (the journal keeps inputs as JSON, and a recovered task would run without its buffers), received it with a journal`,
      );
    }
  }

  #checkKind(kind: string, action: string): void {
    const kinds = this.#host.kinds();
    if (!kinds.has(kind)) throw new InvalidTaskError(`Cannot ${action}: "kind" must be one of ${[...kinds].join(", ")}, received ${JSON.stringify(kind)}`);
  }

  /** The Queen's view of a parsed task, with the hive's defaults filled in. */
  #specOf(id: string, t: ParsedTask): TaskSpec {
    const d = this.#host.options.defaults;
    return {
      id,
      kind: t.kind,
      input: t.input,
      requires: t.requires ?? {},
      priority: t.priority ?? d.priority,
      timeoutMs: t.timeoutMs ?? d.timeoutMs,
      retries: t.retries ?? d.retries,
      ...(t.deadlineMs !== undefined ? { deadlineMs: t.deadlineMs } : {}),
      ...delayOf(t),
      ...(t.after !== undefined && t.after.length > 0 ? { after: t.after, ...(t.afterPolicy !== undefined ? { afterPolicy: t.afterPolicy } : {}) } : {}),
    };
  }

  /** Journals a submit and queues it for the Queen (one event per turn for all of them). */
  #send(spec: TaskSpec, key: string | undefined): void {
    this.#host.durable.submitted(spec, key);
    this.#outbox.push(spec);
    if (this.#outbox.length === 1) queueMicrotask(this.flush);
  }

  #submitParsed<O>(t: ParsedTask): TaskHandle<O> {
    const durable = this.#host.durable;
    const key = t.idempotencyKey;
    if (key !== undefined) {
      const holder = durable.keyHolder(key); // the task that already holds the key
      if (holder !== undefined) return this.#follow<O>(holder);
    }
    const id = t.id ?? durable.ids.next();
    if (this.#waiters.has(id) || this.#unwritten.has(id) || durable.isResumed(id)) {
      throw new InvalidTaskError(`Cannot submit task: "id" must not be in use by an unfinished task, received ${JSON.stringify(id)}`);
    }
    if (t.after !== undefined && t.after.length > 0) this.#host.checkAfter(id, t.after, "submit task");
    const spec = this.#specOf(id, t);
    if (t.transfer !== undefined && t.transfer.length > 0) this.transfers.set(t.input as object, t.transfer.map((item) => bufferOf(item as ArrayBuffer)));
    const result = new Promise<O>((resolve, reject) => {
      this.#waiters.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    // A caller that never looks at `result` must not crash the process with an unhandled rejection.
    result.catch(() => {});
    const cancel = (reason = "cancelled by the caller"): void => this.cancel(id, reason);
    const handle = new Handle<O>(id, result, cancel, this.#acceptedFn, this.#onProgressFn);
    const signal = t.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#waiters.get(id)!.reject(new TaskCancelledError(`Task ${id} was cancelled: its signal was already aborted`, { taskId: id }));
        this.#waiters.delete(id);
        const accepted = Promise.reject(new TaskCancelledError(`Task ${id} was not submitted: its signal was already aborted`, { taskId: id }));
        accepted.catch(() => {});
        return { id, result, cancel: () => {}, accepted, onProgress: (l) => this.onProgress(id, l) };
      }
      const onAbort = (): void => cancel(`its signal aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ""}`);
      signal.addEventListener("abort", onAbort, { once: true });
      const off = (): void => signal.removeEventListener("abort", onAbort);
      result.then(off, off);
    }
    this.#send(spec, key);
    if (spec.after !== undefined) this.#host.held(id, spec.after, spec.afterPolicy ?? "fail");
    return handle;
  }

  /** Cancels task `id` (`handle.cancel`). */
  cancel(id: string, reason: string): void {
    this.flush();
    // Under every-task a submit may still be on its way to the disk: it is cancelled on arrival.
    if (this.#unwritten.has(id)) this.#cancelOnArrival.set(id, reason);
    else this.#host.queen()?.send({ type: "queen.cancel", id, reason, at: this.#host.clock.now() });
  }

  readonly #acceptedFn = (id: string): Promise<void> => this.#acceptedOf(id);

  /** `handle.accepted` of task `id`. */
  #acceptedOf(id: string): Promise<void> {
    const durable = this.#host.durable;
    const done = durable.finished(id);
    if (done !== undefined) return done.state === "rejected" ? Promise.reject(errorFromResult(done)) : Promise.resolve();
    const journal = durable.journal;
    if (this.#host.queen()?.getSnapshot().context.tasks.has(id) === true) return journal === undefined ? Promise.resolve() : journal.written();
    if (!this.#waiters.has(id) && !this.#unwritten.has(id)) return Promise.resolve();
    let w = this.#acceptWaiters.get(id);
    const p = new Promise<void>((resolve, reject) => {
      const prior = w;
      w = { resolve: (v) => (prior?.resolve(v), resolve()), reject: (e) => (prior?.reject(e), reject(e)) };
    });
    this.#acceptWaiters.set(id, w!);
    return p;
  }

  /** A handle on the task that already holds an idempotency key. */
  #follow<O>(id: string): TaskHandle<O> {
    const durable = this.#host.durable;
    const done = durable.finished(id);
    const settle = (r: TaskResult): O => {
      if (r.state === "completed") return r.value as O;
      throw errorFromResult(r);
    };
    const journal = durable.journal;
    const result = done !== undefined
      ? Promise.resolve(done).then(settle)
      : durable.whenFinished(id).then(async (r) => (journal?.durability === "every-task" ? (await journal.written(), settle(r)) : settle(r)));
    result.catch(() => {});
    return { id, result, cancel: (reason = "cancelled by the caller") => this.cancel(id, reason), accepted: this.#acceptedOf(id), onProgress: (l) => this.onProgress(id, l) };
  }

  /** Whether task `id` is submitted and has not ended. */
  isOpen(id: string): boolean {
    this.flush();
    return this.#waiters.has(id) || this.#unwritten.has(id) || this.#host.queen()?.getSnapshot().context.tasks.has(id) === true;
  }

  /** `hive.result(id)`. */
  result(id: string): Promise<TaskResult | undefined> {
    if (typeof id !== "string" || id.length === 0) throw new InvalidTaskError(`Cannot get a task result: "id" must be a non-empty string, received ${describeValue(id)}`);
    const durable = this.#host.durable;
    const done = durable.finished(id);
    if (done !== undefined) return Promise.resolve(done);
    const open = this.#waiters.has(id) || this.#unwritten.has(id) || this.#host.queen()?.getSnapshot().context.tasks.has(id) === true;
    return open ? durable.whenFinished(id) : Promise.resolve(undefined);
  }

  /** `hive.map`. */
  async map<O, I>(kind: string, inputs: readonly I[], options: MapOptions<I>): Promise<O[] | MapResult<O>[]> {
    if (!Array.isArray(inputs)) throw new InvalidTaskError(`Cannot map tasks: "inputs" must be an array, received ${describeValue(inputs)}`);
    if (options === null || typeof options !== "object") throw new InvalidTaskError(`Cannot map tasks: options must be an object { policy, ...task options }, received ${describeValue(options)}`);
    const { policy = "fail-fast", ...rest } = options;
    if (policy !== "fail-fast" && policy !== "settle") throw new InvalidTaskError(`Cannot map tasks: "policy" must be one of fail-fast, settle, received ${describeValue(policy)}`);
    // Validate every task before any runs: a bad input leaves nothing half-submitted.
    const tasks = inputs.map((input) => ({ ...rest, kind, input }) as TaskOptions<I>);
    tasks.forEach((t, i) => this.validate(t, `map task ${i}`));
    const handles = tasks.map((t) => this.submit<O, I>(t));
    if (policy === "settle") {
      const settled = await Promise.allSettled(handles.map((h) => h.result));
      return settled.map((r) => (r.status === "fulfilled" ? { ok: true as const, value: r.value } : { ok: false as const, error: r.reason as Error }));
    }
    try {
      return await Promise.all(handles.map((h) => h.result));
    } catch (error) {
      for (const h of handles) h.cancel("another task of its group failed (fail-fast)");
      throw error;
    }
  }

  /** A cached submit: answers from the cache or joins an identical task in flight, else submits. */
  #submitCached<O, I>(task: TaskOptions<I>): TaskHandle<O> {
    const { cache: _cache, cacheKey: _key, signal, ...plain } = task;
    // Validate the task and the hive's state now, as an uncached submit would.
    const t = parseFor(taskSchema, plain, "submit task", (m) => new InvalidTaskError(m));
    const host = this.#host;
    const entry = host.taskCache.keyOf(task);
    if (entry === undefined) return this.submit<O, I>(signal === undefined ? plain : { ...plain, signal });
    host.accepting("submit task");
    this.#checkKind(t.kind, "submit task");
    const id = plain.id ?? host.durable.ids.next();
    const controller = new AbortController();
    const result = host.taskCache.run<O>(entry, t.kind, () => this.submit<O, I>({ ...plain, id }), controller.signal, (e) => host.publish(e));
    result.catch(() => {});
    const cancel = (reason = "cancelled by the caller"): void => {
      controller.abort(new TaskCancelledError(`Task ${id} was cancelled: ${reason}`, { taskId: id }));
    };
    if (signal !== undefined) {
      if (signal.aborted) cancel("its signal was already aborted");
      else signal.addEventListener("abort", () => cancel("its signal aborted"), { once: true });
    }
    // A cached task is answered from the cache or joins one in flight: accepted as soon as asked.
    return { id, result, cancel, accepted: Promise.resolve(), onProgress: (l) => this.onProgress(id, l) };
  }

  /** Sends buffered submits to the Queen (one event for the batch). */
  readonly flush = (): void => {
    if (this.#outbox.length === 0) return;
    const tasks = this.#outbox;
    this.#outbox = [];
    const host = this.#host;
    const journal = host.durable.journal;
    if (journal?.durability === "every-task") {
      // Write-ahead: the Queen hears of them once their acceptance is on disk.
      for (const t of tasks) this.#unwritten.set(t.id, t);
      journal.afterWrite(() => {
        const ready = tasks.filter((t) => this.#unwritten.delete(t.id)); // stop() forgets them: they stay open in the journal
        if (ready.length === 0 || !host.running()) return;
        const at = host.clock.now();
        const queen = host.queen();
        queen?.send({ type: "queen.submit", tasks: ready, at });
        for (const t of ready) {
          const reason = this.#cancelOnArrival.get(t.id);
          if (reason === undefined) continue;
          this.#cancelOnArrival.delete(t.id);
          queen?.send({ type: "queen.cancel", id: t.id, reason, at });
        }
      });
      return;
    }
    host.queen()?.send({ type: "queen.submit", tasks, at: host.clock.now() });
  };

  /** A lifecycle observer: settles `handle.accepted` on task.queued / task.rejected. */
  readonly observe = (event: LifecycleEvent): void => {
    if (this.#acceptWaiters.size === 0 || (event.type !== "task.queued" && event.type !== "task.rejected")) return;
    const w = this.#acceptWaiters.get(event.taskId);
    if (w === undefined) return;
    this.#acceptWaiters.delete(event.taskId);
    const journal = this.#host.durable.journal;
    if (event.type === "task.rejected") w.reject(event.error);
    else if (journal === undefined || journal.durability === "every-task") w.resolve(undefined);
    else journal.afterWrite(() => w.resolve(undefined));
  };

  /** `handle.onProgress`: listens to the task's progress reports until it ends. */
  onProgress(id: string, listener: ProgressListener): Disposer {
    if (typeof listener !== "function") throw new InvalidOptionsError(`Cannot listen to task progress: "listener" must be a function, received ${describeValue(listener)}`);
    let set = this.#progress.get(id);
    if (set === undefined) this.#progress.set(id, set = new Set());
    set.add(listener);
    const off = (): void => {
      set.delete(listener);
      if (set.size === 0 && this.#progress.get(id) === set) this.#progress.delete(id);
    };
    return Object.assign(off, { [Symbol.dispose]: off });
  }

  /** Hands a progress report to the task's listeners (each isolated: one that throws harms nobody). */
  progress(event: TaskProgressEvent): void {
    const set = this.#progress.get(event.taskId);
    if (set === undefined) return;
    for (const listener of [...set]) {
      queueMicrotask(() => {
        try {
          listener(event.value, event);
        } catch {
          // A listener's own failure is its own.
        }
      });
    }
  }

  /** Settles the caller's `result` when its task ends (the event is delivered). */
  settle(event: LifecycleEvent): void {
    if (this.#progress.size > 0 && "taskId" in event && event.type !== "task.queued" && event.type !== "task.started" && event.type !== "task.retrying") this.#progress.delete(event.taskId);
    switch (event.type) {
      case "task.completed":
        this.#take(event.taskId)?.resolve(event.value);
        break;
      case "task.deadLettered": // the caller gets the last attempt's error
      case "task.failed":
      case "task.shed":
      case "task.cancelled":
      case "task.rejected":
        this.#take(event.taskId)?.reject(event.error);
        break;
    }
  }

  #take(id: string): Waiter | undefined {
    const w = this.#waiters.get(id);
    if (w !== undefined) this.#waiters.delete(id);
    return w;
  }

  /** On stop: submits still on their way to the disk stay open in the journal; the Queen never hears of them. */
  forgetUnwritten(): void {
    this.#unwritten.clear();
  }

  /** On stop: every caller still waiting gets TASK_CANCELLED. */
  cancelWaiting(): void {
    for (const [id, w] of this.#waiters) w.reject(new TaskCancelledError(`Task ${id} was cancelled: the hive stopped`, { taskId: id }));
    this.#waiters.clear();
  }
}
