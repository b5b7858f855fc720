/**
 * What a hive is made from and what it hands back: the options of `createHive` (their defaults
 * beside their types, applied by the schema in `schema.ts`), agents, tasks and task handles, and
 * how they become an execution backend's context.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import type { AllocationOption } from "../../actors/allocation-strategies.ts";
import type { Capabilities, Priority } from "../../actors/types.ts";
import type { TransferItem } from "../../workers/transfer.ts";
import type { BackendName } from "../backends/registry.ts";
import type { BackendContext, BackendFactory, DependencyChannel, ProgressChannel } from "../backends/types.ts";
import type { RemoteOptions } from "../backends/remote/options.ts";
import type { HiveClock } from "../core/clock.ts";
import type { Disposer } from "../core/disposer.ts";
import type { AgentBreakerOptions } from "./agent-breakers.ts";
import type { HiveJournalOptions } from "./durability.ts";
import type { Durability } from "../journal/journal.ts";
import type { HiveInspectOption } from "./inspect.ts";
import type { ParsedHiveOptions } from "./schema.ts";
import type { HiveCacheOptions, HiveStoreOption, TaskCacheOption } from "./task-cache.ts";

/** Key of {@link Hive}'s internal trusted submit (not exported from the package). */
export const submitTrusted: unique symbol = Symbol("apiary.submitTrusted");

/** A task built from a validated scenario (see {@link Hive}'s `[submitTrusted]`). */
export interface TrustedTask {
  kind: string;
  requires: Capabilities;
  priority: Priority;
  timeoutMs?: number | undefined;
  retries?: number | undefined;
  input?: unknown;
}

/** A swarm agent: what it can do and how many attempts it runs at once. */
export interface AgentOptions {
  /** Unique id. */
  id: string;
  /** Capability name → level in [0, 1]. @default {} */
  capabilities?: Capabilities;
  /** Attempts it runs at once. @default 1 */
  concurrency?: number;
  /** Overrides `supervision.restart` for this agent. */
  restart?: "permanent" | "transient" | "temporary";
}

/** Options of {@link createHive}. */
export interface HiveOptions {
  /**
   * The task handler module (worker side): a URL, or a path resolved against the working
   * directory. Its default export maps task kind → handler. The built-ins (`energy`,
   * `montecarlo`, `burn`, `echo`) are always available. On Node the module must be JavaScript
   * unless Node can strip types (>= 22.18).
   */
  tasks?: URL | string;
  /** The swarm. At least one agent, unless `backend` is `"remote"`: worker nodes bring theirs. */
  agents: AgentOptions[];
  /**
   * Execution backend: the name of one apiary ships, or a factory that makes a backend of your
   * own from the hive's {@link BackendContext} (see the README's "Execution backends"). A named
   * backend's module — and its dependencies — is imported only when the hive starts.
   * `piscina` and `comlink` run handlers on worker threads: a handler that
   * ignores its abort has its thread terminated `abortGraceMs` after its timeout, and one that
   * exits fails `WORKER_CRASHED`; either way the thread is replaced. Out of memory is
   * `WORKER_CRASHED` on Node; on Deno, Piscina settles it only at its timeout, and comlink's Web
   * Workers have no memory limit, so there it ends the process. On Deno 2.9 a terminated thread
   * stuck in a synchronous loop keeps its core busy until the process ends (a Deno bug); with
   * `piscina` the process still exits after `stop()`, with `comlink` it does not.
   * `inline` runs synchronous handlers on the main thread, where they cannot be cut short: a
   * timeout ends, for its caller, a task whose handler awaits past it, but a synchronous handler
   * blocks the hive (its timer included) until it returns, and one that never returns hangs the
   * process.
   * A factory that throws, or returns something without every member of `ExecutionBackend`,
   * fails `start()` with INVALID_OPTIONS naming "backend".
   * @default "piscina" (on Node and on Deno)
   */
  backend?: BackendName | BackendFactory;
  /**
   * Worker threads, a fixed pool: the same as `minThreads` and `maxThreads` both `threads`.
   * @default the number of CPUs
   */
  threads?: number;
  /**
   * Fewest worker threads of a pool that grows and shrinks (not with `threads`): it starts this
   * many, starts more while work waits for a thread, up to `maxThreads`, and lets a thread idle
   * for `idleTimeoutMs` go, down to this many. `piscina` and `comlink`.
   * @default 1 when `maxThreads` is set
   */
  minThreads?: number;
  /** Most worker threads (see `minThreads`). @default the number of CPUs (or `minThreads`, if more) */
  maxThreads?: number;
  /** How long a thread above `minThreads` may idle before it stops, ms. @default 60000 */
  idleTimeoutMs?: number;
  /**
   * Data every worker thread gets, as handlers' `ctx.workerData` (structured-cloneable; cloned
   * into each thread once). On `inline`, the value itself. @default undefined
   */
  workerData?: unknown;
  /**
   * The worker threads' `process.env` (Node's `Worker` `env` option): only these variables.
   * `piscina`, and `comlink` on Node; refused where threads are Web Workers (Deno, browsers) and on
   * `inline`. @default a copy of the process's environment as each thread starts
   */
  env?: Record<string, string>;
  /**
   * Node flags of the worker threads (Node's `Worker` `execArgv`), e.g. `["--enable-source-maps"]`.
   * Node refuses V8 flags per thread (`--max-old-space-size`, …: `start()` fails INVALID_OPTIONS
   * naming "execArgv"); heap limits go in `resourceLimits`. Same backends as `env`.
   * @default the process's own `execArgv`
   */
  execArgv?: string[];
  /** Most attempts one message to a thread carries. @default 32 */
  maxBatch?: number;
  /** How long an aborted attempt may run on before its thread is terminated, ms. @default 1000 */
  abortGraceMs?: number;
  /** How long `start()` may take to load the task module, ms. @default 30000 */
  startTimeoutMs?: number;
  /** V8 limits per worker thread (Piscina backend). */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number; stackSizeMb?: number };
  /** Defaults for tasks that do not say. */
  defaults?: {
    /** Attempt timeout, ms. Every attempt has one. @default 30000 */
    timeoutMs?: number;
    /** Further attempts after a failed one. @default 0 */
    retries?: number;
    /** @default "normal" */
    priority?: Priority;
  };
  /** The ready queue. */
  queue?: {
    /** Most tasks waiting (not running); over it a task is rejected with QUEUE_FULL. @default 100000 */
    maxQueued?: number;
    /** Every `agingMs` a waiting task rises one priority rank, ms. @default 5000 */
    agingMs?: number;
    /**
     * Over `maxQueued`: `reject` the newcomer (QUEUE_FULL), or `shed-lowest` — drop the newest
     * waiting task of a lower priority (it ends `shed` with QUEUE_FULL) to take the newcomer.
     * @default "reject"
     */
    overflow?: "reject" | "shed-lowest";
  };
  /** Backoff between a failed attempt and its retry: exponential from `minMs` to `maxMs`, ± `jitter`. */
  retry?: {
    /** Delay before the first retry, ms. @default 100 */
    minMs?: number;
    /** Longest delay, ms. @default 10000 */
    maxMs?: number;
    /** Relative jitter in [0, 1], drawn from the seeded generator. @default 0.2 */
    jitter?: number;
  };
  /**
   * How crashed agents are restarted (Erlang/OTP semantics). An agent crashes after `failAfter`
   * failed attempts in a row (thrown, timed out, or their thread died), or on `failAgent()`.
   */
  supervision?: {
    /** Who restarts with a crashed agent. @default "one-for-one" */
    strategy?: "one-for-one" | "one-for-all" | "rest-for-one";
    /** `permanent` and `transient` agents are restarted after a crash; `temporary` ones leave. @default "permanent" */
    restart?: "permanent" | "transient" | "temporary";
    /** More than this many restarts within `withinMs` escalates: the hive is degraded. @default 5 */
    maxRestarts?: number;
    /** The restart-intensity window, ms. @default 60000 */
    withinMs?: number;
    /** Backoff before a crashed agent comes back. */
    backoff?: {
      /** @default 100 */
      minMs?: number;
      /** @default 10000 */
      maxMs?: number;
      /** Relative jitter in [0, 1], seeded. @default 0.2 */
      jitter?: number;
      /** A restart this long after the last one starts the backoff over, ms. @default 30000 */
      resetAfterMs?: number;
    };
    /**
     * Failed attempts in a row blamed on the agent — it fails where other agents succeed at the
     * same kind of work (see the README's "Blame") — that count as a crash. A task's own failures
     * (a poison task or kind) never crash an agent. @default 5
     */
    failAfter?: number;
    /**
     * What follows an escalation (more than `maxRestarts` within `withinMs`; the hive is
     * `degraded`). `restart`: after `cooldownMs` the agents it failed restart with backoff on a
     * fresh intensity window, and `degraded` clears once the first is back (`hive.healed`), as
     * an OTP application's top supervisor is restarted. `stop`: they stay failed for good (until
     * `hive.heal()`). @default { action: "restart", cooldownMs: 30000 }
     */
    escalation?: {
      /** @default "restart" */
      action?: "restart" | "stop";
      /** How long the hive stays degraded before the swarm restarts, ms. @default 30000 */
      cooldownMs?: number;
    };
  };
  /**
   * Who gets each task among the agents that can take it now. Eligibility is decided first and
   * the same for every strategy: every required capability at or above the level asked, a free
   * slot, and a breaker that lets an attempt through (closed, or half-open with no attempt
   * running). Among those:
   * - `"scored"`: the best capability score — capability fit 0.4, free share of slots 0.3,
   *   health 0.2, another agent than the last attempt's 0.1 — exact ties broken by a seeded draw;
   * - `"least-loaded"`: the most free slots relative to concurrency (ties by a seeded draw);
   * - `"round-robin"`: the next agent in declaration order after the one picked last;
   * - `"weighted-random"`: a seeded draw, each agent with probability proportional to its score;
   * - a function `(task, agents, context) => agentId | { agentId, reason } | undefined`, given
   *   frozen views of the task (id, kind, requires, priority, attempt, avoid) and of the
   *   candidates (id, capabilities, concurrency, busy, health, breaker), and `context.random()`
   *   (seeded) and `context.meanLatencyMs`. `undefined` leaves the task queued (at the head of
   *   its queue; it is offered again at the next placement: a task arrives, an attempt ends, an
   *   agent or breaker comes back). If it throws or names an agent it was not given, the
   *   `scored` strategy places the task, the decision's `fallback` says why, and the first such
   *   fallback of each function is published as `allocation.fallback`.
   *
   * The built-ins other than `scored` also prefer another agent than the last attempt's for a
   * retry. Each decision (`allocation.decided`, `explain()`) names its `strategy`. Change it on a
   * running hive with {@link Hive.setAllocation}.
   * @default "scored"
   */
  allocation?: AllocationOption;
  /**
   * Per-kind dispatch limits: task kind → `{ max, perMs }`. At most `max` attempts of that kind
   * start on an agent in any window of `perMs` ms on the hive clock (retries count); the rest
   * wait queued — in priority order, aging included — and go as the window frees, on a timer.
   * Tasks of other kinds are not held back. A waiting attempt's `timeoutMs` has not started
   * (its `deadlineMs` has). `max` is an integer from 1 to 1,000,000, `perMs` from 1 to
   * 2147483647. Windows are not saved: a recovered hive starts them empty. @default none
   */
  limits?: Record<string, { max: number; perMs: number }>;
  /**
   * The actor clock, e.g. XState's `SimulatedClock`. Its optional `epochMs` is the wall time at
   * its 0 (epoch ms), which cron schedules read; without it, the real time when the hive is made.
   * @default real time
   */
  clock?: { now?(): number; setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown; clearTimeout(id: unknown): void; epochMs?: number | undefined };
  /** Seed for tie-breaks. @default 1 */
  seed?: number;
  /**
   * One circuit breaker per agent: consecutive failed attempts (or a failure rate) open it, and
   * an open agent gets no work until `resetTimeoutMs` has passed; then one probe attempt decides.
   * `false` turns agent breakers off. @default { consecutiveFailures: 5, resetTimeoutMs: 30000 }
   */
  breaker?: AgentBreakerOptions | false;
  /** The result cache for tasks with `cache` or `cacheKey`. @default in memory, 10000 entries, no expiry */
  cache?: HiveCacheOptions;
  /** Where the cache persists: a store, or `{ dir }` for a file store. @default none (see `cache.persist`) */
  store?: HiveStoreOption;
  /**
   * An XState inspect observer (e.g. `startInspector().inspect`), or a trace to record:
   * `{ file, sanitize?, types?, sample? }` writes the inspection stream as JSON lines (closed on stop).
   */
  inspect?: HiveInspectOption;
  /** Keep metrics (`hive.metrics()`, `hive.metricsText()`, `hive.serve()`). @default true */
  metrics?: boolean;
  /**
   * Journal every task transition to the store (a file store in `.apiary/journal` without one):
   * `none` keeps no journal; `batched` writes transitions in groups (fsynced) at most
   * `journal.flushMs` apart — a crash loses at most that window; `every-task` writes ahead: a
   * task runs only once its acceptance is on disk and its result is delivered only once its end
   * is. See the README's "Crash recovery".
   * @default "none" ("every-task" with `recover: true`)
   */
  durability?: Durability;
  /**
   * Resume from the journal: tasks accepted and not finished are queued again (priority and
   * attempt count kept, retry backoffs re-armed), finished ones answer `result(id)`, agents come
   * back with their restart counts and pending restart backoffs. Without it an existing journal
   * is discarded. @default false
   */
  recover?: boolean;
  /** Tuning of the journal. */
  journal?: HiveJournalOptions;
  /**
   * The cluster of worker nodes of the `remote` backend (required with it): the Redis they meet
   * on and how the coordinator watches them. See the README's "Scaling out".
   */
  remote?: RemoteOptions;
  /** The event bus behind `hive.on`. */
  events?: {
    /** How many of the last events to keep for listeners that subscribe with `{ replay: true }`. @default 0 */
    replay?: number;
  };
}

/** Options of {@link Hive.serve}. */
export interface HiveServeOptions {
  /** TCP port; `0` picks a free one. @default 9464 (as `apiary serve`) */
  port?: number;
  /** Interface to bind. Anything but loopback exposes the metrics to the network. @default "127.0.0.1" */
  host?: string;
  /** Closes the server when aborted. */
  signal?: AbortSignal;
}

/** A task to submit. */
export interface TaskOptions<I = unknown> {
  /** Handler name in the task module. */
  kind: string;
  /** The handler's input; must be structured-cloneable (no functions or symbols). */
  input?: I;
  /**
   * Buffers inside `input` to move to the worker thread instead of copying them: `ArrayBuffer`s,
   * or typed arrays / `DataView`s (their whole buffer moves). Once the task is sent they are
   * detached here (`byteLength` 0). The input then exists only on its thread, so the task runs
   * once: `retries` must be 0, and a run lost with its thread fails (WORKER_CRASHED) instead of
   * running again. Not for a durable hive or the `remote` backend (INVALID_TASK); on `inline`
   * nothing moves (same thread) and the buffers stay usable. A handler returns its result the same
   * way with `transfer(value, list)` from `apiary/worker`.
   * @default none (the input is copied)
   */
  transfer?: readonly TransferItem[];
  /** Capability name → minimum level an agent needs. @default {} */
  requires?: Capabilities;
  /** @default the hive's `defaults.priority` */
  priority?: Priority;
  /**
   * Bound on one attempt's own run, ms: from when it starts running on a thread to its end
   * (start-to-close); time spent waiting for a slot or a thread does not count. On timeout the
   * attempt is aborted and the task retried (or dead-lettered) with TASK_TIMEOUT.
   * @default the hive's `defaults.timeoutMs`
   */
  timeoutMs?: number;
  /**
   * Bound on the whole task, ms: from submit to its end, queueing, retries and backoffs
   * included. Past it the task ends `failed` with TASK_TIMEOUT wherever it is (a running attempt
   * is aborted). @default none
   */
  deadlineMs?: number;
  /**
   * Accept the task now, run it no sooner than this many ms from now (on the hive clock, so a
   * simulation drives it in virtual time). Journaled: a recovered hive keeps what is left of it.
   * The task counts as queued meanwhile. @default 0
   */
  delayMs?: number;
  /** Like `delayMs`, as a moment: epoch ms or a `Date` (a moment past runs at once). Not with `delayMs`. */
  runAt?: number | Date;
  /**
   * Ids of tasks this one runs after: it is accepted at once and waits until they have all ended,
   * then reads their values as `ctx.after` (in this order). If one does not complete, this task
   * ends `failed` with DEPENDENCY_FAILED naming it — unless `afterPolicy` is `"settle"`, when it
   * runs anyway and `ctx.after[i]` is `{ ok, value }` or `{ ok: false, error: { code, message } }`.
   * Each id must name a task the hive knows (unfinished, or finished and kept); journaled, so a
   * recovered hive keeps the graph. @default none
   */
  after?: string[];
  /** See `after`. @default "fail" */
  afterPolicy?: "fail" | "settle";
  /** Further attempts after a failed one (re-allocated, preferring another agent). */
  retries?: number;
  /** Task id; must not be in use by an unfinished task. @default generated */
  id?: string;
  /** Aborting it cancels the task. */
  signal?: AbortSignal;
  /**
   * Memoise the result under `kind` + a stable hash of `input` (`true`), optionally with a TTL
   * (ms) and tags to invalidate by. Identical tasks in flight at once run once. @default false
   */
  cache?: TaskCacheOption;
  /** Memoise the result under this key (no `/`, `\` or `..`); implies `cache`. */
  cacheKey?: string;
  /**
   * A task submitted again with the key of a task that is running or finished (and kept, see
   * `journal.retentionMs`) does not run again: the handle follows the first one. Keys survive a
   * restart with `recover: true`. Keys of tasks rejected, shed or cancelled are free again.
   */
  idempotencyKey?: string;
}

/** What `submit` returns. */
export interface TaskHandle<O = unknown> {
  /** The task id. */
  readonly id: string;
  /** Resolves to the handler's output; rejects with an {@link ApiaryError}. */
  readonly result: Promise<O>;
  /** Cancels the task (queued or running); its result rejects with TASK_CANCELLED. */
  cancel(reason?: string): void;
  /**
   * Resolves once the hive has accepted the task — with a journal, once its acceptance is on
   * disk, so it survives a crash; rejects when it was rejected (QUEUE_FULL, HIVE_STOPPED).
   */
  readonly accepted: Promise<void>;
  /**
   * Calls `listener` with each value the task's handler reports with `ctx.progress(value)`
   * (throttled to one per 100 ms per attempt), until the task ends.
   * @returns a function that removes the listener (also `Symbol.dispose`-able)
   */
  onProgress(listener: (value: unknown, event: TaskProgressEvent) => void): Disposer;
}

/** A handler's `ctx.progress(value)`, as `task.progress` events and `handle.onProgress` deliver it. */
export interface TaskProgressEvent {
  type: "task.progress";
  taskId: string;
  kind: string;
  attempt: number;
  value: unknown;
  /** Hive clock, ms. */
  at: number;
}

/** One entry of `map(…, { policy: "settle" })`. */
export type MapResult<O> = { ok: true; value: O } | { ok: false; error: Error };

/** Resolves the `tasks` option to a URL string. */
export function tasksUrl(tasks: URL | string | undefined): string | null {
  if (tasks === undefined) return null;
  if (tasks instanceof URL) return tasks.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(tasks) && !/^[a-z]:[\\/]/i.test(tasks)) return new URL(tasks).href;
  return pathToFileURL(tasks).href;
}

/**
 * The pool's size from `threads` (fixed) or `minThreads` / `maxThreads`: `threads` is the most,
 * `minThreads` the fewest when they differ. Without either bound, the number of CPUs (fixed);
 * with `maxThreads` alone the pool starts at 1, with `minThreads` alone it grows up to the number
 * of CPUs (or `minThreads`, if more).
 */
export function threadCounts(options: Pick<ParsedHiveOptions, "threads" | "minThreads" | "maxThreads">): { threads: number; minThreads?: number } {
  if (options.threads !== undefined) return { threads: options.threads };
  const cpus = Math.max(1, availableParallelism());
  if (options.minThreads === undefined && options.maxThreads === undefined) return { threads: cpus };
  const max = options.maxThreads ?? Math.max(cpus, options.minThreads ?? 1);
  const min = options.minThreads ?? 1;
  return min === max ? { threads: max } : { threads: max, minThreads: min };
}

/** What the hive's options give the backend it makes. */
export function backendContext(options: ParsedHiveOptions, dependencies: DependencyChannel, clock: HiveClock, progress: ProgressChannel): BackendContext {
  return {
    tasksUrl: tasksUrl(options.tasks),
    ...threadCounts(options),
    ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    ...(options.workerData !== undefined ? { workerData: options.workerData } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.execArgv !== undefined ? { execArgv: options.execArgv } : {}),
    maxBatch: options.maxBatch,
    abortGraceMs: options.abortGraceMs,
    startTimeoutMs: options.startTimeoutMs,
    resourceLimits: options.resourceLimits,
    dependencies,
    clock,
    progress,
    remote: options.remote,
    recover: options.recover === true,
  };
}
