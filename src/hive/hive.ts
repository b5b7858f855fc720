/**
 * The hive: wires the Queen, Supervisor, Agents and Workers to an execution backend, and turns
 * the Queen's lifecycle events into the promises and events callers see.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { type Actor, createActor } from "xstate";
import { agentMachine } from "../../actors/agent.ts";
import { type LifecycleEvent, queenMachine, type TaskCounts, type TaskSpec } from "../../actors/queen.ts";
import { type AgentLifecycleEvent, type AllocationFallbackEvent, type Decision, supervisorMachine } from "../../actors/supervisor.ts";
import type { AllocationOption } from "../../actors/allocation-strategies.ts";
import type { Capabilities, Priority } from "../../actors/types.ts";
import type { Blame } from "../../actors/blame.ts";
import { workerMachine } from "../../actors/worker.ts";
import { findUncloneable } from "../../workers/cloneable.ts";
import { type BackendName, createBackend, DEFAULT_BACKEND } from "../backends/registry.ts";
import type { BackendContext, BackendFactory, BackendStats, ExecutionBackend } from "../backends/types.ts";
import { type HiveClock, realClock } from "../core/clock.ts";
import { describeValue, HiveNotStartedError, HiveStoppedError, InvalidOptionsError, InvalidTaskError, TaskCancelledError } from "../core/errors.ts";
import { type Disposer, EventBus, type WaitForOptions } from "../observe/bus.ts";
import { LogHistogram } from "../metrics/histogram.ts";
import { createPort } from "./port.ts";
import { createRandom } from "../core/random.ts";
import { agentSchema, allocationSchema, hiveOptionsSchema, type ParsedHiveOptions, type ParsedTask, parseOrThrow, taskSchema } from "./schema.ts";
import { type AgentBreakerOptions, AgentBreakers, type BreakerSummary, type BreakerTransitionEvent, parseAgentBreakerOptions } from "./agent-breakers.ts";
import type { CacheStats } from "../cache/cache.ts";
import { type DependencyOptions, DependencyRegistry } from "./dependencies.ts";
import { type CacheEvent, type HiveCacheOptions, type HiveStoreOption, type InvalidateSelector, TaskCache, type TaskCacheOption } from "./task-cache.ts";
import { type DeadLetter as EventDeadLetter, type SubscribeOptions } from "../observe/bus.ts";
import { type HiveInspectOption, type ResolvedInspect, resolveInspect } from "./inspect.ts";
import { HiveMetrics } from "./metrics.ts";
import type { MetricSnapshot } from "../metrics/registry.ts";
import { DEFAULT_HEALTH_PORT, type HealthServer, type Readiness, serveHealth } from "../observe/serve.ts";
import { persistSupervisor } from "../../actors/supervisor.ts";
import { DEAD_LETTER_LIMIT, errorFromResult, HiveDurability, type HiveJournalOptions, type TaskResult } from "./durability.ts";
import type { Durability, JournalStats } from "../journal/journal.ts";

/** Key of {@link Hive}'s internal trusted submit (not exported from the package). */
export const submitTrusted: unique symbol = Symbol("apiary.submitTrusted");

/** Key of {@link Hive}'s internal synchronous observer (the run recorder): see `[observeTrusted]`. */
export const observeTrusted: unique symbol = Symbol("apiary.observeTrusted");

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
  /** The swarm. At least one agent. */
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
  /** Worker threads. @default the number of CPUs */
  threads?: number;
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
  /** The actor clock, e.g. XState's `SimulatedClock`. @default real time */
  clock?: { now?(): number; setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown; clearTimeout(id: unknown): void };
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
}

/** Events `hive.on` delivers. */
export type HiveEvent =
  | LifecycleEvent
  | AgentLifecycleEvent
  | ({ type: "allocation.decided" } & Decision)
  | AllocationFallbackEvent
  | { type: "hive.started"; at: number; /** The backend's own name (`piscina`, …, or a factory's backend's). */ backend: string; kinds: string[] }
  | BreakerTransitionEvent
  | CacheEvent
  | { type: "hive.recovered"; tasks: number; results: number; skipped: number; /** Not resumed: the process died during their attempt `journal.maxCrashes` times. */ abandoned: number; at: number };

/** Event type names. */
export type HiveEventType = HiveEvent["type"];

/** Every event type, checked against {@link HiveEventType} both ways: a new event must be listed here. */
const EVENT_TYPES: Record<HiveEventType, true> = {
  "task.queued": true,
  "task.rejected": true,
  "task.started": true,
  "task.retrying": true,
  "task.completed": true,
  "task.failed": true,
  "task.deadLettered": true,
  "task.shed": true,
  "task.cancelled": true,
  "hive.degraded": true,
  "hive.healed": true,
  "hive.drained": true,
  "hive.stopped": true,
  "hive.started": true,
  "hive.recovered": true,
  "agent.crashed": true,
  "agent.failed": true,
  "agent.restarting": true,
  "agent.restarted": true,
  "agent.added": true,
  "agent.removed": true,
  "allocation.decided": true,
  "allocation.fallback": true,
  "breaker.transition": true,
  "cache.hit": true,
  "cache.miss": true,
};

/** Refuses an event type no hive event has (a typo would otherwise listen to nothing, silently). */
function checkEventType(type: unknown, action: string, field: string, wildcard: boolean): void {
  if ((wildcard && type === "*") || (typeof type === "string" && Object.hasOwn(EVENT_TYPES, type))) return;
  throw new InvalidOptionsError(`Cannot ${action}: "${field}" must be ${wildcard ? '"*" or ' : "a function or "}one of ${Object.keys(EVENT_TYPES).join(", ")}, received ${describeValue(type)}`);
}

/** Latency percentiles, ms. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** One agent in {@link HiveStats}. */
export interface AgentStats {
  id: string;
  /** The Agent actor's state: idle, busy, saturated, failed, restarting, stopped. */
  state: string;
  /** Where it stands with its Supervisor: up, restarting, failed (for good), removing. */
  status: "up" | "restarting" | "failed" | "removing";
  restarts: number;
  /** Why it last crashed. */
  lastCrash: string | undefined;
  breaker: "closed" | "open" | "halfOpen";
  busy: number;
  concurrency: number;
  completed: number;
  failed: number;
  successRate: number;
  latencyMs: number;
}

/** What `hive.stats()` returns. */
export interface HiveStats {
  state: "created" | "starting" | "running" | "stopping" | "stopped";
  /** Set once a supervisor gave up restarting: why, and when (hive clock, ms). */
  degraded: { reason: string; at: number } | null;
  /** The backend's name; before `start()` (which makes the backend) the configured one, `custom` for a factory. */
  backend: string;
  tasks: TaskCounts;
  /** Completed tasks per second since start. */
  throughputPerSec: number;
  /** Submit-to-completion latency of completed tasks. */
  latencyMs: LatencySummary;
  agents: AgentStats[];
  /** The backend's counters; all 0 before `start()`. */
  pool: BackendStats;
  uptimeMs: number;
  /** Every agent's and every dependency's breaker. */
  breakers: BreakerSummary[];
  /** The result cache's figures. */
  cache: CacheStats;
  /** The journal's figures; null with `durability: "none"`. */
  journal: JournalStats | null;
}

/** Whose fault one failed attempt was, as `explain()` lists it. */
export interface FaultAttribution {
  attempt: number;
  /** The agent it ran on. */
  agentId: string | undefined;
  /** The attempt's error code (TASK_FAILED, TASK_TIMEOUT, WORKER_CRASHED, …). */
  code: string;
  /** `task`: the task's own fault; `agent`: the agent's (counts towards its crash and breaker); `dependency`: an open dependency circuit. */
  blame: Blame["to"];
  /** The evidence, in words. */
  reason: string;
  /** Hive clock, ms. */
  at: number;
}

/** What `explain(taskId)` returns: the latest placement and whose fault each failed attempt was. */
export type Explanation = Decision & { faults: FaultAttribution[] };

/** Placement decisions kept for `explain()`; the oldest go first. */
const DECISION_LIMIT = 10_000;

/** A task that failed through its last attempt. */
export interface DeadLetter {
  taskId: string;
  kind: string;
  attempts: number;
  /** The last attempt's error. */
  error: Error;
  /** Agent of the last attempt. */
  agentId: string | undefined;
  /** Hive-clock time it was dead-lettered, ms. */
  at: number;
}

/** One entry of `map(…, { policy: "settle" })`. */
export type MapResult<O> = { ok: true; value: O } | { ok: false; error: Error };

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

  constructor(id: string, result: Promise<O>, cancel: (reason?: string) => void, accepted: (id: string) => Promise<void>) {
    this.id = id;
    this.result = result;
    this.cancel = cancel;
    this.#accepted = accepted;
  }

  get accepted(): Promise<void> {
    return this.#accepted(this.id);
  }
}

/** Creates a hive. Validates every option; nothing runs until {@link Hive.start}. */
export function createHive(options: HiveOptions): Hive {
  return new Hive(options);
}

/** Resolves the `tasks` option to a URL string. */
function tasksUrl(tasks: URL | string | undefined): string | null {
  if (tasks === undefined) return null;
  if (tasks instanceof URL) return tasks.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(tasks) && !/^[a-z]:[\\/]/i.test(tasks)) return new URL(tasks).href;
  return pathToFileURL(tasks).href;
}

/** An apiary hive. Create it with {@link createHive}. */
export class Hive implements AsyncDisposable {
  readonly #options: ParsedHiveOptions;
  readonly #clock: HiveClock;
  /** Makes the backend; called once, by `start()`. */
  readonly #makeBackend: () => Promise<ExecutionBackend>;
  /** What `stats().backend` says until the backend is made. */
  readonly #backendName: string;
  /** Made by `start()`; undefined before it (or when its factory failed). */
  #backend: ExecutionBackend | undefined;
  #state: HiveStats["state"] = "created";
  #actor: Actor<typeof queenMachine> | undefined;
  #kinds = new Set<string>();
  /** Callers waiting on a task's result, by id; removed when the task ends. */
  readonly #waiters = new Map<string, Waiter>();
  /** Internal observers handed every published event as it is published (see `[observeTrusted]`). */
  readonly #observers: ((event: HiveEvent) => void)[] = [];
  /** Delivers hive events to `on` listeners; a listener that throws is isolated there. */
  readonly #bus: EventBus<HiveEvent>;
  /** `events.replay`: events kept for late listeners (0: an event nobody listens to is dropped at once). */
  readonly #replayKept: number;
  /** Submit-to-completion latency of completed tasks, ms. */
  readonly #latency = new LogHistogram();
  /** The latest placement decision per task (bounded), for `explain`. */
  #decisions = new Map<string, Decision>();
  #olderDecisions = new Map<string, Decision>();
  /** Blame of each failed attempt per task (bounded like the decisions), for `explain`. */
  #faults = new Map<string, FaultAttribution[]>();
  #olderFaults = new Map<string, FaultAttribution[]>();
  /** Callers waiting for an agent's removal, by agent id. */
  readonly #removals = new Map<string, (() => void)[]>();
  /** Tasks that kept failing through their last attempt, oldest first (bounded). */
  readonly #deadLetters = new Map<string, Extract<LifecycleEvent, { type: "task.deadLettered" }>>();
  /** Tasks submitted since the last flush; sent to the Queen as one event in a microtask. */
  #outbox: TaskSpec[] = [];
  #startedAt = 0;
  #drainWaiters: (() => void)[] = [];
  #stopped: Promise<void> | undefined;
  /** The first `start()`'s promise: later calls while starting or running return it. */
  #starting: Promise<void> | undefined;
  /** One breaker per agent; undefined when `breaker: false`. */
  readonly #agentBreakers: AgentBreakers | undefined;
  /** Named dependencies and the shared state mirror threads read. */
  readonly #dependencies: DependencyRegistry;
  readonly #taskCache: TaskCache;
  /** Metrics fed from `#onLifecycle`; undefined with `metrics: false`. */
  readonly #metrics: HiveMetrics | undefined;
  /** The inspect observer and the trace writer the hive owns (closed on stop). */
  readonly #inspect: ResolvedInspect;
  /** Health servers started by `serve`; closed on stop. */
  readonly #servers = new Set<HealthServer>();
  readonly #durable: HiveDurability;
  /** Submits waiting for their acceptance to reach the disk (`every-task`), by id. */
  readonly #unwritten = new Map<string, TaskSpec>();
  /** Of those, the ones cancelled meanwhile, with the reason. */
  readonly #cancelOnArrival = new Map<string, string>();
  /** Callers of `handle.accepted`, by id; settled on task.queued / task.rejected. */
  readonly #acceptWaiters = new Map<string, Waiter>();
  #saveQueued = false;
  /** The allocation strategy the Supervisor starts with (`allocation`, or the last `setAllocation` before start). */
  #allocation: AllocationOption | undefined;

  /**
   * Prefer {@link createHive}.
   * @throws InvalidOptionsError naming the field and the value received
   */
  constructor(input: HiveOptions) {
    const options = parseOrThrow(hiveOptionsSchema, input, "create hive", (m) => new InvalidOptionsError(m));
    this.#options = options;
    this.#allocation = options.allocation;
    const clock = options.clock;
    this.#clock = clock === undefined
      ? realClock
      : { now: clock.now?.bind(clock) ?? (() => performance.now()), setTimeout: clock.setTimeout.bind(clock), clearTimeout: clock.clearTimeout.bind(clock) };
    this.#bus = new EventBus<HiveEvent>({ clock: this.#clock, ...(options.events?.replay !== undefined ? { replay: options.events.replay } : {}) });
    this.#replayKept = options.events?.replay ?? 0;
    this.#inspect = resolveInspect(options.inspect, this.#clock.now);
    this.#metrics = options.metrics ? new HiveMetrics(() => this.#gaugeSample()) : undefined;
    const breakerOptions = parseAgentBreakerOptions(input.breaker);
    this.#agentBreakers = breakerOptions === false ? undefined : new AgentBreakers(options.agents.map((a) => a.id), breakerOptions, this.#clock, (e) => this.#onAgentBreaker(e));
    this.#dependencies = new DependencyRegistry(this.#clock, (e) => this.#publish(e));
    this.#taskCache = new TaskCache(input.cache, input.store, clock === undefined ? undefined : this.#clock, this.#clock);
    this.#durable = new HiveDurability(options.durability, options.recover, input.journal, input.store);
    const backend = options.backend ?? DEFAULT_BACKEND;
    const context: BackendContext = {
      tasksUrl: tasksUrl(options.tasks),
      threads: options.threads ?? Math.max(1, availableParallelism()),
      maxBatch: options.maxBatch,
      abortGraceMs: options.abortGraceMs,
      startTimeoutMs: options.startTimeoutMs,
      resourceLimits: options.resourceLimits,
      dependencies: this.#dependencies.channel,
      clock: this.#clock,
    };
    this.#backendName = typeof backend === "string" ? backend : "custom";
    this.#makeBackend = () => createBackend(backend, context);
  }

  /**
   * Starts the threads, loads the task module and the actors. A second call while starting
   * returns the first call's promise (its `signal` is the one that counts); once started it
   * resolves at once.
   * @throws TasksModuleError (rejects) when the task module cannot be loaded
   * @throws InvalidOptionsError (rejects) naming "backend" when the backend cannot be made: its module
   * does not load, or a factory throws or returns something that is not an execution backend
   * @throws HiveStoppedError (rejects) when the hive is stopping or stopped: a stopped hive does not start again
   */
  start(signal?: AbortSignal): Promise<void> {
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return Promise.reject(new InvalidOptionsError(`Cannot start the hive: "signal" must be an AbortSignal, received ${describeValue(signal)}`));
    }
    if (this.#state === "created") this.#starting = this.#start(signal);
    else if (this.#state === "stopping" || this.#state === "stopped" || this.#starting === undefined) {
      return Promise.reject(new HiveStoppedError(`Cannot start the hive: it is ${this.#state}; a stopped hive does not start again, create another`));
    }
    return this.#starting;
  }

  async #start(signal: AbortSignal | undefined): Promise<void> {
    this.#state = "starting";
    let kinds: string[];
    let backend: ExecutionBackend;
    try {
      backend = await this.#makeBackend();
      if (this.#state !== "starting") {
        // stop() ran while the backend's module loaded: it found no backend to close.
        await backend.close().catch(() => {});
        throw new HiveStoppedError("Cannot start the hive: it was stopped while starting");
      }
      this.#backend = backend;
      ({ kinds } = await backend.start(signal));
    } catch (error) {
      this.#state = "stopped";
      await this.#backend?.close().catch(() => {});
      throw error;
    }
    this.#kinds = new Set(kinds);
    await this.#taskCache.ready(signal);
    let recovered: Awaited<ReturnType<HiveDurability["open"]>>;
    try {
      recovered = await this.#durable.open(this.#clock.now());
    } catch (error) {
      this.#state = "stopped";
      await backend.close().catch(() => {});
      throw error;
    }
    const worker = workerMachine.provide({ actors: { port: createPort(backend, this.#clock) } });
    const agent = agentMachine.provide({ actors: { worker } });
    const supervisor = supervisorMachine.provide({ actors: { agent } });
    const queen = queenMachine.provide({ actors: { supervisor } });
    const o = this.#options;
    const actor = createActor(queen, {
      systemId: "queen",
      clock: this.#clock as never,
      input: {
        agents: o.agents.map((a) => ({ id: a.id, capabilities: a.capabilities, concurrency: a.concurrency, restart: a.restart })),
        random: createRandom(o.seed),
        maxQueued: o.queue.maxQueued,
        overflow: o.queue.overflow,
        agingMs: o.queue.agingMs,
        retry: o.retry,
        supervision: o.supervision,
        ...(this.#allocation !== undefined ? { allocation: this.#allocation } : {}),
        startsOnDispatch: backend.startsOnDispatch,
        ...(recovered.state !== undefined ? { restore: { at: this.#clock.now() - recovered.stateAgeMs, queen: recovered.state.queen, supervisor: recovered.state.supervisor } } : {}),
      },
      ...(this.#inspect.observer !== undefined ? { inspect: this.#inspect.observer as never } : {}),
    });
    actor.on("queen.events", (emitted) => {
      for (const event of emitted.events) this.#onLifecycle(event);
    });
    actor.start();
    const supervisorRef = actor.system.get("supervisor") as Actor<typeof supervisorMachine>;
    supervisorRef.on("supervisor.decisions", (emitted) => {
      for (const d of emitted.decisions) {
        // Two generations instead of evicting the oldest one by one: deleting from the front of a
        // Map leaves holes that every later `keys().next()` walks over.
        if (this.#decisions.size >= DECISION_LIMIT) {
          this.#olderDecisions = this.#decisions;
          this.#decisions = new Map();
        }
        this.#decisions.set(d.taskId, d);
      }
      if (this.#replayKept === 0 && this.#bus.listenerCount("allocation.decided") === 0 && this.#bus.listenerCount("*") === 0) return;
      for (const d of emitted.decisions) this.#publish({ type: "allocation.decided", ...d });
    });
    supervisorRef.on("supervisor.fallback", (emitted) => this.#publish(emitted.event));
    supervisorRef.on("supervisor.agents", (emitted) => {
      for (const e of emitted.events) {
        if (e.type === "agent.removed") {
          for (const resolve of this.#removals.get(e.agentId) ?? []) resolve();
          this.#removals.delete(e.agentId);
        }
        this.#publish(e);
      }
      this.#saveState();
    });
    this.#actor = actor;
    this.#startedAt = this.#clock.now();
    this.#state = "running";
    this.#publish({ type: "hive.started", at: this.#startedAt, backend: backend.name, kinds });
    if (this.#durable.recover) {
      // Straight to the Queen: these are in the journal already.
      if (recovered.tasks.length > 0) actor.send({ type: "queen.submit", tasks: recovered.tasks, at: this.#startedAt });
      for (const letter of recovered.deadLetters) this.#deadLetters.set(letter.taskId, letter);
      const results = this.#durable.journal?.index.ended.size ?? 0;
      this.#publish({ type: "hive.recovered", tasks: recovered.tasks.length, results, skipped: recovered.skipped.length, abandoned: recovered.abandoned, at: this.#startedAt });
      this.#saveState();
    }
  }

  /** Saves the Queen's and Supervisor's state beside the journal, once per turn at most. */
  #saveState(): void {
    if (this.#durable.journal === undefined || this.#saveQueued) return;
    this.#saveQueued = true;
    queueMicrotask(() => {
      this.#saveQueued = false;
      this.#persistState();
    });
  }

  #persistState(): void {
    {
      const actor = this.#actor;
      if (actor === undefined || this.#durable.journal === undefined) return;
      const supervisor = actor.system.get("supervisor") as Actor<typeof supervisorMachine> | undefined;
      if (supervisor === undefined) return;
      const degraded = actor.getSnapshot().context.degraded;
      this.#durable.saveState({
        version: 1,
        queen: { degraded: degraded === null ? null : { reason: degraded.reason } },
        supervisor: persistSupervisor(supervisor.getSnapshot().context, this.#clock.now()),
      });
    }
  }

  #onLifecycle(event: LifecycleEvent): void {
    this.#agentBreakers?.observe(event);
    if ((event.type === "task.retrying" || event.type === "task.failed" || event.type === "task.deadLettered") && event.blame !== undefined) this.#attribute(event);
    this.#metrics?.record(event);
    // Journal it; under every-task the caller hears of an end only once it is on disk.
    const ended = this.#durable.observe(event, this.#state === "stopping");
    if (this.#acceptWaiters.size > 0) this.#settleAccepted(event);
    const journal = this.#durable.journal;
    // Every event waits its turn, so callers see them in the order they happened.
    if (journal?.durability === "every-task" && this.#state !== "stopping" && (ended || journal.pendingCallbacks > 0)) {
      journal.afterWrite(() => this.#deliver(event));
      return;
    }
    this.#deliver(event);
  }

  #settleAccepted(event: LifecycleEvent): void {
    if (event.type !== "task.queued" && event.type !== "task.rejected") return;
    const w = this.#acceptWaiters.get(event.taskId);
    if (w === undefined) return;
    this.#acceptWaiters.delete(event.taskId);
    if (event.type === "task.rejected") w.reject(event.error);
    else if (this.#durable.journal === undefined || this.#durable.journal.durability === "every-task") w.resolve(undefined);
    else this.#durable.journal.afterWrite(() => w.resolve(undefined));
  }

  #deliver(event: LifecycleEvent): void {
    switch (event.type) {
      case "task.completed": {
        this.#latency.record(event.latencyMs);
        const w = this.#waiters.get(event.taskId);
        this.#waiters.delete(event.taskId);
        w?.resolve(event.value);
        break;
      }
      case "task.deadLettered": {
        this.#deadLetters.set(event.taskId, event);
        if (this.#deadLetters.size > DEAD_LETTER_LIMIT) this.#deadLetters.delete(this.#deadLetters.keys().next().value!);
        // The caller gets the last attempt's error.
        const w = this.#waiters.get(event.taskId);
        this.#waiters.delete(event.taskId);
        w?.reject(event.error);
        break;
      }
      case "task.failed":
      case "task.shed":
      case "task.cancelled":
      case "task.rejected": {
        const w = this.#waiters.get(event.taskId);
        this.#waiters.delete(event.taskId);
        w?.reject(event.error);
        break;
      }
      case "hive.drained":
        event = { ...event, at: this.#clock.now() };
        for (const resolve of this.#drainWaiters.splice(0)) resolve();
        break;
      case "hive.stopped":
        event = { ...event, at: this.#clock.now() };
        break;
    }
    this.#publish(event);
  }

  #publish(event: HiveEvent): void {
    for (const observe of this.#observers) observe(event);
    // Nobody listens and nothing is kept for replay: the bus is skipped (most events of a busy hive).
    if (this.#replayKept === 0 && this.#bus.listenerCount(event.type) === 0 && this.#bus.listenerCount("*") === 0) return;
    this.#bus.publish(event);
  }

  /**
   * Submits a task. Invalid tasks throw at once (INVALID_TASK); a full queue, a failure, a
   * timeout or a cancel reject `result`.
   *
   * @throws InvalidTaskError when the task is malformed, names an unknown kind, or its input cannot cross threads
   * @throws HiveNotStartedError before `start()` has resolved
   * @throws HiveStoppedError when the hive is not accepting work: draining, stopping or stopped
   *   (the same for cached tasks; `run` and `map` reject with these instead of throwing)
   */
  submit<O = unknown, I = unknown>(task: TaskOptions<I>): TaskHandle<O> {
    if (task !== null && typeof task === "object" && (task.cache !== undefined || task.cacheKey !== undefined)) return this.#submitCached<O, I>(task);
    return this.#submitParsed<O>(this.#validate(task, "submit task"));
  }

  /**
   * Internal (`simulate`): submits a task built from an already validated scenario — no cache,
   * signal, id or idempotency key, a known kind, an input that never crosses a thread — without
   * parsing it again per task. With `track: false` nobody will look at its result: no handle,
   * no promise (open-loop arrivals; the recorder follows it through the hive's events).
   */
  [submitTrusted](task: TrustedTask, track: false): undefined;
  [submitTrusted](task: TrustedTask, track?: true): TaskHandle<unknown>;
  [submitTrusted](task: TrustedTask, track = true): TaskHandle<unknown> | undefined {
    this.#running("submit task");
    if (track) return this.#submitParsed(task);
    this.#send(this.#specOf(this.#durable.ids.next(), task), undefined);
    return undefined;
  }

  /**
   * Internal (the run recorder): `observer` is handed every event as it is published, before the
   * bus queues it for `on` listeners — no queue, no microtask. It must not throw. Returns the
   * function that removes it.
   */
  [observeTrusted](observer: (event: HiveEvent) => void): () => void {
    this.#observers.push(observer);
    return () => {
      const at = this.#observers.indexOf(observer);
      if (at >= 0) this.#observers.splice(at, 1);
    };
  }

  /** The Queen's view of a parsed task, with the hive's defaults filled in. */
  #specOf(id: string, t: ParsedTask): TaskSpec {
    const o = this.#options;
    return {
      id,
      kind: t.kind,
      input: t.input,
      requires: t.requires ?? {},
      priority: t.priority ?? o.defaults.priority,
      timeoutMs: t.timeoutMs ?? o.defaults.timeoutMs,
      retries: t.retries ?? o.defaults.retries,
      ...(t.deadlineMs !== undefined ? { deadlineMs: t.deadlineMs } : {}),
    };
  }

  /** Journals a submit and queues it for the Queen (one event per turn for all of them). */
  #send(spec: TaskSpec, key: string | undefined): void {
    this.#durable.submitted(spec, key);
    this.#outbox.push(spec);
    if (this.#outbox.length === 1) queueMicrotask(this.#flush);
  }

  #submitParsed<O>(t: ParsedTask): TaskHandle<O> {
    const key = t.idempotencyKey;
    if (key !== undefined) {
      const holder = this.#durable.keyHolder(key); // the task that already holds the key
      if (holder !== undefined) return this.#follow<O>(holder);
    }
    const id = t.id ?? this.#durable.ids.next();
    if (this.#waiters.has(id) || this.#unwritten.has(id) || this.#durable.isResumed(id)) {
      throw new InvalidTaskError(`Cannot submit task: "id" must not be in use by an unfinished task, received ${JSON.stringify(id)}`);
    }
    const spec = this.#specOf(id, t);
    const result = new Promise<O>((resolve, reject) => {
      this.#waiters.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    // A caller that never looks at `result` must not crash the process with an unhandled rejection.
    result.catch(() => {});
    const cancel = (reason = "cancelled by the caller"): void => this.#cancel(id, reason);
    const handle = new Handle<O>(id, result, cancel, this.#acceptedFn);
    const signal = t.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#waiters.get(id)!.reject(new TaskCancelledError(`Task ${id} was cancelled: its signal was already aborted`, { taskId: id }));
        this.#waiters.delete(id);
        const accepted = Promise.reject(new TaskCancelledError(`Task ${id} was not submitted: its signal was already aborted`, { taskId: id }));
        accepted.catch(() => {});
        return { id, result, cancel: () => {}, accepted };
      }
      const onAbort = (): void => cancel(`its signal aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ""}`);
      signal.addEventListener("abort", onAbort, { once: true });
      const off = (): void => signal.removeEventListener("abort", onAbort);
      result.then(off, off);
    }
    this.#send(spec, key);
    return handle;
  }

  #cancel(id: string, reason: string): void {
    this.#flush();
    // Under every-task a submit may still be on its way to the disk: it is cancelled on arrival.
    if (this.#unwritten.has(id)) this.#cancelOnArrival.set(id, reason);
    else this.#actor?.send({ type: "queen.cancel", id, reason, at: this.#clock.now() });
  }

  readonly #acceptedFn = (id: string): Promise<void> => this.#acceptedOf(id);

  /** `handle.accepted` of task `id`. */
  #acceptedOf(id: string): Promise<void> {
    const done = this.#durable.finished(id);
    if (done !== undefined) return done.state === "rejected" ? Promise.reject(errorFromResult(done)) : Promise.resolve();
    const journal = this.#durable.journal;
    if (this.#actor?.getSnapshot().context.tasks.has(id) === true) return journal === undefined ? Promise.resolve() : journal.written();
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
    const done = this.#durable.finished(id);
    const settle = (r: TaskResult): O => {
      if (r.state === "completed") return r.value as O;
      throw errorFromResult(r);
    };
    const journal = this.#durable.journal;
    const result = done !== undefined
      ? Promise.resolve(done).then(settle)
      : this.#durable.whenFinished(id).then(async (r) => (journal?.durability === "every-task" ? (await journal.written(), settle(r)) : settle(r)));
    result.catch(() => {});
    return { id, result, cancel: (reason = "cancelled by the caller") => this.#cancel(id, reason), accepted: this.#acceptedOf(id) };
  }

  /**
   * How task `id` ended: resolves at once for a finished task (kept for `journal.retentionMs`,
   * also across a restart with `recover: true`), when it ends for an unfinished one, and to
   * undefined for an id the hive does not know.
   * @throws InvalidTaskError when `id` is not a non-empty string
   */
  result(id: string): Promise<TaskResult | undefined> {
    if (typeof id !== "string" || id.length === 0) throw new InvalidTaskError(`Cannot get a task result: "id" must be a non-empty string, received ${describeValue(id)}`);
    const done = this.#durable.finished(id);
    if (done !== undefined) return Promise.resolve(done);
    const open = this.#waiters.has(id) || this.#unwritten.has(id) || this.#actor?.getSnapshot().context.tasks.has(id) === true;
    return open ? this.#durable.whenFinished(id) : Promise.resolve(undefined);
  }

  /** Validates a task for `action`: shape, a running hive, a known kind, an input that can cross threads. */
  #validate(task: unknown, action: string): ParsedTask {
    const t = parseOrThrow(taskSchema, task, action, (m) => new InvalidTaskError(m));
    this.#accepting(action);
    if (!this.#kinds.has(t.kind)) {
      throw new InvalidTaskError(`Cannot ${action}: "kind" must be one of ${[...this.#kinds].join(", ")}, received ${JSON.stringify(t.kind)}`);
    }
    const bad = findUncloneable(t.input);
    if (bad !== null) throw new InvalidTaskError(`Cannot ${action}: "${bad.path}" cannot cross threads, received ${bad.reason}`);
    return t;
  }

  /** Sends buffered submits to the Queen (one event for the batch). */
  readonly #flush = (): void => {
    if (this.#outbox.length === 0) return;
    const tasks = this.#outbox;
    this.#outbox = [];
    const journal = this.#durable.journal;
    if (journal?.durability === "every-task") {
      // Write-ahead: the Queen hears of them once their acceptance is on disk.
      for (const t of tasks) this.#unwritten.set(t.id, t);
      journal.afterWrite(() => {
        const ready = tasks.filter((t) => this.#unwritten.delete(t.id)); // stop() forgets them: they stay open in the journal
        if (ready.length === 0 || this.#state !== "running") return;
        const at = this.#clock.now();
        this.#actor?.send({ type: "queen.submit", tasks: ready, at });
        for (const t of ready) {
          const reason = this.#cancelOnArrival.get(t.id);
          if (reason === undefined) continue;
          this.#cancelOnArrival.delete(t.id);
          this.#actor?.send({ type: "queen.cancel", id: t.id, reason, at });
        }
      });
      return;
    }
    this.#actor?.send({ type: "queen.submit", tasks, at: this.#clock.now() });
  };

  /**
   * Submits a task and resolves to its output. Rejects (never throws) where `submit` would throw:
   * INVALID_TASK, HIVE_NOT_STARTED, or HIVE_STOPPED while draining, stopping or stopped.
   */
  async run<O = unknown, I = unknown>(task: TaskOptions<I>): Promise<O> {
    return this.submit<O, I>(task).result;
  }

  /**
   * Listens to hive events (`"*"` for all). Delivery is queued (a microtask after the event);
   * a listener that throws is isolated: the others and the hive carry on (see `deadLetters()`).
   * With `{ replay: true }` the listener first gets the last `events.replay` events.
   * @returns a function that removes the listener (also `Symbol.dispose`-able)
   * @throws InvalidOptionsError when `type` is neither `"*"` nor a hive event type, or `listener` is not a function
   */
  on<T extends HiveEventType | "*">(type: T, listener: (event: T extends "*" ? HiveEvent : Extract<HiveEvent, { type: T }>) => void, options?: SubscribeOptions): Disposer {
    checkEventType(type, "listen to hive events", "type", true);
    return this.#bus.on(type as "*", listener as (event: HiveEvent) => void, options);
  }

  /**
   * Resolves with the first hive event (delivered after this call) that matches.
   * @throws InvalidOptionsError when `predicate` is an unknown event type, or neither a type nor a function
   */
  waitFor(predicate: HiveEventType | ((event: HiveEvent) => boolean), options?: WaitForOptions): Promise<HiveEvent> {
    if (typeof predicate !== "function") checkEventType(predicate, "wait for a hive event", "predicate", false);
    return this.#bus.waitFor(typeof predicate === "string" ? (e: HiveEvent) => e.type === predicate : predicate, options);
  }

  /** Tasks that failed through their last attempt (thrown, crashed, timed out), oldest first. */
  deadLetters(): DeadLetter[] {
    return [...this.#deadLetters.values()].map((e) => ({ taskId: e.taskId, kind: e.kind, attempts: e.attempts, error: e.error, agentId: e.agentId, at: e.at }));
  }

  /**
   * Submits a dead-lettered task again, with the same id and a fresh set of attempts.
   * @throws InvalidTaskError when `taskId` is not a dead letter
   */
  retryDeadLetter<O = unknown>(taskId: string): TaskHandle<O> {
    const letter = this.#deadLetters.get(taskId);
    if (letter === undefined) throw new InvalidTaskError(`Cannot retry dead letter: "taskId" names no dead-lettered task, received ${JSON.stringify(taskId)}`);
    const t = letter.task;
    const handle = this.submit<O>({ id: t.id, kind: t.kind, input: t.input, requires: t.requires, priority: t.priority, timeoutMs: t.timeoutMs, retries: t.retries });
    this.#deadLetters.delete(taskId);
    this.#durable.reopened(taskId); // result(id) now waits for this run
    return handle;
  }

  #attribute(event: Extract<LifecycleEvent, { type: "task.retrying" | "task.failed" | "task.deadLettered" }>): void {
    const blame = event.blame!;
    const attempt = event.type === "task.retrying" ? event.attempt - 1 : event.attempts;
    const entry: FaultAttribution = { attempt, agentId: event.agentId, code: (event.error as { code?: string }).code ?? "TASK_FAILED", blame: blame.to, reason: blame.reason, at: event.at };
    let list = this.#faults.get(event.taskId);
    if (list === undefined) {
      if (this.#faults.size >= DECISION_LIMIT) {
        this.#olderFaults = this.#faults;
        this.#faults = new Map();
      }
      list = this.#olderFaults.get(event.taskId) ?? [];
      this.#faults.set(event.taskId, list);
    }
    list.push(entry);
  }

  /**
   * Why a task ran where it did: the latest placement decision (the winner, the runner-up and
   * every score term) and, for each failed attempt, whose fault it was and on what evidence.
   */
  explain(taskId: string): Explanation | undefined {
    const decision = this.#decisions.get(taskId) ?? this.#olderDecisions.get(taskId);
    if (decision === undefined) return undefined;
    return { ...decision, faults: [...(this.#faults.get(taskId) ?? this.#olderFaults.get(taskId) ?? [])] };
  }

  /**
   * Changes the allocation strategy (see {@link HiveOptions.allocation}): placements from now on
   * use it, and tasks waiting in the queue are offered to it at once. Before `start()` it
   * replaces the `allocation` option. A function set here publishes its own first fallback as
   * `allocation.fallback`. Not journalled: a recovered hive starts with its `allocation` option.
   *
   * @example
   * ```ts
   * hive.setAllocation("least-loaded");
   * hive.setAllocation((task, agents) => agents.find((a) => a.id.startsWith("gpu"))?.id);
   * ```
   * @throws InvalidOptionsError when `allocation` is not a built-in strategy's name or a function
   * @throws HiveStoppedError when the hive is stopping or stopped
   */
  setAllocation(allocation: AllocationOption): void {
    const parsed = parseOrThrow(allocationSchema, allocation, "set allocation", (m) => new InvalidOptionsError(m), ["allocation"]);
    if (this.#state === "created" || this.#state === "starting") {
      this.#allocation = parsed;
      return;
    }
    const supervisor = this.#supervisor("set allocation");
    this.#allocation = parsed;
    supervisor.send({ type: "supervisor.allocation", allocation: parsed, at: this.#clock.now() });
  }

  /**
   * Clears `degraded` by hand: every agent an escalation failed (and every failed agent that is
   * not temporary) restarts with backoff, on a fresh restart-intensity window; `hive.healed`
   * follows once the first is back. Does nothing when no agent is down for good.
   */
  heal(): void {
    this.#supervisor("heal the hive").send({ type: "supervisor.heal", at: this.#clock.now() });
  }

  #running(action: string): Actor<typeof queenMachine> {
    const actor = this.#actor;
    if (this.#state !== "running" || actor === undefined) {
      if (this.#state === "created" || this.#state === "starting") throw new HiveNotStartedError(`Cannot ${action}: the hive is ${this.#state}; await hive.start() first`);
      throw new HiveStoppedError(`Cannot ${action}: the hive is ${this.#state}`);
    }
    return actor;
  }

  /**
   * The rule for work the hive does not take: before `start()` resolves it throws
   * HiveNotStartedError; while draining, stopping or stopped, HiveStoppedError. `submit` throws
   * it at once, `run` and `map` reject with it.
   */
  #accepting(action: string): void {
    if (this.#running(action).getSnapshot().value === "draining") throw new HiveStoppedError(`Cannot ${action}: the hive is draining; it takes work again once drain() resolves`);
  }

  #supervisor(action: string): Actor<typeof supervisorMachine> {
    return this.#running(action).system.get("supervisor") as Actor<typeof supervisorMachine>;
  }

  /**
   * Adds an agent to the running swarm; queued work it can run starts at once.
   * @throws InvalidOptionsError when the spec is invalid or its id is taken
   */
  addAgent(spec: AgentOptions): void {
    const supervisor = this.#supervisor("add agent");
    const a = parseOrThrow(agentSchema, spec, "add agent", (m) => new InvalidOptionsError(m));
    if (supervisor.getSnapshot().context.agents.has(a.id)) throw new InvalidOptionsError(`Cannot add agent: "id" must be unique among agents, received ${JSON.stringify(a.id)}`);
    this.#agentBreakers?.add(a.id);
    supervisor.send({ type: "supervisor.addAgent", spec: { id: a.id, capabilities: a.capabilities, concurrency: a.concurrency, restart: a.restart }, at: this.#clock.now() });
  }

  /**
   * Removes an agent: it takes no new work, its running attempts finish, then it leaves.
   * Resolves once it has left. Queued tasks no remaining agent can run fail (NO_ELIGIBLE_AGENT).
   * @throws InvalidOptionsError when no agent has that id
   */
  removeAgent(agentId: string): Promise<void> {
    const supervisor = this.#supervisor("remove agent");
    if (!supervisor.getSnapshot().context.agents.has(agentId)) throw new InvalidOptionsError(`Cannot remove agent: "agentId" names no agent, received ${JSON.stringify(agentId)}`);
    const done = new Promise<void>((resolve) => {
      const list = this.#removals.get(agentId) ?? [];
      list.push(resolve);
      this.#removals.set(agentId, list);
    });
    supervisor.send({ type: "supervisor.removeAgent", agentId, at: this.#clock.now() });
    return done;
  }

  /**
   * Fault drill: makes an agent crash as if its thread died. Its Supervisor restarts it by the
   * supervision policy (or escalates).
   * @throws InvalidOptionsError when no agent has that id
   */
  failAgent(agentId: string, reason = "failed on request"): void {
    const supervisor = this.#supervisor("fail agent");
    if (!supervisor.getSnapshot().context.agents.has(agentId)) throw new InvalidOptionsError(`Cannot fail agent: "agentId" names no agent, received ${JSON.stringify(agentId)}`);
    supervisor.send({ type: "supervisor.crash", agentId, reason, at: this.#clock.now() });
  }

  /**
   * Fans `inputs` out as tasks of one kind and gathers the results in input order.
   * `policy: "fail-fast"` (default) rejects with the first error and cancels the rest;
   * `"settle"` waits for all and reports each as `{ ok, value | error }`. Rejects (never throws)
   * with INVALID_TASK when a task is invalid (then none is submitted), and as `submit` throws when
   * the hive is not accepting work.
   */
  map<O = unknown, I = unknown>(kind: string, inputs: readonly I[], options?: Omit<TaskOptions<I>, "kind" | "input" | "id"> & { policy?: "fail-fast" }): Promise<O[]>;
  map<O = unknown, I = unknown>(kind: string, inputs: readonly I[], options: Omit<TaskOptions<I>, "kind" | "input" | "id"> & { policy: "settle" }): Promise<MapResult<O>[]>;
  async map<O = unknown, I = unknown>(
    kind: string,
    inputs: readonly I[],
    options: Omit<TaskOptions<I>, "kind" | "input" | "id"> & { policy?: "fail-fast" | "settle" } = {},
  ): Promise<O[] | MapResult<O>[]> {
    if (!Array.isArray(inputs)) throw new InvalidTaskError(`Cannot map tasks: "inputs" must be an array, received ${describeValue(inputs)}`);
    if (options === null || typeof options !== "object") throw new InvalidTaskError(`Cannot map tasks: options must be an object { policy, ...task options }, received ${describeValue(options)}`);
    const { policy = "fail-fast", ...rest } = options;
    if (policy !== "fail-fast" && policy !== "settle") throw new InvalidTaskError(`Cannot map tasks: "policy" must be one of fail-fast, settle, received ${describeValue(policy)}`);
    // Validate every task before any runs: a bad input leaves nothing half-submitted.
    const tasks = inputs.map((input) => ({ ...rest, kind, input }) as TaskOptions<I>);
    tasks.forEach((t, i) => this.#validate(t, `map task ${i}`));
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

  /** Counts, latencies, agents and pool figures. Every task submitted so far counts, even in the same turn. */
  stats(): HiveStats {
    this.#flush(); // submits are buffered until the end of the turn: hand them to the Queen now
    const counts = this.#actor?.getSnapshot().context.counts;
    const tasks: TaskCounts = counts ? { ...counts } : { submitted: 0, accepted: 0, rejected: 0, completed: 0, failed: 0, cancelled: 0, deadLettered: 0, shed: 0, retried: 0, queued: 0, running: 0 };
    tasks.submitted += this.#unwritten.size; // every-task: on their way to the disk, not yet with the Queen
    const uptimeMs = this.#state === "created" || this.#state === "starting" ? 0 : this.#clock.now() - this.#startedAt;
    const { count, mean, p50, p95, p99, max } = this.#latency.summary();
    const latencyMs: LatencySummary = { count, mean, p50, p95, p99, max };
    return {
      state: this.#state,
      degraded: this.#actor?.getSnapshot().context.degraded ?? null,
      backend: this.#backend?.name ?? this.#backendName,
      tasks,
      throughputPerSec: uptimeMs > 0 ? (tasks.completed * 1_000) / uptimeMs : 0,
      latencyMs,
      agents: this.#agentStats(),
      pool: this.#backend?.stats() ?? { threads: 0, inFlight: 0, messages: 0, threadRestarts: 0 },
      uptimeMs,
      breakers: [...(this.#agentBreakers?.stats() ?? []), ...this.#dependencies.stats()],
      cache: this.#taskCache.stats(),
      journal: this.#durable.stats(),
    };
  }

  #agentStats(): AgentStats[] {
    const supervisor = this.#actor?.system.get("supervisor") as Actor<typeof supervisorMachine> | undefined;
    if (supervisor === undefined) {
      return this.#options.agents.map((a) => ({
        id: a.id,
        state: "stopped",
        status: "up",
        restarts: 0,
        lastCrash: undefined,
        breaker: "closed",
        busy: 0,
        concurrency: a.concurrency,
        completed: 0,
        failed: 0,
        successRate: 1,
        latencyMs: 0,
      }));
    }
    const snap = supervisor.getSnapshot();
    const out: AgentStats[] = [];
    for (const [id, entry] of snap.context.agents) {
      const child = snap.children[id] as { getSnapshot(): { value: unknown } } | undefined;
      const v = entry.view;
      out.push({
        id,
        state: child ? String(child.getSnapshot().value) : "stopped",
        status: entry.status,
        restarts: entry.restarts,
        lastCrash: entry.lastCrash,
        breaker: v.breaker,
        busy: v.busy,
        concurrency: v.concurrency,
        completed: v.health.completed,
        failed: v.health.failed,
        successRate: v.health.successRate,
        latencyMs: v.health.latencyMs,
      });
    }
    return out;
  }

  /**
   * Resolves once every accepted task has ended (and, with a journal, its end is written).
   * Submits while draining throw HIVE_STOPPED (`run` and `map` reject with it); once drained the
   * hive takes work again.
   */
  async drain(signal?: AbortSignal): Promise<void> {
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionsError(`Cannot drain the hive: "signal" must be an AbortSignal, received ${describeValue(signal)}`);
    const actor = this.#actor;
    if (actor === undefined || this.#state !== "running") return;
    this.#flush();
    if (this.#unwritten.size > 0) await this.#durable.journal?.written(); // on to the Queen first
    if (actor.getSnapshot().context.tasks.size > 0) {
      await new Promise<void>((resolve, reject) => {
        this.#drainWaiters.push(resolve);
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        actor.send({ type: "queen.drain", at: this.#clock.now() });
      });
    }
    await this.#durable.journal?.written(); // and their ends are on disk
  }

  /** Stops: unfinished tasks are cancelled (TASK_CANCELLED), threads are stopped. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    const prior = this.#state;
    this.#state = "stopping";
    const actor = this.#actor;
    if (actor !== undefined && prior === "running") {
      this.#flush();
      this.#unwritten.clear(); // written or not, they stay open in the journal
      this.#persistState();
      const running: string[] = [];
      for (const r of actor.getSnapshot().context.tasks.values()) if (r.state === "running") running.push(r.id);
      this.#durable.stoppedCleanly(running);
      actor.send({ type: "queen.stop", at: this.#clock.now() });
      actor.stop();
    }
    for (const [id, w] of this.#waiters) w.reject(new TaskCancelledError(`Task ${id} was cancelled: the hive stopped`, { taskId: id }));
    this.#waiters.clear();
    await this.#backend?.close();
    await this.#durable.close().catch(() => {});
    await this.#closeGuards();
    await this.#closeObservability();
    await this.#bus.flush();
    this.#bus.close();
    this.#state = "stopped";
  }

  /** An agent's breaker moved: tell the Supervisor (allocation) and publish it. */
  #onAgentBreaker(event: BreakerTransitionEvent): void {
    const supervisor = this.#actor?.system.get("supervisor");
    supervisor?.send({ type: "supervisor.breaker", agentId: event.name, state: event.to, at: event.at });
    this.#publish(event);
  }

  /**
   * Guards `fn` with a circuit breaker named `name` (on the hive clock): while open, calls fail
   * fast with CIRCUIT_OPEN or return `options.fallback`'s result. Task handlers in worker threads
   * use the same breaker through `ctx.dependency(name).call(...)`.
   *
   * @example
   * ```ts
   * const ask = hive.dependency("llm", (prompt: string) => llm.complete(prompt), { consecutiveFailures: 3, resetTimeoutMs: 10_000 });
   * const text = await ask("hello");
   * ```
   * @throws InvalidOptionsError when `name` is empty or taken, or an option is invalid
   */
  dependency<A extends unknown[], R>(name: string, fn: (...args: A) => R | PromiseLike<R>, options?: DependencyOptions): (...args: A) => Promise<Awaited<R>> {
    return this.#dependencies.register(name, fn, options);
  }

  /**
   * Removes cached results: a `cacheKey` (`{ key }`, of every kind the hive runs and the shared
   * one), every `cacheKey` with a prefix (`{ prefix }`), every entry with a tag (`{ tag }`), or
   * every entry of a kind (`{ kind }`); `kind` beside `key` or `prefix` narrows them to that kind.
   * A computation of a removed key in flight is not cached.
   * @returns how many entries were removed
   * @throws InvalidOptionsError when the selector is not one of those forms (`{}` included)
   */
  invalidate(selector: InvalidateSelector): number {
    return this.#taskCache.invalidate(selector, this.#kinds);
  }

  /** A cached submit: answers from the cache or joins an identical task in flight, else submits. */
  #submitCached<O, I>(task: TaskOptions<I>): TaskHandle<O> {
    const { cache: _cache, cacheKey: _key, signal, ...plain } = task;
    // Validate the task and the hive's state now, as an uncached submit would.
    const t = parseOrThrow(taskSchema, plain, "submit task", (m) => new InvalidTaskError(m));
    const entry = this.#taskCache.keyOf(task);
    if (entry === undefined) return this.submit<O, I>(signal === undefined ? plain : { ...plain, signal });
    this.#accepting("submit task");
    if (!this.#kinds.has(t.kind)) throw new InvalidTaskError(`Cannot submit task: "kind" must be one of ${[...this.#kinds].join(", ")}, received ${JSON.stringify(t.kind)}`);
    const id = plain.id ?? this.#durable.ids.next();
    const controller = new AbortController();
    const result = this.#taskCache.run<O>(entry, t.kind, () => this.submit<O, I>({ ...plain, id }), controller.signal, (e) => this.#publish(e));
    result.catch(() => {});
    const cancel = (reason = "cancelled by the caller"): void => {
      controller.abort(new TaskCancelledError(`Task ${id} was cancelled: ${reason}`, { taskId: id }));
    };
    if (signal !== undefined) {
      if (signal.aborted) cancel("its signal was already aborted");
      else signal.addEventListener("abort", () => cancel("its signal aborted"), { once: true });
    }
    // A cached task is answered from the cache or joins one in flight: accepted as soon as asked.
    return { id, result, cancel, accepted: Promise.resolve() };
  }

  /** Flushes the cache to its store and stops the breakers. A failing store never fails `stop()`. */
  async #closeGuards(): Promise<void> {
    this.#agentBreakers?.[Symbol.dispose]();
    this.#dependencies[Symbol.dispose]();
    await this.#taskCache.close().catch(() => {});
  }

  /** Every metric as plain JSON (gauges sampled now); `[]` with `metrics: false`. */
  metrics(): MetricSnapshot[] {
    return this.#metrics?.snapshot() ?? [];
  }

  /** Every metric in the Prometheus text exposition format 0.0.4; `""` with `metrics: false`. */
  metricsText(): string {
    return this.#metrics?.toPrometheus() ?? "";
  }

  /** Event deliveries to `on` listeners that threw, and where their retries stand. */
  eventDeadLetters(): EventDeadLetter<HiveEvent>[] {
    return this.#bus.deadLetters();
  }

  /**
   * Serves `/metrics`, `/health/live` and `/health/ready` (ready = running, accepting work and
   * not degraded) on `host:port` — port 9464 on loopback unless told otherwise, as `apiary
   * serve`; closed when the hive stops.
   * @throws InvalidOptionsError (rejects) when `options` is not an object { port, host, signal } or an option is invalid
   * @throws ServeFailedError (rejects) when the port cannot be bound
   */
  async serve(options: HiveServeOptions = {}): Promise<HealthServer> {
    if (options === null || typeof options !== "object") throw new InvalidOptionsError(`Cannot serve health: options must be an object { port, host, signal }, received ${describeValue(options)}`);
    const { port: _port, host: _host, signal: _signal, ...unknown } = options;
    const extra = Object.keys(unknown);
    if (extra.length > 0) {
      throw new InvalidOptionsError(`Cannot serve health: ${extra.map((k) => JSON.stringify(k)).join(", ")} ${extra.length === 1 ? "is not a known option" : "are not known options"}`);
    }
    const server = await serveHealth({
      port: options.port ?? DEFAULT_HEALTH_PORT,
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      metrics: () => this.metricsText(),
      live: () => this.#state !== "stopped",
      ready: () => this.#readiness(),
    });
    this.#servers.add(server);
    const close = (): Promise<void> => {
      this.#servers.delete(server);
      return server.close();
    };
    return { url: server.url, port: server.port, close, [Symbol.asyncDispose]: close };
  }

  #readiness(): Readiness {
    if (this.#state !== "running") return { ready: false, reason: `the hive is ${this.#state}` };
    const snap = this.#actor?.getSnapshot();
    const degraded = snap?.context.degraded;
    if (degraded) return { ready: false, reason: `the hive is degraded: ${degraded.reason}` };
    const queen = String(snap?.value);
    if (queen !== "accepting") return { ready: false, reason: `the hive is ${queen}` };
    return { ready: true };
  }

  #gaugeSample(): { queued: number; running: number; agents: AgentStats[]; uptimeSeconds: number; deadLetters: number } {
    const counts = this.#actor?.getSnapshot().context.counts;
    const running = this.#state === "running" || this.#state === "stopping";
    return {
      queued: counts?.queued ?? 0,
      running: counts?.running ?? 0,
      agents: this.#agentStats(),
      uptimeSeconds: running ? (this.#clock.now() - this.#startedAt) / 1_000 : 0,
      deadLetters: this.#bus.deadLetters().filter((l) => l.state !== "dropped").length,
    };
  }

  async #closeObservability(): Promise<void> {
    await Promise.allSettled([...this.#servers].map((s) => s.close()));
    await this.#inspect.writer?.close().catch(() => {});
  }

  /** `await using hive = createHive(...)` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
