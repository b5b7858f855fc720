/**
 * The hive: a facade over the collaborators that each own one concern — the options
 * (`options.ts`), the intake of tasks and their handles (`intake.ts`), the actor system
 * (`system.ts`), the lifecycle fan-out below, events (`events.ts`), stats and readiness
 * (`stats.ts`), explanations, dead letters, the journal (`durability.ts`), breakers, dependencies,
 * the result cache, metrics and the inspector. A new feature adds its own file and a line here.
 *
 * @module
 */
import type { LifecycleEvent } from "../../actors/queen.ts";
import type { AllocationOption } from "../../actors/allocation-strategies.ts";
import { createBackend, DEFAULT_BACKEND } from "../backends/registry.ts";
import type { ExecutionBackend } from "../backends/types.ts";
import { type HiveClock, realClock } from "../core/clock.ts";
import type { Disposer } from "../core/disposer.ts";
import { describeValue, HiveNotStartedError, HiveStoppedError, InvalidOptionsError, InvalidTaskError } from "../core/errors.ts";
import { parseFor } from "../core/validation.ts";
import type { DeadLetter as EventDeadLetter, SubscribeOptions, WaitForOptions } from "../observe/bus.ts";
import { LogHistogram } from "../metrics/histogram.ts";
import type { MetricSnapshot } from "../metrics/registry.ts";
import { type HealthServer, serveOwned } from "../observe/serve.ts";
import { backendHost } from "./backend-host.ts";
import { AgentBreakers, type BreakerTransitionEvent, parseAgentBreakerOptions } from "./agent-breakers.ts";
import { type DeadLetteredTask, DeadLetters } from "./dead-letters.ts";
import { type DependencyOptions, DependencyRegistry } from "./dependencies.ts";
import { HiveDurability, type TaskResult } from "./durability.ts";
import { type HiveEvent, HiveEvents, type HiveEventType } from "./events.ts";
import { type Explanation, Explanations } from "./explanations.ts";
import { type ResolvedInspect, resolveInspect } from "./inspect.ts";
import { hiveDashboard } from "./inspect-dashboard.ts";
import { Intake, type MapOptions, type TrustedTask } from "./intake.ts";
import { type HiveGaugeSample, HiveMetrics } from "./metrics.ts";
import { type AgentOptions, backendContext, type HiveOptions, type HiveServeOptions, type MapResult, type TaskHandle, type TaskOptions } from "./options.ts";
import { agentSchema, allocationSchema, hiveOptionsSchema, type ParsedHiveOptions } from "./schema.ts";
import { agentStats, type HiveState, type HiveStats, NO_POOL, NO_TASKS, readiness } from "./stats.ts";
import { persistSystem, type QueenActor, startSystem, supervisorOf } from "./system.ts";
import { type InvalidateSelector, TaskCache } from "./task-cache.ts";
import { listQueued, type QueuedOptions, type QueuedTask, waitingOf } from "./queue-view.ts";
import { TaskGraph } from "./task-graph.ts";
import { ProgressHub } from "./progress.ts";
import type { ProgressReport } from "../../workers/protocol.ts";
import { type ScheduleHandle, type ScheduleOptions, Schedules, type ScheduleSpec } from "./schedules.ts";

export type { AgentOptions, HiveOptions, HiveServeOptions, MapResult, TaskHandle, TaskOptions, TaskProgressEvent } from "./options.ts";
export type { HiveEvent, HiveEventType } from "./events.ts";
export type { AgentStats, HiveState, HiveStats, LatencySummary } from "./stats.ts";
export type { Explanation, FaultAttribution, PlacementExplanation, WaitingExplanation } from "./explanations.ts";
export type { DeadLetteredTask } from "./dead-letters.ts";
export type { MapOptions, TrustedTask } from "./intake.ts";
export type { QueuedOptions, QueuedTask, Waiting } from "./queue-view.ts";
export type { ScheduleHandle, ScheduleOptions, ScheduleSpec } from "./schedules.ts";

/** @internal Key of {@link Hive}'s trusted submit, for the simulation (not exported from the package). */
export const submitTrusted: unique symbol = Symbol("apiary.submitTrusted");

/** @internal Key of {@link Hive}'s synchronous observer, for the run recorder (not exported from the package). */
export const observeTrusted: unique symbol = Symbol("apiary.observeTrusted");

/** Sees every lifecycle event, in order, before callers do. */
type LifecycleObserver = (event: LifecycleEvent) => void;

/** Creates a hive. Validates every option; nothing runs until {@link Hive.start}. */
export function createHive(options: HiveOptions): Hive {
  return new Hive(options);
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
  #state: HiveState = "created";
  #queen: QueenActor | undefined;
  #kinds: ReadonlySet<string> = new Set();
  #startedAt = 0;
  /** The first `start()`'s promise: later calls while starting or running return it. */
  #starting: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #drainWaiters: (() => void)[] = [];
  /** Callers waiting for an agent's removal, by agent id. */
  readonly #removals = new Map<string, (() => void)[]>();
  #saveQueued = false;
  /** The allocation strategy the Supervisor starts with (`allocation`, or the last `setAllocation` before start). */
  #allocation: AllocationOption | undefined;
  /** Submit-to-completion latency of completed tasks, ms. */
  readonly #latency = new LogHistogram();

  readonly #events: HiveEvents;
  readonly #intake: Intake;
  readonly #durable: HiveDurability;
  readonly #explanations = new Explanations();
  readonly #deadLetters = new DeadLetters();
  /** Tasks held until the tasks they run after end. */
  readonly #graph: TaskGraph;
  /** Repeating work (`schedule`). */
  readonly #schedules: Schedules;
  /** Handlers' `ctx.progress` reports. */
  readonly #progress: ProgressHub;
  /** One breaker per agent; undefined when `breaker: false`. */
  readonly #agentBreakers: AgentBreakers | undefined;
  /** Named dependencies and the shared state mirror threads read. */
  readonly #dependencies: DependencyRegistry;
  readonly #taskCache: TaskCache;
  /** Undefined with `metrics: false`. */
  readonly #metrics: HiveMetrics | undefined;
  /** The inspect observer and the trace writer the hive owns (closed on stop). */
  readonly #inspect: ResolvedInspect;
  /** Health servers started by `serve`; closed on stop. */
  readonly #servers = new Set<HealthServer>();
  /** Who sees each lifecycle event, in this order, before the journal and the callers. */
  readonly #observers: LifecycleObserver[];

  /**
   * Prefer {@link createHive}.
   * @throws InvalidOptionsError naming the field and the value received
   */
  constructor(input: HiveOptions) {
    const options = parseFor(hiveOptionsSchema, input, "create hive", (m) => new InvalidOptionsError(m));
    this.#options = options;
    this.#allocation = options.allocation;
    const clock = options.clock;
    this.#clock = clock === undefined ? realClock : {
      now: clock.now?.bind(clock) ?? (() => performance.now()),
      setTimeout: clock.setTimeout.bind(clock),
      clearTimeout: clock.clearTimeout.bind(clock),
      ...(clock.epochMs !== undefined ? { epochMs: clock.epochMs } : {}),
    };
    this.#events = new HiveEvents(this.#clock, options.events?.replay);
    this.#inspect = resolveInspect(options.inspect, this.#clock.now);
    this.#metrics = options.metrics ? new HiveMetrics(() => this.#gaugeSample()) : undefined;
    const breakerOptions = parseAgentBreakerOptions(input.breaker);
    this.#agentBreakers = breakerOptions === false ? undefined : new AgentBreakers(options.agents.map((a) => a.id), breakerOptions, this.#clock, (e) => this.#onAgentBreaker(e));
    this.#dependencies = new DependencyRegistry(this.#clock, (e) => this.#events.publish(e));
    // Worker nodes' calls of a rate-limited dependency count in Redis: so do the main thread's.
    if (options.backend === "remote") this.#dependencies.expectSharedRates();
    this.#taskCache = new TaskCache(input.cache, input.store, clock === undefined ? undefined : this.#clock, this.#clock);
    this.#durable = new HiveDurability(options.durability, options.recover, input.journal, input.store);
    this.#intake = new Intake({
      options,
      clock: this.#clock,
      durable: this.#durable,
      taskCache: this.#taskCache,
      queen: () => this.#queen,
      running: () => this.#state === "running",
      accepting: (action) => this.#accepting(action),
      kinds: () => this.#kinds,
      publish: (e) => this.#events.publish(e),
      checkAfter: (id, after, action) => this.#graph.check(id, after, action),
      held: (id, after, policy) => this.#graph.hold(id, after, policy),
    });
    this.#schedules = new Schedules(this.#clock, () => this.#saveState());
    this.#graph = new TaskGraph({ clock: this.#clock, durable: this.#durable, queen: () => this.#queen, isOpen: (id) => this.#intake.isOpen(id) });
    this.#observers = [
      ...(this.#agentBreakers ? [(e: LifecycleEvent) => this.#agentBreakers!.observe(e)] : []),
      this.#explanations.observe,
      ...(this.#metrics ? [(e: LifecycleEvent) => this.#metrics!.record(e)] : []),
    ];
    const backend = options.backend ?? DEFAULT_BACKEND;
    this.#progress = new ProgressHub((report) => this.#onProgress(report));
    const context = backendContext(options, this.#dependencies.channel, this.#clock, this.#progress.channel);
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
      this.#progress.listen();
      ({ kinds } = await backend.start(signal));
    } catch (error) {
      this.#state = "stopped";
      this.#dependencies.sharedRatesLost(new HiveStoppedError(`Cannot call a rate-limited dependency: the hive did not start (${error instanceof Error ? error.message : String(error)})`));
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
    const queen = startSystem(
      {
        options: this.#options,
        backend,
        clock: this.#clock,
        allocation: this.#allocation,
        inspect: this.#inspect.observer,
        restore: recovered.state !== undefined ? { state: recovered.state, ageMs: recovered.stateAgeMs } : undefined,
        transfers: this.#intake.transfers,
      },
      {
        lifecycle: (event) => this.#onLifecycle(event),
        decisions: (decisions) => {
          this.#explanations.decided(decisions);
          if (this.#events.wanted("allocation.decided")) { for (const d of decisions) this.#events.publish({ type: "allocation.decided", ...d }); }
        },
        fallback: (event) => this.#events.publish(event),
        agents: (events) => {
          for (const e of events) {
            if (e.type === "agent.removed") {
              for (const resolve of this.#removals.get(e.agentId) ?? []) resolve();
              this.#removals.delete(e.agentId);
            }
            this.#events.publish(e);
          }
          this.#saveState();
        },
      },
    );
    this.#queen = queen;
    this.#schedules.restore(recovered.state?.schedules);
    this.#startedAt = this.#clock.now();
    this.#state = "running";
    this.#events.publish({ type: "hive.started", at: this.#startedAt, backend: backend.name, kinds });
    backend.attach?.(backendHost({
      addAgent: (spec) => this.addAgent(spec),
      removeAgent: (id) => this.removeAgent(id),
      failAgent: (id, reason) => this.failAgent(id, reason),
      setKinds: (k) => (this.#kinds = new Set(k)),
      agentIds: () => this.stats().agents.map((a) => a.id),
    }));
    if (this.#durable.recover) {
      // Straight to the Queen: these are in the journal already.
      for (const t of recovered.tasks) if (t.after !== undefined) this.#graph.hold(t.id, t.after, t.afterPolicy ?? "fail");
      if (recovered.tasks.length > 0) queen.send({ type: "queen.submit", tasks: recovered.tasks, at: this.#startedAt });
      for (const letter of recovered.deadLetters) this.#deadLetters.add(letter);
      const results = this.#durable.journal?.index.ended.size ?? 0;
      this.#events.publish({ type: "hive.recovered", tasks: recovered.tasks.length, results, skipped: recovered.skipped.length, abandoned: recovered.abandoned, at: this.#startedAt });
      this.#saveState();
    }
  }

  /** Saves the Queen's and Supervisor's state beside the journal, once per turn at most. */
  #saveState(): void {
    if (this.#durable.journal === undefined || this.#saveQueued) return;
    this.#saveQueued = true;
    queueMicrotask(() => {
      this.#saveQueued = false;
      persistSystem(this.#queen, this.#durable, this.#clock.now(), this.#schedules.lastRuns());
    });
  }

  /** A progress report of the running attempt of a task becomes a `task.progress` event; a stale one is dropped. */
  #onProgress(report: ProgressReport): void {
    const record = this.#queen?.getSnapshot().context.tasks.get(report.taskId);
    if (record === undefined || record.state !== "running" || record.attempt !== report.attempt) return;
    const event = { type: "task.progress" as const, taskId: report.taskId, kind: record.kind, attempt: report.attempt, value: report.value, at: this.#clock.now() };
    this.#intake.progress(event);
    this.#events.publish(event);
  }

  /** The fan-out: observers, then the journal, then (after its write under `every-task`) callers. */
  #onLifecycle(event: LifecycleEvent): void {
    for (const observe of this.#observers) observe(event);
    // Journal it; under every-task the caller hears of an end only once it is on disk.
    const ended = this.#durable.observe(event, this.#state === "stopping");
    this.#graph.observe(event);
    this.#intake.observe(event);
    const journal = this.#durable.journal;
    // Every event waits its turn, so callers see them in the order they happened.
    if (journal?.durability === "every-task" && this.#state !== "stopping" && (ended || journal.pendingCallbacks > 0)) {
      journal.afterWrite(() => this.#deliver(event));
      return;
    }
    this.#deliver(event);
  }

  #deliver(event: LifecycleEvent): void {
    if (event.type === "task.completed") this.#latency.record(event.latencyMs);
    else if (event.type === "task.deadLettered") this.#deadLetters.add(event);
    else if (event.type === "hive.drained") {
      event = { ...event, at: this.#clock.now() };
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    } else if (event.type === "hive.stopped") event = { ...event, at: this.#clock.now() };
    this.#intake.settle(event);
    this.#events.publish(event);
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
    return this.#intake.submit<O, I>(task);
  }

  /**
   * @internal For `simulate`: submits a task built from an already validated scenario without
   * parsing it again per task. With `track: false` nobody will look at its result: no handle,
   * no promise (open-loop arrivals; the recorder follows it through the hive's events).
   */
  [submitTrusted](task: TrustedTask, track: false): undefined;
  /** @internal */
  [submitTrusted](task: TrustedTask, track?: true): TaskHandle<unknown>;
  /** @internal */
  [submitTrusted](task: TrustedTask, track = true): TaskHandle<unknown> | undefined {
    this.#running("submit task");
    return this.#intake.submitTrusted(task, track);
  }

  /**
   * @internal For the run recorder: `observer` is handed every event as it is published, before
   * the bus queues it for `on` listeners — no queue, no microtask. It must not throw. Returns the
   * function that removes it.
   */
  [observeTrusted](observer: (event: HiveEvent) => void): () => void {
    return this.#events.observe(observer);
  }

  /**
   * How task `id` ended: resolves at once for a finished task (kept for `journal.retentionMs`,
   * also across a restart with `recover: true`), when it ends for an unfinished one, and to
   * undefined for an id the hive does not know.
   * @throws InvalidTaskError when `id` is not a non-empty string
   */
  result(id: string): Promise<TaskResult | undefined> {
    return this.#intake.result(id);
  }

  /**
   * Submits a task and resolves to its output. Rejects (never throws) where `submit` would throw:
   * INVALID_TASK, HIVE_NOT_STARTED, or HIVE_STOPPED while draining, stopping or stopped.
   */
  async run<O = unknown, I = unknown>(task: TaskOptions<I>): Promise<O> {
    return this.submit<O, I>(task).result;
  }

  /**
   * Fans `inputs` out as tasks of one kind and gathers the results in input order.
   * `policy: "fail-fast"` (default) rejects with the first error and cancels the rest;
   * `"settle"` waits for all and reports each as `{ ok, value | error }`. Rejects (never throws)
   * with INVALID_TASK when a task is invalid (then none is submitted), and as `submit` throws when
   * the hive is not accepting work.
   */
  map<O = unknown, I = unknown>(kind: string, inputs: readonly I[], options?: MapOptions<I> & { policy?: "fail-fast" }): Promise<O[]>;
  map<O = unknown, I = unknown>(kind: string, inputs: readonly I[], options: MapOptions<I> & { policy: "settle" }): Promise<MapResult<O>[]>;
  async map<O = unknown, I = unknown>(kind: string, inputs: readonly I[], options: MapOptions<I> = {}): Promise<O[] | MapResult<O>[]> {
    return this.#intake.map<O, I>(kind, inputs, options);
  }

  /**
   * Listens to hive events (`"*"` for all). Delivery is queued (a microtask after the event);
   * a listener that throws is isolated: the others and the hive carry on (see `deadLetters()`).
   * With `{ replay: true }` the listener first gets the last `events.replay` events.
   * @returns a function that removes the listener (also `Symbol.dispose`-able)
   * @throws InvalidOptionsError when `type` is neither `"*"` nor a hive event type, or `listener` is not a function
   */
  on<T extends HiveEventType | "*">(type: T, listener: (event: T extends "*" ? HiveEvent : Extract<HiveEvent, { type: T }>) => void, options?: SubscribeOptions): Disposer {
    return this.#events.on(type, listener as (event: HiveEvent) => void, options);
  }

  /**
   * Resolves with the first hive event (delivered after this call) that matches.
   * @throws InvalidOptionsError when `predicate` is an unknown event type, or neither a type nor a function
   */
  waitFor(predicate: HiveEventType | ((event: HiveEvent) => boolean), options?: WaitForOptions): Promise<HiveEvent> {
    return this.#events.waitFor(predicate, options);
  }

  /** Event deliveries to `on` listeners that threw, and where their retries stand. */
  eventDeadLetters(): EventDeadLetter<HiveEvent>[] {
    return this.#events.deadLetters();
  }

  /** Tasks that failed through their last attempt (thrown, crashed, timed out), oldest first. */
  deadLetters(): DeadLetteredTask[] {
    return this.#deadLetters.list();
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

  /**
   * Why a task ran where it did: the latest placement decision (the winner, the runner-up and
   * every score term) and, for each failed attempt, whose fault it was and on what evidence.
   * While the task waits, `waiting` says for what: `ready` (no eligible agent has a free slot, or
   * the hive is paused), `limited` (its kind's dispatch limit; `at` is when the next may go),
   * `delayed` (`delayMs`/`runAt` or a retry's backoff; `at` is when it may go) or `held` (the tasks
   * it runs after). A task never placed yet has no decision: `winner` is undefined. Undefined for
   * an id the hive neither holds nor has a kept decision about. Found by id (no walk over the
   * queue; a ready task's `at` walks its own priority lane only).
   *
   * @example
   * ```ts
   * const e = hive.explain(handle.id);
   * if (e?.waiting) console.log(`${e.waiting.state}: ${e.waiting.reason}`);
   * else console.log(e?.winner?.agentId);
   * ```
   */
  explain(taskId: string): Explanation | undefined {
    this.#intake.flush(); // this turn's submits too
    return this.#explanations.explain(taskId, waitingOf(this.#queen, taskId, this.#clock.now(), this.#graph));
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
    const parsed = parseFor(allocationSchema, allocation, "set allocation", (m) => new InvalidOptionsError(m), ["allocation"]);
    if (this.#state === "created" || this.#state === "starting") {
      this.#allocation = parsed;
      return;
    }
    const supervisor = this.#supervisor("set allocation");
    this.#allocation = parsed;
    supervisor.send({ type: "supervisor.allocation", allocation: parsed, at: this.#clock.now() });
  }

  /**
   * Runs `task` again and again: every `everyMs` ms, or at the times of a `cron` pattern (five or
   * six fields, read against the hive's wall time, in `timezone` if given). Each run submits the
   * task afresh (a new id). Timers run on the hive clock, so a simulation drives them in virtual
   * time. With a journal each schedule's last run is saved: made again under the same `id` after
   * downtime, a schedule that missed runs runs once at once, not once per missed period. A run
   * while the hive drains is skipped; one refused by a full queue is dropped.
   *
   * @example
   * ```ts
   * const nightly = hive.schedule({ kind: "report" }, { cron: "0 3 * * *" }, { id: "nightly-report" });
   * const poll = hive.schedule({ kind: "poll", input: { url } }, { everyMs: 30_000 });
   * poll.stop();
   * ```
   * @throws InvalidTaskError as `submit` would, and when the task sets `id` or `idempotencyKey`
   * @throws InvalidOptionsError naming the field when `when` or `options` is invalid (a bad cron pattern included)
   */
  schedule<I = unknown>(task: TaskOptions<I>, when: ScheduleSpec, options?: ScheduleOptions): ScheduleHandle {
    this.#intake.validate(task, "schedule task");
    if (task.id !== undefined) throw new InvalidTaskError(`Cannot schedule task: "id" must not be set (each run is a new task), received ${JSON.stringify(task.id)}`);
    if (task.idempotencyKey !== undefined) {
      throw new InvalidTaskError(`Cannot schedule task: "idempotencyKey" must not be set (each run is a new task), received ${JSON.stringify(task.idempotencyKey)}`);
    }
    const parsed = this.#schedules.parse(when, options);
    const copy = { ...task };
    return this.#schedules.start(parsed, () => {
      if (this.#state !== "running" || this.#queen?.getSnapshot().value === "draining") return;
      this.#intake.submit(copy).result.catch(() => {});
    });
  }

  /**
   * Stops dispatch: running attempts finish, nothing new is placed, and tasks keep being accepted
   * (within `queue.maxQueued`, every one of them now counted as waiting). `/health/ready` answers
   * 503 "paused". Saved with the journal's state: a recovered hive stays paused. Idempotent.
   * @throws HiveNotStartedError / HiveStoppedError when the hive is not running
   */
  pause(): void {
    this.#supervisor("pause the hive").send({ type: "supervisor.pause", paused: true, at: this.#clock.now() });
    this.#saveState();
  }

  /**
   * Restarts dispatch after {@link Hive.pause}: waiting tasks are placed at once. Idempotent.
   * @throws HiveNotStartedError / HiveStoppedError when the hive is not running
   */
  resume(): void {
    this.#supervisor("resume the hive").send({ type: "supervisor.pause", paused: false, at: this.#clock.now() });
    this.#saveState();
  }

  /** Whether dispatch is paused ({@link Hive.pause}). */
  get paused(): boolean {
    const supervisor = this.#queen?.system.get("supervisor") as ReturnType<typeof supervisorOf> | undefined;
    return supervisor?.getSnapshot().context.paused ?? false;
  }

  /**
   * The tasks that wait, in the order they will run: first those ready for a free agent (by aged
   * priority, then longest waiting — the order the Supervisor places them in when agents are
   * eligible for all), then those waiting out a delay or a retry backoff, soonest first.
   * @throws InvalidOptionsError naming the field when an option is invalid
   */
  queued(options: QueuedOptions = {}): QueuedTask[] {
    this.#intake.flush(); // this turn's submits too
    return listQueued(this.#queen, this.#clock.now(), this.#options.queue.agingMs, options);
  }

  /**
   * Cancels task `id` wherever it is (waiting, delayed or running), as its handle's `cancel`
   * does: its result rejects with TASK_CANCELLED. Returns false when no unfinished task has that id.
   * @throws InvalidTaskError when `id` is not a non-empty string
   */
  cancel(id: string, reason = "cancelled by hive.cancel"): boolean {
    if (typeof id !== "string" || id.length === 0) throw new InvalidTaskError(`Cannot cancel task: "id" must be a non-empty string, received ${describeValue(id)}`);
    if (typeof reason !== "string") throw new InvalidTaskError(`Cannot cancel task: "reason" must be a string, received ${describeValue(reason)}`);
    if (!this.#intake.isOpen(id)) return false;
    this.#intake.cancel(id, reason);
    return true;
  }

  /**
   * Clears `degraded` by hand: every agent an escalation failed (and every failed agent that is
   * not temporary) restarts with backoff, on a fresh restart-intensity window; `hive.healed`
   * follows once the first is back. Does nothing when no agent is down for good.
   */
  heal(): void {
    this.#supervisor("heal the hive").send({ type: "supervisor.heal", at: this.#clock.now() });
  }

  #running(action: string): QueenActor {
    const queen = this.#queen;
    if (this.#state !== "running" || queen === undefined) {
      if (this.#state === "created" || this.#state === "starting") throw new HiveNotStartedError(`Cannot ${action}: the hive is ${this.#state}; await hive.start() first`);
      throw new HiveStoppedError(`Cannot ${action}: the hive is ${this.#state}`);
    }
    return queen;
  }

  /**
   * The rule for work the hive does not take: before `start()` resolves it throws
   * HiveNotStartedError; while draining, stopping or stopped, HiveStoppedError. `submit` throws
   * it at once, `run` and `map` reject with it.
   */
  #accepting(action: string): void {
    if (this.#running(action).getSnapshot().value === "draining") throw new HiveStoppedError(`Cannot ${action}: the hive is draining; it takes work again once drain() resolves`);
  }

  #supervisor(action: string): ReturnType<typeof supervisorOf> {
    return supervisorOf(this.#running(action));
  }

  /**
   * Adds an agent to the running swarm; queued work it can run starts at once.
   * @throws InvalidOptionsError when the spec is invalid or its id is taken
   */
  addAgent(spec: AgentOptions): void {
    const supervisor = this.#supervisor("add agent");
    const a = parseFor(agentSchema, spec, "add agent", (m) => new InvalidOptionsError(m));
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

  /** Counts, latencies, agents and pool figures. Every task submitted so far counts, even in the same turn. */
  stats(): HiveStats {
    this.#intake.flush(); // submits are buffered until the end of the turn: hand them to the Queen now
    const snap = this.#queen?.getSnapshot();
    const tasks = { ...(snap?.context.counts ?? NO_TASKS) };
    tasks.submitted += this.#intake.unwritten; // every-task: on their way to the disk, not yet with the Queen
    const uptimeMs = this.#state === "created" || this.#state === "starting" ? 0 : this.#clock.now() - this.#startedAt;
    const { count, mean, p50, p95, p99, max } = this.#latency.summary();
    return {
      state: this.#state,
      degraded: snap?.context.degraded ?? null,
      paused: this.paused,
      backend: this.#backend?.name ?? this.#backendName,
      tasks,
      throughputPerSec: uptimeMs > 0 ? (tasks.completed * 1_000) / uptimeMs : 0,
      latencyMs: { count, mean, p50, p95, p99, max },
      agents: agentStats(this.#queen, this.#options.agents),
      pool: this.#backend?.stats() ?? { ...NO_POOL },
      uptimeMs,
      breakers: [...(this.#agentBreakers?.stats() ?? []), ...this.#dependencies.stats()],
      cache: this.#taskCache.stats(),
      journal: this.#durable.stats(),
    };
  }

  /**
   * Resolves once every accepted task has ended (and, with a journal, its end is written).
   * Submits while draining throw HIVE_STOPPED (`run` and `map` reject with it); once drained the
   * hive takes work again.
   */
  async drain(signal?: AbortSignal): Promise<void> {
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionsError(`Cannot drain the hive: "signal" must be an AbortSignal, received ${describeValue(signal)}`);
    const queen = this.#queen;
    if (queen === undefined || this.#state !== "running") return;
    this.#intake.flush();
    if (this.#intake.unwritten > 0) await this.#durable.journal?.written(); // on to the Queen first
    if (queen.getSnapshot().context.tasks.size > 0) {
      await new Promise<void>((resolve, reject) => {
        this.#drainWaiters.push(resolve);
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        queen.send({ type: "queen.drain", at: this.#clock.now() });
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
    const queen = this.#queen;
    if (queen !== undefined && prior === "running") {
      this.#intake.flush();
      this.#intake.forgetUnwritten(); // written or not, they stay open in the journal
      this.#schedules.stopAll();
      persistSystem(queen, this.#durable, this.#clock.now(), this.#schedules.lastRuns());
      const running: string[] = [];
      for (const r of queen.getSnapshot().context.tasks.values()) if (r.state === "running") running.push(r.id);
      this.#durable.stoppedCleanly(running);
      queen.send({ type: "queen.stop", at: this.#clock.now() });
      queen.stop();
    }
    this.#intake.cancelWaiting();
    this.#dependencies.sharedRatesLost(new HiveStoppedError("Cannot call a rate-limited dependency: the hive stopped, and its calls count in Redis through it"));
    await this.#backend?.close();
    await this.#durable.close().catch(() => {});
    // Breakers stop; the cache flushes to its store (a failing store never fails `stop()`).
    this.#agentBreakers?.[Symbol.dispose]();
    this.#dependencies[Symbol.dispose]();
    await this.#taskCache.close().catch(() => {});
    await Promise.allSettled([...this.#servers].map((s) => s.close()));
    await this.#inspect.writer?.close().catch(() => {});
    this.#progress.close();
    await this.#events.close();
    this.#state = "stopped";
  }

  /** An agent's breaker moved: tell the Supervisor (allocation) and publish it. */
  #onAgentBreaker(event: BreakerTransitionEvent): void {
    this.#queen?.system.get("supervisor")?.send({ type: "supervisor.breaker", agentId: event.name, state: event.to, at: event.at });
    this.#events.publish(event);
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

  /** Every metric as plain JSON (gauges sampled now); `[]` with `metrics: false`. */
  metrics(): MetricSnapshot[] {
    return this.#metrics?.snapshot() ?? [];
  }

  /** Every metric in the Prometheus text exposition format 0.0.4; `""` with `metrics: false`. */
  metricsText(): string {
    return this.#metrics?.toPrometheus() ?? "";
  }

  /**
   * Serves `/metrics`, `/health/live`, `/health/ready` (ready = running, accepting work and
   * not degraded) and the live dashboard (`/`, no internet needed) on `host:port` — port 9464 on loopback unless told otherwise, as `apiary
   * serve`; closed when the hive stops.
   * @throws InvalidOptionsError (rejects) when `options` is not an object { port, host, signal } or an option is invalid
   * @throws ServeFailedError (rejects) when the port cannot be bound
   */
  serve(options: HiveServeOptions = {}): Promise<HealthServer> {
    return serveOwned(options, this.#servers, {
      metrics: () => this.metricsText(),
      live: () => this.#state !== "stopped",
      ready: () => readiness(this.#state, this.#queen),
      dashboard: hiveDashboard({ hive: this, queen: () => this.#queen, metrics: this.#metrics, now: this.#clock.now }),
    });
  }

  #gaugeSample(): HiveGaugeSample {
    const counts = this.#queen?.getSnapshot().context.counts;
    const running = this.#state === "running" || this.#state === "stopping";
    return {
      queued: counts?.queued ?? 0,
      running: counts?.running ?? 0,
      agents: agentStats(this.#queen, this.#options.agents),
      uptimeSeconds: running ? (this.#clock.now() - this.#startedAt) / 1_000 : 0,
      deadLetters: this.#events.deadLetters().filter((l) => l.state !== "dropped").length,
      ready: readiness(this.#state, this.#queen),
      degraded: this.#queen?.getSnapshot().context.degraded != null,
      breakers: [...(this.#agentBreakers?.stats() ?? []), ...this.#dependencies.stats()],
    };
  }

  /** `await using hive = createHive(...)` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
