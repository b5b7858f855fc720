/**
 * The `remote` backend: the hive becomes the coordinator of worker nodes (`apiary worker`) over
 * BullMQ and Redis. Nodes bring the agents (`node/agent` in the hive) and the threads; the
 * Supervisor places attempts on agents as on one machine, and each attempt travels to its
 * agent's node in a BullMQ job on that node's queue. Attempts for one node that queue up travel
 * together: at most a few jobs per node are in flight, and what arrives meanwhile leaves in the
 * next job (micro-batching, as the thread pool does), so small tasks are not bound by Redis's
 * per-job cost. A node answers with the job's return value (every outcome), read from the
 * queue's event stream; an attempt ends once — the first outcome wins, and one that comes late
 * (aborted, timed out here, or from a node presumed dead) is dropped.
 *
 * Nodes hold heartbeat leases (see `cluster.ts`). When one lapses, that node's agents crash
 * (OTP semantics: their running attempts go back to the queue without spending a retry and run
 * elsewhere) and leave the swarm; a node that comes back joins again. A node enforces timeouts
 * itself; the coordinator keeps a backstop of `timeoutMs + abortGraceMs + remote.marginMs` from
 * an attempt's start (as its node reports it). Cancels reach the node on its control channel.
 * Handlers' `ctx.progress` values come back on the job's event stream and go to the hive's
 * progress channel, as from its own threads.
 *
 * Node only: BullMQ does not run on Deno.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { AbortedError, InvalidOptionsError, TaskTimeoutError, WaitTimeoutError, WorkerCrashedError } from "../../core/errors.ts";
import type { Attempt, AttemptCallback, AttemptResult, BackendContext, BackendHost, BackendStats, ExecutionBackend, StartCallback } from "../types.ts";
import { Cluster, type NodeLink } from "./cluster.ts";
import { snapshotStates } from "./dependency-mirror.ts";
import { Orphans } from "./orphans.ts";
import { RedisRateLog } from "./rate-log.ts";
import type { ResolvedRemoteOptions } from "./options.ts";
import {
  type ClusterKeys,
  clusterKeys,
  type ControlMessage,
  errorFromWire,
  hiveAgentId,
  type JobData,
  type JobProgress,
  type JobResult,
  nodeOfAgent,
  type WireAttempt,
  type WireOutcome,
} from "./protocol.ts";
import { connect, evictionPolicy, reachable } from "./redis.ts";

/** An attempt handed to the backend and not yet settled or aborted. */
interface Pending {
  readonly attempt: Attempt;
  readonly done: AttemptCallback;
  readonly onStart: StartCallback | undefined;
  /** Its node (undefined when it had none up: it is lost at once). */
  readonly node: NodeState | undefined;
  /** The job carrying it, once sent (or adopted). */
  jobId: string | undefined;
  /** An attempt adopted from a predecessor's job: that job's epoch and the seq it has there. */
  adopted: { epoch: string; seq: number } | undefined;
  /** The backstop, armed once its node reports it running. */
  backstop: ReturnType<typeof setTimeout> | undefined;
}

/** A node incarnation and what is on its way to it. */
interface NodeState {
  readonly link: NodeLink;
  /** Its agents' ids in the hive. */
  readonly agents: string[];
  /** Attempts waiting for the next job, in arrival order. */
  pending: Pending[];
  scheduled: boolean;
  /** Jobs in flight (at most `spread`). */
  outstanding: number;
  readonly spread: number;
  /** Attempts of each job in flight, by job id. */
  readonly jobs: Map<string, Pending[]>;
  /** What each job in flight carries (sent again after a Redis outage: a job lost with it runs). */
  readonly jobData: Map<string, JobData>;
  /** Attempts adopted from a predecessor's jobs: job id → its seq there → attempt. */
  readonly adopted: Map<string, Map<number, Pending>>;
  /** Attempts to abort on the node at the end of the turn. */
  aborts: { epoch: string; seq: number; kill: boolean }[];
}

/** Runs a hive's attempts on worker nodes over BullMQ. */
export class RemoteBackend implements ExecutionBackend {
  readonly name = "remote" as const;
  readonly startsOnDispatch = false;
  readonly #context: BackendContext;
  readonly #options: ResolvedRemoteOptions;
  readonly #keys: ClusterKeys;
  /** This coordinator's incarnation: job ids and outcomes of another are not ours. */
  readonly #epoch = randomUUID().slice(0, 8);
  #redis: Redis | undefined;
  #subscriber: Redis | undefined;
  #cluster: Cluster | undefined;
  #host: BackendHost | undefined;
  /** Attempts in flight by seq; an attempt leaves it exactly once (settled or aborted). */
  readonly #live = new Map<number, Pending>();
  /** Node incarnations up or leaving, by node id. */
  readonly #nodes = new Map<string, NodeState>();
  /** Removals of agents of gone nodes still under way: an incarnation that comes back waits for them. */
  readonly #removals = new Map<string, Promise<void>>();
  /** What a predecessor left on the nodes (see `orphans.ts`). */
  readonly #orphans: Orphans;
  #kinds = "";
  #jobs = 0;
  /** Set once the command connection was ready the first time: a later 'ready' follows an outage. */
  #connected = false;
  #depsSnapshot = "";
  #depsTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(context: BackendContext) {
    if (context.remote === undefined) throw new InvalidOptionsError(`Cannot create the remote backend: "remote" must be an object { redis, ... }, received undefined`);
    this.#context = context;
    this.#options = context.remote;
    this.#keys = clusterKeys(context.remote.prefix);
    this.#orphans = new Orphans(this.#epoch);
  }

  async start(signal?: AbortSignal): Promise<{ kinds: string[] }> {
    const { redis: url, minNodes, checkMs } = this.#options;
    const timeoutMs = this.#context.startTimeoutMs;
    const redis = connect(url, `apiary-coordinator-${this.#epoch}`);
    const subscriber = connect(url, `apiary-coordinator-${this.#epoch}-sub`);
    this.#redis = redis;
    this.#subscriber = subscriber;
    redis.on("ready", () => {
      if (this.#connected) this.#resend();
      this.#connected = true;
    });
    try {
      await reachable(redis, url, timeoutMs, signal);
    } catch (error) {
      throw startError(`Cannot start the remote backend: ${messageOf(error)}`, error, signal);
    }
    const policy = await evictionPolicy(redis).catch(() => undefined);
    if (policy !== undefined && policy !== "noeviction") {
      throw new InvalidOptionsError(
        `Cannot start the remote backend: "remote.redis" must be a Redis with maxmemory-policy noeviction (it could drop queued jobs), received ${JSON.stringify(url)} with ${policy}`,
      );
    }
    // Rate-limited dependencies: the main thread's calls count in the log the nodes' threads use.
    this.#context.dependencies.shareRates?.(new RedisRateLog(redis, this.#options.prefix));
    const cluster = new Cluster({ redisUrl: url, prefix: this.#options.prefix, checkMs }, this.#keys, redis, subscriber, {
      prepare: (link) => this.#orphans.scan(link.id, link.queue, redis),
      joined: (link) => this.#joined(link),
      leaving: (link) => this.#leaving(link),
      gone: (link, dead, reason) => this.#gone(link, dead, reason),
    });
    this.#cluster = cluster;
    await cluster.start();
    try {
      await cluster.waitForNodes(minNodes, timeoutMs, signal);
    } catch (error) {
      throw startError(`Cannot start the remote backend: ${messageOf(error)} (start some with: apiary worker --redis ${url} --agents FILE)`, error, signal);
    }
    // Dependencies registered before start reach the nodes before any task does.
    await this.#mirrorDependencies();
    this.#depsTimer = setInterval(() => void this.#mirrorDependencies(), checkMs);
    this.#kinds = this.#kindsNow().join("\n");
    return { kinds: this.#kindsNow() };
  }

  attach(host: BackendHost): void {
    this.#host = host;
    // A recovered hive brings back the node agents of its last run: those whose node is not up
    // leave (they come back when it joins); the others are already there.
    const present = new Set(host.agentIds());
    for (const id of present) {
      const nodeId = nodeOfAgent(id);
      if (nodeId !== undefined && !this.#nodes.get(nodeId)?.agents.includes(id)) this.#track(id, host.removeAgent(id));
    }
    for (const node of this.#nodes.values()) this.#addAgents(node, present);
    this.#updateKinds();
  }

  /** Keeps an agent's removal until it is over: an incarnation bringing the same id back waits for it. */
  #track(id: string, removal: Promise<void>): void {
    const tracked = removal.finally(() => {
      if (this.#removals.get(id) === tracked) this.#removals.delete(id);
    });
    this.#removals.set(id, tracked);
  }

  exec(attempt: Attempt, done: AttemptCallback, onStart?: StartCallback): void {
    // Only a recovered hive's task is its predecessor's: a fresh hive's `t1` is another task.
    if (this.#context.recover === true && this.#orphans.size > 0 && this.#resume(attempt, done, onStart)) return;
    const nodeId = nodeOfAgent(attempt.agentId);
    const node = nodeId === undefined ? undefined : this.#nodes.get(nodeId);
    const p: Pending = { attempt, done, onStart, node, jobId: undefined, adopted: undefined, backstop: undefined };
    this.#live.set(attempt.seq, p);
    if (node === undefined || !node.agents.includes(attempt.agentId)) {
      queueMicrotask(() => this.#settle(p, lost(attempt, `agent ${attempt.agentId} has no node up`)));
      return;
    }
    node.pending.push(p);
    this.#schedule(node);
  }

  /**
   * A recovered task's attempt that a predecessor already handed to a node still up: its outcome
   * is delivered if it came back, or the job still there is adopted. False when there is none.
   */
  #resume(attempt: Attempt, done: AttemptCallback, onStart: StartCallback | undefined): boolean {
    const orphan = this.#orphans.take(attempt.id, attempt.attempt);
    if (orphan === undefined) return false;
    const node = this.#nodes.get(orphan.nodeId);
    const outcome = orphan.outcome;
    if (outcome === undefined && (node === undefined || orphan.running === undefined)) return false;
    const p: Pending = { attempt, done, onStart, node, jobId: orphan.running?.jobId, adopted: undefined, backstop: undefined };
    this.#live.set(attempt.seq, p);
    if (outcome !== undefined) {
      queueMicrotask(() => this.#deliver(p, outcome, epochNow()));
      return true;
    }
    const running = orphan.running!;
    p.adopted = { epoch: running.epoch, seq: running.seq };
    const byJob = node!.adopted.get(running.jobId) ?? new Map<number, Pending>();
    byJob.set(running.seq, p);
    node!.adopted.set(running.jobId, byJob);
    return true;
  }

  #schedule(node: NodeState): void {
    if (node.scheduled) return;
    node.scheduled = true;
    queueMicrotask(() => this.#flush(node));
  }

  /**
   * Sends what waits for `node`: at most `spread` jobs in flight; attempts that arrive meanwhile
   * leave together when one comes back, so jobs grow with the load and a lone attempt on an idle
   * node leaves at once.
   */
  #flush(node: NodeState): void {
    node.scheduled = false;
    const rest = node.pending.filter((p) => this.#live.get(p.attempt.seq) === p);
    const free = node.spread - node.outstanding;
    if (rest.length === 0 || free <= 0 || node.link.state === "gone") {
      node.pending = rest;
      return;
    }
    const size = Math.min(this.#context.maxBatch, Math.max(1, Math.ceil(rest.length / free)));
    const jobs: { name: string; data: JobData; opts: { jobId: string; removeOnComplete: true; removeOnFail: true } }[] = [];
    let i = 0;
    for (let n = 0; n < free && i < rest.length; n++, i += size) {
      const entries = rest.slice(i, i + size);
      const jobId = `${this.#epoch}-${++this.#jobs}`;
      const attempts: WireAttempt[] = new Array(entries.length);
      for (let k = 0; k < entries.length; k++) {
        const p = entries[k]!;
        p.jobId = jobId;
        const a = p.attempt;
        attempts[k] = { seq: a.seq, id: a.id, kind: a.kind, input: a.input, attempt: a.attempt, agentId: a.agentId.slice(node.link.id.length + 1), timeoutMs: a.timeoutMs };
        if (a.reportStart === true) attempts[k]!.reportStart = true;
      }
      const data: JobData = { epoch: this.#epoch, attempts };
      node.jobs.set(jobId, entries);
      node.jobData.set(jobId, data);
      node.outstanding++;
      jobs.push({ name: "attempts", data, opts: { jobId, removeOnComplete: true, removeOnFail: true } });
    }
    node.pending = rest.slice(i);
    const sent = jobs.length === 1 ? node.link.queue.add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts) : node.link.queue.addBulk(jobs);
    sent.catch((error: unknown) => {
      for (const j of jobs) this.#jobFailed(node, j.opts.jobId, `it could not be queued: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  /** A job came back: each of its attempts still in flight ends with its outcome. */
  #completed(node: NodeState, jobId: string, result: JobResult | undefined): void {
    if (result?.deps !== undefined && result.deps.length > 0 && node.jobs.has(jobId)) this.#context.dependencies.onReports(result.deps as never);
    const entries = this.#jobDone(node, jobId);
    if (entries === undefined) {
      if (this.#orphans.foreign(jobId)) this.#completedForeign(node, jobId, result);
      return;
    }
    const outcomes = new Map((result?.outcomes ?? []).map((o) => [o.seq, o]));
    const now = epochNow();
    for (const p of entries) {
      if (this.#live.get(p.attempt.seq) !== p) continue; // aborted, or timed out here: its outcome is dropped
      const o = outcomes.get(p.attempt.seq);
      if (o === undefined) this.#settle(p, lost(p.attempt, `its job came back from node ${node.link.id} without its outcome`));
      else this.#deliver(p, o, now);
    }
  }

  /** A predecessor's job came back: adopted attempts end with their outcomes; the rest are kept for their tasks' recovery. */
  #completedForeign(node: NodeState, jobId: string, result: JobResult | undefined): void {
    const adopted = node.adopted.get(jobId);
    node.adopted.delete(jobId);
    const now = epochNow();
    const rest: WireOutcome[] = [];
    for (const o of result?.outcomes ?? []) {
      const p = adopted?.get(o.seq);
      if (p !== undefined && this.#live.get(p.attempt.seq) === p) this.#deliver(p, o, now);
      else if (p === undefined) rest.push(o);
    }
    for (const p of adopted?.values() ?? []) if (this.#live.get(p.attempt.seq) === p) this.#settle(p, lost(p.attempt, `its job came back from node ${node.link.id} without its outcome`));
    if (rest.length > 0) this.#orphans.record(node.link.id, { outcomes: rest });
  }

  /** Ends an attempt with the outcome its node sent (its start, as the node measured it, first). */
  #deliver(p: Pending, o: WireOutcome, now: number): void {
    if (this.#live.get(p.attempt.seq) !== p) return;
    if (o.runMs !== undefined) p.onStart?.(now - o.runMs, false);
    if (o.ok) this.#settle(p, { ok: true, value: o.value });
    else this.#settle(p, { ok: false, error: errorFromWire(o.error, p.attempt.id) });
  }

  /** A job failed in BullMQ (it could not be queued, its processor threw, or it stalled): its attempts are lost. */
  #jobFailed(node: NodeState, jobId: string, reason: string): void {
    const entries = this.#jobDone(node, jobId) ?? [...(node.adopted.get(jobId)?.values() ?? [])];
    node.adopted.delete(jobId);
    this.#orphans.dropJob(jobId);
    for (const p of entries) if (this.#live.get(p.attempt.seq) === p) this.#settle(p, lost(p.attempt, `its job to node ${node.link.id} failed: ${reason}`));
  }

  #jobDone(node: NodeState, jobId: string): Pending[] | undefined {
    const entries = node.jobs.get(jobId);
    if (entries === undefined) return undefined;
    node.jobs.delete(jobId);
    node.jobData.delete(jobId);
    node.outstanding--;
    if (node.pending.length > 0) this.#schedule(node);
    return entries;
  }

  /**
   * A job's progress report: attempts that have been running a while (their backstops arm) and
   * handlers' `ctx.progress` values (they reach the hive as from its own threads). What names an
   * attempt that already ended here, or another job's, or a node given up, is dropped.
   */
  #progress(node: NodeState, jobId: string, data: JobProgress | undefined): void {
    if (data === null || typeof data !== "object" || node.link.state === "gone") return;
    if (Array.isArray(data.values)) this.#progressValues(node, jobId, data.values);
    const started = data.started;
    if (!Array.isArray(started)) return;
    const graceMs = this.#context.abortGraceMs + this.#options.marginMs;
    const now = epochNow();
    for (const [seq, ranMs] of started) {
      const p = this.#live.get(seq);
      if (p === undefined || p.jobId !== jobId || p.backstop !== undefined) continue;
      const timer = setTimeout(() => this.#backstop(p), Math.max(0, p.attempt.timeoutMs + graceMs - ranMs));
      timer.unref?.();
      p.backstop = timer;
      // The hive learns of the start now, not only with the outcome (a limited kind's window counts
      // it from here). `ended`: its node runs its timeout, and the backstop above stands behind it,
      // so the hive arms none of its own, as for an attempt whose start arrives with its outcome.
      p.onStart?.(now - ranMs, true);
    }
  }

  #progressValues(node: NodeState, jobId: string, values: [number, unknown][]): void {
    const channel = this.#context.progress;
    if (channel === undefined) return;
    const adopted = node.adopted.get(jobId);
    for (const entry of values) {
      if (!Array.isArray(entry)) continue;
      const [seq, value] = entry;
      const p = adopted !== undefined ? adopted.get(seq) : this.#live.get(seq);
      if (p === undefined || this.#live.get(p.attempt.seq) !== p || p.jobId !== jobId) continue;
      channel.deliver({ taskId: p.attempt.id, attempt: p.attempt.attempt, value });
    }
  }

  /** No outcome came back within timeout + grace + margin of the attempt's start: it ends here. */
  #backstop(p: Pending): void {
    if (this.#live.get(p.attempt.seq) !== p) return;
    const a = p.attempt;
    this.#abortOnNode(p, true);
    const boundMs = a.timeoutMs + this.#context.abortGraceMs + this.#options.marginMs;
    this.#settle(p, {
      ok: false,
      error: new TaskTimeoutError(`Task ${a.id} (${a.kind}) timed out: no outcome from node ${p.node?.link.id ?? "?"} within ${boundMs} ms of its start (attempt ${a.attempt})`, { taskId: a.id }),
    });
  }

  #settle(p: Pending, result: AttemptResult): void {
    if (this.#live.get(p.attempt.seq) !== p) return;
    this.#live.delete(p.attempt.seq);
    if (p.backstop !== undefined) clearTimeout(p.backstop);
    p.done(result);
  }

  abort(seq: number, kill = true): void {
    const p = this.#live.get(seq);
    if (p === undefined) return;
    this.#live.delete(seq);
    if (p.backstop !== undefined) clearTimeout(p.backstop);
    if (p.jobId !== undefined) this.#abortOnNode(p, kill);
  }

  /** Asks the attempt's node to abort it (sent at the end of the turn, with the others). */
  #abortOnNode(p: Pending, kill: boolean): void {
    const node = p.node;
    if (node === undefined || node.link.state === "gone") return;
    node.aborts.push({ epoch: p.adopted?.epoch ?? this.#epoch, seq: p.adopted?.seq ?? p.attempt.seq, kill });
    if (node.aborts.length > 1) return;
    queueMicrotask(() => {
      const groups = new Map<string, ControlMessage & { op: "abort" }>();
      for (const a of node.aborts) {
        const key = `${a.epoch}:${a.kill}`;
        const message = groups.get(key) ?? { op: "abort", epoch: a.epoch, seqs: [], kill: a.kill };
        message.seqs.push(a.seq);
        groups.set(key, message);
      }
      node.aborts = [];
      const channel = this.#keys.control(node.link.id, node.link.incarnation);
      for (const message of groups.values()) void this.#redis?.publish(channel, JSON.stringify(message)).catch(() => {});
    });
  }

  /**
   * After Redis came back from an outage: every job in flight is sent again under its id. One
   * that survived is left as it is (BullMQ ignores an id it holds); one lost with the outage
   * (Redis restarted from an append-only file a little behind) runs.
   */
  #resend(): void {
    for (const node of this.#nodes.values()) {
      if (node.link.state === "gone" || node.jobData.size === 0) continue;
      const jobs = [...node.jobData].map(([jobId, data]) => ({ name: "attempts", data, opts: { jobId, removeOnComplete: true, removeOnFail: true } }));
      void node.link.queue.addBulk(jobs).catch(() => {});
    }
  }

  #joined(link: NodeLink): void {
    const node: NodeState = {
      link,
      agents: link.description.agents.map((a) => hiveAgentId(link.id, a.id)),
      pending: [],
      scheduled: false,
      outstanding: 0,
      spread: Math.max(4, link.description.threads * 2),
      jobs: new Map(),
      jobData: new Map(),
      adopted: new Map(),
      aborts: [],
    };
    this.#nodes.set(link.id, node);
    link.events.on("completed", ({ jobId, returnvalue }) => this.#completed(node, jobId, returnvalue as unknown as JobResult));
    link.events.on("failed", ({ jobId, failedReason }) => this.#jobFailed(node, jobId, failedReason));
    link.events.on("progress", ({ jobId, data }) => this.#progress(node, jobId, data as JobProgress));
    if (this.#host !== undefined) {
      this.#addAgents(node);
      this.#updateKinds();
    }
  }

  #addAgents(node: NodeState, present?: ReadonlySet<string>): void {
    const host = this.#host;
    if (host === undefined) return;
    for (const a of node.link.description.agents) {
      const id = hiveAgentId(node.link.id, a.id);
      if (present?.has(id) === true && !this.#removals.has(id)) continue;
      const add = (): void => {
        if (this.#nodes.get(node.link.id) !== node || node.link.state === "gone") return;
        try {
          host.addAgent({ id, capabilities: a.capabilities, concurrency: a.concurrency, restart: a.restart });
        } catch (error) {
          process.emitWarning(`apiary: agent ${id} of node ${node.link.id} could not join: ${error instanceof Error ? error.message : String(error)}`);
        }
      };
      const prior = this.#removals.get(id);
      if (prior === undefined) add();
      else void prior.then(add);
    }
  }

  /** A node is leaving: its agents take no more work and leave once their attempts have ended. */
  async #leaving(link: NodeLink): Promise<void> {
    const node = this.#nodes.get(link.id);
    const host = this.#host;
    if (node === undefined || node.link !== link || host === undefined) return;
    await Promise.all(node.agents.map((id) => host.removeAgent(id)));
    this.#updateKinds();
  }

  /**
   * A node incarnation is gone. If it died (its lease lapsed before it was released), its agents
   * crash first: their running attempts go back to the queue without spending a retry. Then they
   * leave. Whatever of it is still in flight after that is lost.
   */
  #gone(link: NodeLink, dead: boolean, reason: string): void {
    const node = this.#nodes.get(link.id);
    if (node === undefined || node.link !== link) return;
    this.#nodes.delete(link.id);
    const host = this.#host;
    if (host !== undefined) {
      if (dead) { for (const id of node.agents) host.failAgent(id, reason); }
      for (const id of node.agents) this.#track(id, host.removeAgent(id));
    }
    for (const p of [...node.pending, ...[...node.jobs.values()].flat(), ...[...node.adopted.values()].flatMap((m) => [...m.values()])]) {
      if (this.#live.get(p.attempt.seq) === p) queueMicrotask(() => this.#settle(p, lost(p.attempt, reason)));
    }
    node.pending = [];
    node.jobs.clear();
    node.jobData.clear();
    node.adopted.clear();
    this.#orphans.dropNode(link.id);
    this.#updateKinds();
  }

  #kindsNow(): string[] {
    const kinds = new Set<string>();
    for (const node of this.#nodes.values()) if (node.link.state !== "gone") { for (const k of node.link.description.kinds) kinds.add(k); }
    return [...kinds].sort();
  }

  #updateKinds(): void {
    const kinds = this.#kindsNow();
    const key = kinds.join("\n");
    if (key === this.#kinds || this.#host === undefined) return;
    this.#kinds = key;
    this.#host.setKinds(kinds);
  }

  /** Writes the dependency breakers' states and rate limits to Redis when they changed (nodes mirror them). */
  async #mirrorDependencies(): Promise<void> {
    if (this.#orphans.size > 0) this.#orphans.expire(Date.now());
    const snapshot = snapshotStates(this.#context.dependencies.states);
    if (snapshot === this.#depsSnapshot) return;
    this.#depsSnapshot = snapshot;
    const redis = this.#redis;
    if (redis === undefined) return;
    await redis.multi().set(this.#keys.dependencies, snapshot).publish(this.#keys.dependenciesChanged, snapshot).exec().catch(() => {
      this.#depsSnapshot = ""; // try again at the next check
    });
  }

  stats(): BackendStats {
    let threads = 0;
    for (const node of this.#nodes.values()) threads += node.link.description.threads;
    return { threads, inFlight: this.#live.size, messages: this.#jobs, threadRestarts: 0 };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#depsTimer !== undefined) clearInterval(this.#depsTimer);
    this.#live.clear();
    this.#host = undefined;
    await this.#cluster?.close();
    this.#subscriber?.disconnect();
    this.#redis?.disconnect();
  }
}

function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The result of an attempt its node lost (crashed, gone, or a job that failed). */
function lost(attempt: Attempt, why: string): AttemptResult {
  return { ok: false, error: new WorkerCrashedError(`Task ${attempt.id} (${attempt.kind}) was lost: ${why}`, { taskId: attempt.id }) };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Why `start()` gave up: the caller's signal (ABORTED), else a wait that ran out (WAIT_TIMEOUT). */
export function startError(message: string, cause: unknown, signal: AbortSignal | undefined): Error {
  return signal?.aborted ? new AbortedError(message, { cause }) : new WaitTimeoutError(message, { cause });
}
