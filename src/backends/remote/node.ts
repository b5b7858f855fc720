/**
 * A worker node: brings agents and threads to a coordinator hive over BullMQ and Redis. It
 * registers itself (its agents, its task kinds, its threads) in the cluster's node hash, holds a
 * heartbeat lease, and runs the jobs of its own queue — one per incarnation — on a Piscina pool
 * in this process (the same backend, handler-module semantics, signals, grace and
 * `resourceLimits` as a local hive). It enforces each attempt's `timeoutMs` itself, from the
 * attempt's start on a thread, and aborts attempts the coordinator cancels (a control channel
 * per incarnation). A node whose lease lapsed (its agents were crashed and its attempts placed
 * elsewhere) drops what it was running and joins again as a new incarnation. Its threads'
 * `ctx.progress` reports (on a `BroadcastChannel` of its own) go to the coordinator with the start
 * reports, by job, through BullMQ's `job.updateProgress`: the job's own event stream, so they
 * arrive ahead of its outcome.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type Job, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { type DependencyReport, openProgressPort, type ProgressPort, type ProgressReport, RATE_LAYOUT } from "../../../workers/protocol.ts";
import { RateWindows } from "../../../workers/rate-window.ts";
import { buffersInside } from "../../../workers/transfer.ts";
import { AbortedError, InvalidOptionsError, TaskCancelledError, TaskFailedError, TaskTimeoutError, WaitTimeoutError } from "../../core/errors.ts";
import { PiscinaBackend } from "../piscina.ts";
import type { AttemptResult, BackendStats } from "../types.ts";
import { applyStates } from "./dependency-mirror.ts";
import { RedisRateLog, serveRateRequests } from "./rate-log.ts";
import {
  type Announcement,
  type ClusterKeys,
  clusterKeys,
  type ControlMessage,
  errorToWire,
  type JobData,
  type JobProgress,
  type JobResult,
  lockDurationMs,
  type NodeDescription,
  type WireAgent,
  type WireAttempt,
  type WireOutcome,
} from "./protocol.ts";
import { bullConnection, closeWorker, connect, reachable, within } from "./redis.ts";

/** What a node is made from (validated by `startWorkerNode`). */
export interface WorkerNodeConfig {
  redis: string;
  prefix: string;
  id: string;
  agents: WireAgent[];
  tasksUrl: string | null;
  threads: number;
  /** Fewest threads, when the pool grows and shrinks; absent: `threads`. */
  minThreads?: number | undefined;
  idleTimeoutMs?: number | undefined;
  workerData?: unknown;
  env?: Record<string, string> | undefined;
  execArgv?: string[] | undefined;
  maxBatch: number;
  abortGraceMs: number;
  startTimeoutMs: number;
  leaseMs: number;
  resourceLimits?: { maxOldGenerationSizeMb?: number | undefined; maxYoungGenerationSizeMb?: number | undefined; stackSizeMb?: number | undefined } | undefined;
  /** Hears of each attempt's end (the node's metrics). */
  onAttempt?: ((ended: AttemptEnd) => void) | undefined;
}

/** How an attempt ended on a node, as its metrics count it. */
export type NodeAttemptOutcome = "completed" | "failed" | "timedOut" | "cancelled" | "crashed";

/** One attempt's end on a node. */
export interface AttemptEnd {
  kind: string;
  outcome: NodeAttemptOutcome;
  /** Its run time on a thread, ms (undefined when it never began). */
  runMs: number | undefined;
}

/** Whether a node takes work (what its `/health/ready` answers). */
export interface NodeReadiness {
  ready: boolean;
  reason?: string | undefined;
}

/** A node's figures (`node.stats()`). */
export interface WorkerNodeStats {
  id: string;
  incarnation: string;
  state: "starting" | "up" | "leaving" | "stopped";
  /** Attempts running (or waiting for a thread) on this node now. */
  running: number;
  /** Jobs taken from its queue so far. */
  jobs: number;
  /** Attempts finished so far (any outcome). */
  attempts: number;
  /** Times it joined again after its lease lapsed. */
  rejoins: number;
  /** Jobs being run now (each carries one or more attempts). */
  jobsRunning: number;
  /** Epoch ms its lease was last taken or renewed (0 before it joined). */
  leaseRenewedAt: number;
  /** True while its command connection to Redis is up. */
  redisConnected: boolean;
  /** Threads started and not terminated now (the pool's spare included). */
  threadsAlive: number;
  pool: BackendStats;
}

/** Lua: renews the lease when it is free or ours; 1 renewed, 2 it had lapsed (taken again), 0 another incarnation holds it. */
const RENEW = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`;

/** Lua: deletes the lease and the description when they are this incarnation's. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local d = redis.call('HGET', KEYS[2], ARGV[2])
if d and string.find(d, ARGV[3], 1, true) then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 1`;

/** An attempt on this node, from its job's arrival to its outcome. */
interface Running {
  readonly wire: WireAttempt;
  /** This node's sequence number for it (the thread pool's). */
  readonly local: number;
  readonly job: Job<JobData, JobResult>;
  /** `taskId\u0001attempt`: how its thread's progress reports find it. */
  readonly taskKey: string;
  readonly finish: (outcome: WireOutcome) => void;
  /** Epoch ms it began on a thread (as its thread stamped it), once known. */
  startedAt: number | undefined;
  /** Its own timeout, armed from its start. */
  timer: ReturnType<typeof setTimeout> | undefined;
  settled: boolean;
}

/** How long an attempt runs before the node tells the coordinator it started (its backstop then arms), ms. */
const START_REPORT_AFTER_MS = 250;

/** A worker node; made by `startWorkerNode`. */
export class WorkerNode implements AsyncDisposable {
  readonly id: string;
  readonly #config: WorkerNodeConfig;
  readonly #keys: ClusterKeys;
  readonly #backend: PiscinaBackend;
  /** The coordinator's dependency-breaker states and rate limits, mirrored; the threads read it. */
  readonly #dependencyStates = new SharedArrayBuffer(RATE_LAYOUT.bytes);
  /** Where its threads ask for calls of rate-limited dependencies (counted in Redis). */
  readonly #rateChannel = `apiary-node-rates-${randomUUID()}`;
  #stopRates: (() => void) | undefined;
  /** Dependency calls made since the last job result; they ride on the next one. */
  #reports: DependencyReport[] = [];
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  #incarnation = "";
  #kinds: string[] = [];
  #worker: Worker<JobData, JobResult> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #state: WorkerNodeStats["state"] = "starting";
  /** Attempts on this node by `epoch:seq` (the coordinator's name for them). */
  readonly #running = new Map<string, Running>();
  #localSeq = 0;
  #jobs = 0;
  #attempts = 0;
  #rejoins = 0;
  #jobsRunning = 0;
  #leaseRenewedAt = 0;
  /** Attempts on this node by task id and attempt number (progress reports name them so). */
  readonly #byTask = new Map<string, Running>();
  /** Its threads' `ctx.progress` reports arrive here. */
  #progressPort: ProgressPort | undefined;
  readonly #progressChannel = `apiary-node-progress-${randomUUID()}`;
  /** Start reports waiting for the next flush, by job. */
  #startReports = new Map<Job<JobData, JobResult>, [number, number][]>();
  /** Progress values waiting for the next flush, by job, then by attempt seq (the latest wins). */
  #progressReports = new Map<Job<JobData, JobResult>, Map<number, unknown>>();
  #reportTimer: ReturnType<typeof setTimeout> | undefined;
  /** Attempts whose start was just reported, to arm at the end of the turn. */
  #toArm: Running[] = [];
  /** Resolves when the coordinator releases a leaving node. */
  #released: (() => void) | undefined;
  #stopping: Promise<void> | undefined;
  #renewing = false;
  /** When the heartbeat first failed to reach Redis, until a beat gets through again. */
  #beatFailedAt: number | undefined;

  constructor(config: WorkerNodeConfig) {
    this.id = config.id;
    this.#config = config;
    this.#keys = clusterKeys(config.prefix);
    this.#backend = new PiscinaBackend({
      tasksUrl: config.tasksUrl,
      threads: config.threads,
      minThreads: config.minThreads,
      idleTimeoutMs: config.idleTimeoutMs,
      workerData: config.workerData,
      env: config.env,
      execArgv: config.execArgv,
      maxBatch: config.maxBatch,
      abortGraceMs: config.abortGraceMs,
      startTimeoutMs: config.startTimeoutMs,
      resourceLimits: config.resourceLimits,
      dependencies: { states: this.#dependencyStates, onReports: (reports) => this.#reports.push(...reports), rateChannel: this.#rateChannel },
      progress: { name: this.#progressChannel, deliver: (report) => this.#onProgress(report) },
    });
    this.#redis = connect(config.redis, `apiary-node-${config.id}`);
    this.#subscriber = connect(config.redis, `apiary-node-${config.id}-control`);
  }

  /** This process's incarnation (a fresh one after a lapsed lease). */
  get incarnation(): string {
    return this.#incarnation;
  }

  /** Its heartbeat lease's time to live, ms. */
  get leaseMs(): number {
    return this.#config.leaseMs;
  }

  /** True once `stop()` has run to its end (or is stopping its threads). */
  get stopped(): boolean {
    return this.#state === "stopped";
  }

  /** The task kinds its module offers. */
  get kinds(): readonly string[] {
    return this.#kinds;
  }

  /**
   * Loads the task module, waits for Redis, takes the lease (waiting out a dead predecessor's),
   * registers and starts taking jobs.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const { kinds } = await this.#backend.start(signal);
    this.#kinds = kinds;
    if (typeof (globalThis as { BroadcastChannel?: unknown }).BroadcastChannel === "function") {
      const port = openProgressPort(this.#progressChannel);
      port.onmessage = (event) => {
        const r = event.data as ProgressReport | null;
        if (r !== null && typeof r === "object" && typeof r.taskId === "string" && typeof r.attempt === "number") this.#onProgress(r);
      };
      this.#progressPort = port;
      this.#stopRates = serveRateRequests(this.#rateChannel, new RateWindows(this.#dependencyStates), new RedisRateLog(this.#redis, this.#config.prefix));
    }
    try {
      await reachable(this.#redis, this.#config.redis, this.#config.startTimeoutMs, signal);
    } catch (error) {
      const message = `Cannot start worker node ${JSON.stringify(this.id)}: ${error instanceof Error ? error.message : String(error)}`;
      throw signal?.aborted ? new AbortedError(message, { cause: error }) : new WaitTimeoutError(message, { cause: error });
    }
    this.#subscriber.on("message", (channel: string, message: string) => this.#onMessage(channel, message));
    await this.#subscriber.subscribe(this.#keys.dependenciesChanged);
    await this.#refreshDependencies();
    await this.#join(signal);
    this.#heartbeat = setInterval(() => void this.#renew(), Math.max(50, Math.floor(this.#config.leaseMs / 3)));
  }

  /** Takes the lease under a new incarnation, registers, opens its queue and announces itself. */
  async #join(signal?: AbortSignal): Promise<void> {
    const incarnation = randomUUID().slice(0, 8);
    const deadline = Date.now() + this.#config.leaseMs * 2 + this.#config.startTimeoutMs;
    // A predecessor killed a moment ago still holds the lease until it lapses.
    for (;;) {
      const got = (await this.#redis.eval(RENEW, 1, this.#keys.lease(this.id), incarnation, String(this.#config.leaseMs))) as number;
      if (got !== 0) {
        this.#leaseRenewedAt = Date.now();
        break;
      }
      if (Date.now() > deadline || signal?.aborted) {
        throw new InvalidOptionsError(
          `Cannot start worker node: "id" must not be the id of another live node (its lease did not lapse within ${this.#config.leaseMs * 2} ms), received ${JSON.stringify(this.id)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(20, this.#config.leaseMs / 5)));
    }
    this.#incarnation = incarnation;
    await this.#subscriber.subscribe(this.#keys.control(this.id, incarnation));
    const queue = this.#keys.queue(this.id, incarnation);
    const concurrency = Math.max(1, Math.min(10_000, this.#config.agents.reduce((n, a) => n + (a.concurrency ?? 1), 0)));
    const worker = new Worker<JobData, JobResult>(queue, (job, _token, signal) => this.#process(job, signal), {
      connection: bullConnection(this.#config.redis),
      prefix: this.#config.prefix,
      concurrency,
      // Locks outlive a hiccup of this process; a node that is really gone is found by its lease.
      lockDuration: lockDurationMs(this.#config.leaseMs),
      stalledInterval: Math.max(1_000, this.#config.leaseMs),
      maxStalledCount: 1,
      autorun: true,
    });
    worker.on("error", () => {}); // connection trouble: BullMQ reconnects
    await worker.waitUntilReady();
    this.#worker = worker;
    await this.#describe("up");
    this.#state = "up";
    await this.#announce("up");
  }

  #description(state: "up" | "leaving"): NodeDescription {
    return {
      id: this.id,
      incarnation: this.#incarnation,
      state,
      agents: this.#config.agents,
      kinds: this.#kinds,
      threads: this.#config.threads,
      leaseMs: this.#config.leaseMs,
      startedAt: Date.now(),
      host: hostname(),
      pid: process.pid,
    };
  }

  async #describe(state: "up" | "leaving"): Promise<void> {
    await this.#redis.hset(this.#keys.nodes, this.id, JSON.stringify(this.#description(state)));
  }

  /** Publishes `state`; resolves with how many listened (coordinators: nodes do not subscribe). */
  async #announce(state: Announcement["state"]): Promise<number> {
    return await this.#redis.publish(this.#keys.announce, JSON.stringify({ nodeId: this.id, incarnation: this.#incarnation, state } satisfies Announcement));
  }

  /** The heartbeat: renews the lease; a lapsed one means the coordinator has given this incarnation up. */
  async #renew(): Promise<void> {
    if (this.#renewing || this.#state === "stopped" || this.#state === "starting") return;
    this.#renewing = true;
    try {
      const got = (await this.#redis.eval(RENEW, 1, this.#keys.lease(this.id), this.#incarnation, String(this.#config.leaseMs))) as number;
      const outage = this.#beatFailedAt !== undefined && Date.now() - this.#beatFailedAt < this.#config.leaseMs * 3;
      this.#beatFailedAt = undefined;
      if (got !== 0) this.#leaseRenewedAt = Date.now();
      // Lapsed while Redis was away (or restarted without it): the coordinator waits a lease
      // after such an outage before it gives a node up, so this incarnation carries on. If it
      // did give it up, it says so on the control channel ("rejoin").
      if (got === 1 || (got === 2 && outage)) return;
      // Lapsed (2: we took it again under the old incarnation; 0: another process holds the id).
      await this.#redis.eval(RELEASE, 2, this.#keys.lease(this.id), this.#keys.nodes, this.id, `"incarnation":"${this.#incarnation}"`);
      if (got === 0 || this.#state !== "up") return;
      await this.#rejoin();
    } catch {
      // Redis unreachable: the next beat tries again (the lease may lapse meanwhile).
      this.#beatFailedAt ??= Date.now();
    } finally {
      this.#renewing = false;
    }
  }

  /** Drops the old incarnation's work (its attempts now run elsewhere) and joins afresh. */
  async #rejoin(): Promise<void> {
    this.#rejoins++;
    const old = this.#worker;
    const oldIncarnation = this.#incarnation;
    this.#worker = undefined;
    for (const r of [...this.#running.values()]) this.#cancel(r, true, "its node's lease lapsed");
    await this.#subscriber.unsubscribe(this.#keys.control(this.id, oldIncarnation)).catch(() => {});
    void old?.close(true).catch(() => {});
    await this.#join();
  }

  /** Runs one job: its attempts on the pool; resolves to their outcomes once all have ended. */
  async #process(job: Job<JobData, JobResult>, signal: AbortSignal | undefined): Promise<JobResult> {
    this.#jobs++;
    this.#jobsRunning++;
    const { epoch, attempts } = job.data;
    const ran = attempts.map((a) => this.#run(epoch, a, job));
    const onAbort = (): void => {
      for (const a of attempts) {
        const r = this.#running.get(`${epoch}:${a.seq}`);
        if (r !== undefined) this.#cancel(r, true, "its job was cancelled on the node");
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const outcomes = await Promise.all(ran).finally(() => this.#jobsRunning--);
    signal?.removeEventListener("abort", onAbort);
    // Progress still waiting goes out first: on the same connection, ahead of the job's completion.
    this.#flushReports(job);
    const deps = this.#reports.length > 0 ? this.#reports.splice(0) : undefined;
    const result: JobResult = deps === undefined ? { outcomes } : { outcomes, deps: deps as [number, string][] };
    return jsonSafe(result);
  }

  #run(epoch: string, wire: WireAttempt, job: Job<JobData, JobResult>): Promise<WireOutcome> {
    const local = ++this.#localSeq;
    const key = `${epoch}:${wire.seq}`;
    const taskKey = `${wire.id}\u0001${wire.attempt}`;
    return new Promise<WireOutcome>((resolve) => {
      const r: Running = {
        wire,
        local,
        job,
        taskKey,
        startedAt: undefined,
        timer: undefined,
        settled: false,
        finish: (outcome) => {
          if (r.settled) return;
          r.settled = true;
          if (r.timer !== undefined) clearTimeout(r.timer);
          if (this.#running.get(key) === r) this.#running.delete(key);
          if (this.#byTask.get(taskKey) === r) this.#byTask.delete(taskKey);
          this.#attempts++;
          this.#config.onAttempt?.({ kind: wire.kind, outcome: outcomeOf(outcome), runMs: outcome.runMs });
          resolve(outcome);
        },
      };
      this.#running.set(key, r);
      this.#byTask.set(taskKey, r);
      this.#backend.exec(
        { id: wire.id, seq: local, kind: wire.kind, input: wire.input, attempt: wire.attempt, agentId: wire.agentId, timeoutMs: wire.timeoutMs },
        (result) => r.finish(toWire(wire, result, r.startedAt)),
        (startedAt, ended) => this.#onStart(r, startedAt, ended),
      );
    });
  }

  /** An attempt began (or ended ahead of its batch's reply, or waits to run again): its timeout follows. */
  #onStart(r: Running, startedAt: number | undefined, ended: boolean): void {
    if (r.settled) return;
    if (r.timer !== undefined) clearTimeout(r.timer);
    r.timer = undefined;
    r.startedAt = startedAt;
    if (startedAt === undefined || ended) return;
    // A short attempt's start comes with its outcome, in the same turn: arm nothing for it.
    this.#toArm.push(r);
    if (this.#toArm.length === 1) queueMicrotask(this.#arm);
  }

  /** Arms the timeout (and the start report) of attempts that began and are still running. */
  readonly #arm = (): void => {
    const list = this.#toArm;
    this.#toArm = [];
    const now = epochNow();
    for (const r of list) {
      const startedAt = r.startedAt;
      if (r.settled || startedAt === undefined || r.timer !== undefined) continue;
      const timer = setTimeout(() => this.#expire(r), Math.max(0, startedAt + r.wire.timeoutMs - now));
      timer.unref?.();
      r.timer = timer;
      // Tell the coordinator once it has run a while (its backstop arms from there) — at once when
      // its kind's dispatch limit waits for its start.
      const report = setTimeout(() => {
        if (r.settled || r.startedAt !== startedAt) return;
        const started = this.#startReports.get(r.job) ?? [];
        started.push([r.wire.seq, Math.round(epochNow() - startedAt)]);
        this.#startReports.set(r.job, started);
        this.#reportTimer ??= setTimeout(() => this.#flushStarts(), 0);
      }, r.wire.reportStart === true ? 0 : Math.max(0, startedAt + Math.min(START_REPORT_AFTER_MS, r.wire.timeoutMs / 4) - now));
      report.unref?.();
    }
  };

  /** A thread's `ctx.progress` (already throttled there): it rides on its job's next progress report. */
  #onProgress(report: ProgressReport): void {
    const r = this.#byTask.get(`${report.taskId}\u0001${report.attempt}`);
    if (r === undefined || r.settled || this.#state === "stopped") return; // it ended: a late report is dropped
    try {
      JSON.stringify(report.value);
    } catch {
      return; // only JSON crosses Redis
    }
    const values = this.#progressReports.get(r.job) ?? new Map<number, unknown>();
    values.set(r.wire.seq, report.value);
    this.#progressReports.set(r.job, values);
    this.#reportTimer ??= setTimeout(() => this.#flushStarts(), 0);
  }

  #flushStarts(): void {
    this.#reportTimer = undefined;
    const jobs = new Set([...this.#startReports.keys(), ...this.#progressReports.keys()]);
    for (const job of jobs) this.#flushReports(job);
  }

  /** Sends what waits for `job`: start reports and progress values, in one progress update. */
  #flushReports(job: Job<JobData, JobResult>): void {
    const started = this.#startReports.get(job);
    const values = this.#progressReports.get(job);
    if (started === undefined && values === undefined) return;
    this.#startReports.delete(job);
    this.#progressReports.delete(job);
    const data: JobProgress = {};
    if (started !== undefined) data.started = started;
    if (values !== undefined) data.values = [...values];
    void job.updateProgress(data as object).catch(() => {});
  }

  /** Its timeout passed: abort it (signal now, thread terminated after the grace period). */
  #expire(r: Running): void {
    if (r.settled) return;
    this.#backend.abort(r.local, true);
    const w = r.wire;
    r.finish({
      seq: w.seq,
      id: w.id,
      attempt: w.attempt,
      ok: false,
      runMs: w.timeoutMs,
      error: errorToWire(new TaskTimeoutError(`Task ${w.id} (${w.kind}) timed out after ${w.timeoutMs} ms (attempt ${w.attempt})`, { taskId: w.id })),
    });
  }

  #cancel(r: Running, kill: boolean, why: string): void {
    if (r.settled) return;
    this.#backend.abort(r.local, kill);
    const w = r.wire;
    r.finish({ seq: w.seq, id: w.id, attempt: w.attempt, ok: false, error: errorToWire(new TaskCancelledError(`Task ${w.id} (${w.kind}) was cancelled: ${why}`, { taskId: w.id })) });
  }

  #onMessage(channel: string, message: string): void {
    if (channel === this.#keys.dependenciesChanged) {
      applyStates(this.#dependencyStates, message);
      return;
    }
    if (channel !== this.#keys.control(this.id, this.#incarnation)) return;
    let control: ControlMessage;
    try {
      control = JSON.parse(message) as ControlMessage;
    } catch {
      return;
    }
    if (control.op === "release") {
      this.#released?.();
      return;
    }
    if (control.op === "rejoin") {
      if (this.#state === "up") void this.#rejoin().catch(() => {});
      return;
    }
    for (const seq of control.seqs) {
      const r = this.#running.get(`${control.epoch}:${seq}`);
      if (r !== undefined) this.#cancel(r, control.kill, "by the coordinator");
    }
  }

  async #refreshDependencies(): Promise<void> {
    const snapshot = await this.#redis.get(this.#keys.dependencies);
    if (snapshot !== null) applyStates(this.#dependencyStates, snapshot);
  }

  /** Its figures now. */
  stats(): WorkerNodeStats {
    return {
      id: this.id,
      incarnation: this.#incarnation,
      state: this.#state,
      running: this.#running.size,
      jobs: this.#jobs,
      attempts: this.#attempts,
      rejoins: this.#rejoins,
      jobsRunning: this.#jobsRunning,
      leaseRenewedAt: this.#leaseRenewedAt,
      redisConnected: this.#redis.status === "ready",
      threadsAlive: this.#backend.threadsAlive,
      pool: this.#backend.stats(),
    };
  }

  /**
   * Whether it takes work: joined and not leaving, connected to Redis, its lease renewed within
   * the last lease, and threads up.
   */
  readiness(): NodeReadiness {
    if (this.#state !== "up") return { ready: false, reason: `node ${this.#state}` };
    if (this.#redis.status !== "ready") return { ready: false, reason: `Redis not connected (${this.#redis.status})` };
    const ageMs = Date.now() - this.#leaseRenewedAt;
    if (ageMs > this.#config.leaseMs) return { ready: false, reason: `lease not renewed for ${ageMs} ms (lease ${this.#config.leaseMs} ms)` };
    if (this.#backend.threadsAlive < 1) return { ready: false, reason: "no worker thread up" };
    return { ready: true };
  }

  /**
   * Leaves the cluster: says it is leaving, waits until the coordinator has removed its agents
   * (their running attempts finish here first) — or, with no coordinator listening, until it has
   * nothing left to run — then stops taking jobs, gives up its lease and stops its threads. With
   * Redis gone it does not wait for it (a lease at most per step): the lease lapses and the
   * coordinator crashes its agents. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#state === "up") {
      this.#state = "leaving";
      const leaseMs = this.#config.leaseMs;
      const released = new Promise<void>((resolve) => (this.#released = resolve));
      // Only a coordinator listens on the announce channel: with none, no release will come.
      const said = this.#redis.status !== "ready" ? Promise.resolve(undefined) : (async () => {
        await this.#describe("leaving");
        return await this.#announce("leaving");
      })().catch(() => undefined);
      const coordinators = await within(said, leaseMs, undefined);
      if (coordinators !== undefined) {
        const quietSince = { at: Date.now() };
        await Promise.race([
          released,
          new Promise<void>((resolve) => {
            const timer = setInterval(() => {
              if (this.#running.size > 0) quietSince.at = Date.now();
              else if (coordinators === 0 || Date.now() - quietSince.at > leaseMs * 2) {
                clearInterval(timer);
                resolve();
              }
            }, 50);
            void released.then(() => clearInterval(timer));
          }),
        ]);
      }
    }
    const joined = this.#state !== "starting";
    this.#state = "stopped";
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    if (this.#reportTimer !== undefined) clearTimeout(this.#reportTimer);
    if (this.#worker !== undefined) await closeWorker(this.#worker, this.#config.leaseMs, this.#redis.status === "ready");
    if (joined && this.#redis.status === "ready") {
      const release = (async () => {
        await this.#redis.eval(RELEASE, 2, this.#keys.lease(this.id), this.#keys.nodes, this.id, `"incarnation":"${this.#incarnation}"`);
        await this.#announce("gone");
      })().catch(() => {
        // The lease lapses by itself.
      });
      await within(release, this.#config.leaseMs, undefined);
    }
    await this.#backend.close();
    this.#progressPort?.close();
    this.#progressPort = undefined;
    this.#stopRates?.();
    this.#stopRates = undefined;
    this.#subscriber.disconnect();
    this.#redis.disconnect();
  }

  /** `await using node = await startWorkerNode(...)` stops it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** How its metrics count an outcome. */
function outcomeOf(o: WireOutcome): NodeAttemptOutcome {
  if (o.ok) return "completed";
  switch (o.error.code) {
    case "TASK_TIMEOUT":
      return "timedOut";
    case "TASK_CANCELLED":
      return "cancelled";
    case "WORKER_CRASHED":
      return "crashed";
    default:
      return "failed";
  }
}

/** An attempt's result as it travels back. */
function toWire(wire: WireAttempt, result: AttemptResult, startedAt: number | undefined): WireOutcome {
  if (result.ok && buffersInside(result.value).size > 0) {
    // JSON would turn it into {} without a word.
    const failed = new TaskFailedError("Task result cannot travel to the coordinator as JSON: it holds an ArrayBuffer or typed array (encode binary data, for example base64)");
    result = { ok: false, error: failed };
  }
  const o = result.ok
    ? { seq: wire.seq, id: wire.id, attempt: wire.attempt, ok: true as const, value: result.value }
    : { seq: wire.seq, id: wire.id, attempt: wire.attempt, ok: false as const, error: errorToWire(result.error) };
  return startedAt === undefined ? o : { ...o, runMs: Math.max(0, Math.round(epochNow() - startedAt)) };
}

/** The result, with every value JSON cannot carry turned into the failure of its attempt. */
function jsonSafe(result: JobResult): JobResult {
  try {
    JSON.stringify(result);
    return result;
  } catch {
    const outcomes = result.outcomes.map((o): WireOutcome => {
      if (!o.ok) return o;
      try {
        JSON.stringify(o.value);
        return o;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const failed = new TaskFailedError(`Task result cannot travel to the coordinator as JSON: ${message}`, { cause: error });
        return { seq: o.seq, id: o.id, attempt: o.attempt, ok: false, error: errorToWire(failed) };
      }
    });
    return result.deps === undefined ? { outcomes } : { outcomes, deps: result.deps };
  }
}
