/**
 * The contract every execution backend implements — the built-in ones (piscina, comlink, inline),
 * the simulation's, and a user's own. The Worker actor drives it; a backend knows nothing of
 * actors. `test/backend-conformance.ts` is the same contract as a test suite: a new backend
 * passes it.
 *
 * @module
 */
import type { DependencyReport, ProgressReport } from "../../workers/protocol.ts";
import type { HiveClock } from "../core/clock.ts";
import type { ApiaryError } from "../core/errors.ts";
import type { ResolvedRemoteOptions } from "./remote/options.ts";

/**
 * How a backend connects the handlers it runs to the hive's dependency breakers
 * (`ctx.dependency(name)` in a handler): the shared state buffer every thread reads, and where
 * the reports that come back with outcomes go. A backend whose handlers make no guarded calls
 * may ignore it.
 */
export interface DependencyChannel {
  /** The breakers' states, mirrored for threads (see `workers/dependency.ts`). */
  readonly states: SharedArrayBuffer;
  /** Hands the guarded calls an attempt made (in any order, any time after they ended) to the breakers. */
  onReports(reports: readonly DependencyReport[]): void;
  /**
   * A backend whose handlers run beyond this machine (the `remote` backend's worker nodes) hands
   * over the store that counts rate-limited calls for all of them; the main thread's calls are
   * then counted there too, instead of in this machine's shared memory.
   */
  shareRates?(store: RateStore): void;
  /**
   * Where threads ask for calls of limits counted beyond their process (`RateRequest`s on
   * a `BroadcastChannel` of this name): set by a worker node, whose main thread asks the store.
   */
  readonly rateChannel?: string | undefined;
}

/** Counts rate-limited dependency calls where every process that makes them shares it (Redis, for worker nodes). */
export interface RateStore {
  /** Takes one call of `name`'s window now: 0 when taken, else ms until one may free (rejects when the store cannot be asked). */
  take(name: string, limit: { max: number; perMs: number }): Promise<number>;
}

/**
 * Where handlers' `ctx.progress(value)` reports go: thread backends hand `name` to their threads,
 * which post on a `BroadcastChannel` of that name the hive listens on; a backend that runs
 * handlers on the main thread calls `deliver`.
 */
export interface ProgressChannel {
  readonly name: string;
  deliver(report: ProgressReport): void;
}

/** One task attempt handed to a backend. */
export interface Attempt {
  /** The task id (`ctx.taskId` in the handler). */
  id: string;
  /** Unique per hive; identifies the attempt for {@link ExecutionBackend.abort}. */
  seq: number;
  /** The handler's name in the task module. */
  kind: string;
  /** The handler's input (structured-cloneable). */
  input: unknown;
  /** 1 for the first attempt of a task, 2 for its first retry, … (`ctx.attempt`). */
  attempt: number;
  /** The agent whose slot runs it (`ctx.agentId` in the handler). */
  agentId: string;
  /** Outcomes of the tasks it ran after (`after`), in order (`ctx.after`); absent without `after`. */
  after?: unknown[] | undefined;
  /** Its own run's bound, ms (the Worker enforces it; a backend may use it to decide when a start is worth reporting early). */
  timeoutMs: number;
  /**
   * Its start is wanted as soon as it is known — its kind's dispatch limit (`limits`) waits for
   * it before the next of the kind goes: a backend that holds start reports back to batch them
   * (the `remote` backend's nodes) sends this one at once.
   */
  reportStart?: boolean | undefined;
  /**
   * Buffers inside `input` to move to the thread rather than copy (the task's `transfer`); absent
   * for most tasks. Once moved they are detached here: the attempt cannot be sent again.
   */
  transfer?: readonly ArrayBuffer[] | undefined;
}

/**
 * How an attempt ended, as the backend reports it: the handler's value, or an
 * {@link ApiaryError} — `TASK_FAILED` when the handler threw (the thrown error, or its `name` and
 * `message`, in `cause`), `WORKER_CRASHED` when what ran it died under it.
 */
export type AttemptResult = { ok: true; value: unknown } | { ok: false; error: ApiaryError };

/** Called exactly once per attempt, unless the attempt was aborted (or the backend closed) first. */
export type AttemptCallback = (result: AttemptResult) => void;

/**
 * Called when an attempt begins to run, with the epoch time (ms) it began — before its
 * {@link AttemptCallback} — and again with `ended` true when it has finished running but its
 * outcome is held up (it shares a reply with an attempt still running on its thread). `ended`
 * true also reports a start whose timeout runs elsewhere (on a worker node): the hive then arms
 * no timeout of its own for the attempt. When its
 * thread died under it and it waits to run again, it is called with `undefined`; its new start
 * follows. Only backends that do not start on dispatch call it.
 */
export type StartCallback = (startedEpochMs: number | undefined, ended: boolean) => void;

/** Counters a backend keeps (`hive.stats().pool`). */
export interface BackendStats {
  /** Threads it runs attempts on; 0 when it runs them on the calling thread. */
  threads: number;
  /** Attempts handed to the backend and not yet settled or aborted. */
  inFlight: number;
  /** Messages posted to threads (one may carry a batch of attempts); one per attempt without threads. */
  messages: number;
  /** Threads that died (exit, crash, forced termination) and were replaced. */
  threadRestarts: number;
}

/**
 * An execution backend: runs attempts (on threads, inline, on other machines) and reports each
 * outcome once. Made by a {@link BackendFactory} when the hive starts; the hive then calls
 * `start` once, `exec` and `abort` any number of times, `stats` at any time after it was made,
 * and `close` when it stops (also after a failed `start`, and possibly twice).
 *
 * Its methods are called on the hive's thread, from its actors: they must not throw (report a
 * failure through `done`) and must not call back synchronously from inside `exec` or `abort`.
 */
export interface ExecutionBackend {
  /** What `hive.stats().backend` and the `hive.started` event report, e.g. `"piscina"`. */
  readonly name: string;
  /**
   * True when an attempt runs as soon as `exec` hands it over (inline, simulated): its start is
   * its dispatch, and its timeout runs from `exec`. False when it may wait for a thread first:
   * the backend then reports each start through `exec`'s `onStart`, and the attempt's timeout
   * runs from there (an attempt that never starts never times out).
   */
  readonly startsOnDispatch: boolean;
  /**
   * Starts the threads (or connections) and loads the task module; resolves to the task kinds
   * on offer — the hive refuses tasks of any other kind. Rejects (`TASKS_MODULE` for the
   * built-ins) when it cannot, and when `signal` aborts.
   */
  start(signal?: AbortSignal): Promise<{ kinds: string[] }>;
  /**
   * Runs an attempt; calls `done` once, later (never synchronously), with its outcome — never
   * after `abort(attempt.seq)` or `close()`. A backend that does not start on dispatch calls
   * `onStart` when the attempt begins to run (see {@link StartCallback}).
   */
  exec(attempt: Attempt, done: AttemptCallback, onStart?: StartCallback): void;
  /**
   * Aborts an attempt, started or not: its handler's `ctx.signal` fires at once; if it has not
   * returned after the grace period, what runs it is terminated (and replaced) — unless `kill`
   * is false, which only signals it. `done` is not called after this, whatever the handler
   * returns. Aborting an attempt that already settled, or an unknown one, does nothing.
   */
  abort(seq: number, kill?: boolean): void;
  /** Its counters now. */
  stats(): BackendStats;
  /** Stops the threads. Attempts still running are abandoned: their `done` is never called. */
  close(): Promise<void>;
  /**
   * Optional, for a backend whose agents come and go with the machines that run them (the
   * `remote` backend's worker nodes): called once, when the hive is running, with what lets it
   * add, crash and remove agents and change the task kinds on offer. A backend that runs the
   * hive's own `agents` leaves it out.
   */
  attach?(host: BackendHost): void;
}

/** A swarm agent a backend brings to the hive (see {@link ExecutionBackend.attach}). */
export interface BackendAgent {
  /** Unique in the hive. */
  id: string;
  /** Capability name → level in [0, 1]. */
  capabilities?: Record<string, number> | undefined;
  /** Attempts it runs at once. */
  concurrency?: number | undefined;
  restart?: "permanent" | "transient" | "temporary" | undefined;
}

/** What a running hive lets its backend do to the swarm (see {@link ExecutionBackend.attach}). */
export interface BackendHost {
  /**
   * Adds an agent to the swarm, as `hive.addAgent`.
   * @throws InvalidOptionsError when its spec is invalid or its id is taken; HiveStoppedError once the hive stops
   */
  addAgent(agent: BackendAgent): void;
  /** Removes an agent once its running attempts have ended, as `hive.removeAgent`; resolves at once for an unknown agent or a stopping hive. */
  removeAgent(agentId: string): Promise<void>;
  /**
   * Crashes an agent, as `hive.failAgent`: its running attempts go back to the queue without
   * spending a retry (and are aborted here, without killing their thread), and the Supervisor
   * applies its restart policy. Does nothing for an unknown agent or a stopping hive.
   */
  failAgent(agentId: string, reason: string): void;
  /** Replaces the task kinds the hive accepts (submits of another kind fail `INVALID_TASK`). */
  setKinds(kinds: readonly string[]): void;
  /** The ids of the agents in the swarm now (a recovered hive brings back agents that joined its last run). */
  agentIds(): string[];
}

/**
 * What a {@link BackendFactory} is given: the hive's options that concern execution, the clock
 * its timers run on, and its dependency channel.
 */
export interface BackendContext {
  /** URL of the user's task module, or null for the built-in handlers only. */
  tasksUrl: string | null;
  /** Most worker threads (`maxThreads`, or `threads`; the number of CPUs by default). */
  threads: number;
  /**
   * Fewest worker threads (`minThreads`): below `threads`, the pool starts this many, grows with
   * demand and lets a thread idle for `idleTimeoutMs` go. Absent: `threads` (a fixed pool).
   */
  minThreads?: number | undefined;
  /** How long a thread above `minThreads` may idle before it is let go, ms (`idleTimeoutMs`). */
  idleTimeoutMs?: number | undefined;
  /** What handlers see as `ctx.workerData` (`workerData`); structured-cloneable. */
  workerData?: unknown;
  /** The threads' `process.env` (`env`); absent: the process's own, copied as the thread starts. */
  env?: Record<string, string> | undefined;
  /** Node flags of the threads (`execArgv`), e.g. `["--max-old-space-size=512"]`. */
  execArgv?: string[] | undefined;
  /** Most attempts one message to a thread carries (`maxBatch`). */
  maxBatch: number;
  /** How long an aborted attempt may run on before what runs it is terminated, ms (`abortGraceMs`). */
  abortGraceMs: number;
  /** How long `start()` may take, ms (`startTimeoutMs`). */
  startTimeoutMs: number;
  /** Per-thread V8 limits (`resourceLimits`); a thread over them dies and is replaced. */
  resourceLimits: { maxOldGenerationSizeMb?: number | undefined; maxYoungGenerationSizeMb?: number | undefined; stackSizeMb?: number | undefined } | undefined;
  /** The hive's dependency breakers, for handlers that call `ctx.dependency(name)`. */
  dependencies: DependencyChannel;
  /** The hive clock (virtual in simulations): a backend that keeps time of its own uses it. */
  clock: HiveClock;
  /** Where `ctx.progress` reports go; absent when nobody listens. */
  progress?: ProgressChannel | undefined;
  /** The `remote` option (the `remote` backend's cluster), when given. */
  remote?: ResolvedRemoteOptions | undefined;
  /**
   * Whether the hive recovers its journal (`recover: true`): only then is work a predecessor
   * left (on worker nodes) this hive's to take. A fresh hive's task ids start again at `t1`.
   */
  recover?: boolean | undefined;
}

/**
 * Makes a hive's execution backend when the hive starts: the one-function plug-in point behind
 * the hive's `backend` option. It may return a promise (to import its own dependencies lazily).
 * What it returns must have every member of {@link ExecutionBackend}, or `start()` rejects with
 * `INVALID_OPTIONS`.
 *
 * @example
 * ```ts
 * const hive = createHive({
 *   agents: [{ id: "a" }],
 *   backend: async (context) => new (await import("./my-backend.ts")).MyBackend(context),
 * });
 * ```
 */
export type BackendFactory = (context: BackendContext) => ExecutionBackend | PromiseLike<ExecutionBackend>;
