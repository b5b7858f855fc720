/**
 * A sweep's replicas as BullMQ jobs on the worker nodes of a cluster (`apiary worker`), in place
 * of the local thread pool: each replica is one job on the cluster's replica queue, which every
 * node consumes `threads` at a time (see `replica-consumer.ts`), and its figures come back as the
 * job's return value on the queue's event stream. A node that dies under a replica loses the
 * job's lock; the stalled-job check of the nodes still up puts it back and it runs elsewhere —
 * with the same seed, so the sweep's figures are those of a local sweep.
 *
 * Loaded only when a sweep names Redis (it imports BullMQ and ioredis).
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { type Job, Queue, QueueEvents } from "bullmq";
import { AbortedError, InvalidOptionsError, TaskFailedError, WaitTimeoutError } from "../core/errors.ts";
import { bullConnection, connect, evictionPolicy, reachable } from "../backends/remote/redis.ts";
import { awaitNodes, liveNodes } from "../backends/remote/roster.ts";
import type { ReplicaPool } from "./replica-pool.ts";
import { decodeReplica, encodeReplica, REPLICA_QUEUE, type ReplicaJobData, type ReplicaJobResult } from "./replica-wire.ts";
import type { ReplicaJob, ReplicaResult } from "./sweep-worker.ts";

/** Where a sweep's replicas run: the cluster on `redis`. */
export interface RemoteReplicaOptions {
  /** Redis URL of the cluster, e.g. `redis://127.0.0.1:6379`. */
  redis: string;
  /** The cluster's key prefix (the nodes' `--prefix`). @default "apiary" */
  prefix?: string | undefined;
  /** Worker nodes to wait for before the first replica is queued. @default 1 */
  minNodes?: number | undefined;
  /** How long to wait for Redis and the nodes, and for a node to come back when none is up mid-sweep, ms. @default 30000 */
  waitMs?: number | undefined;
}

/** A node that ran replicas of the sweep. */
export interface ReplicaNode {
  id: string;
  threads: number;
  /** Replicas whose result came from it. */
  replicas: number;
}

/** A replica pool on worker nodes. */
export interface RemoteReplicaPool extends ReplicaPool {
  /** The replica threads of the nodes up when it started. */
  readonly threads: number;
  /** The nodes up when it started, and those that ran replicas since, with their counts. */
  nodes(): ReplicaNode[];
}

interface Waiter {
  resolve(result: ReplicaResult): void;
  reject(error: unknown): void;
}

/** How often jobs whose outcome the event stream did not bring (a reconnection) are looked up, ms. */
const LOOK_EVERY_MS = 2_000;

/**
 * Connects to the cluster, waits for `minNodes` nodes and returns the pool.
 * @throws WaitTimeoutError (rejects) when Redis or the nodes are not there within `waitMs`
 * @throws InvalidOptionsError (rejects) when Redis evicts keys (it could drop queued replicas)
 */
export async function createRemoteReplicaPool(options: RemoteReplicaOptions, signal?: AbortSignal): Promise<RemoteReplicaPool> {
  const url = options.redis;
  const prefix = options.prefix ?? "apiary";
  const waitMs = options.waitMs ?? 30_000;
  const redis = connect(url, "apiary-sweep");
  const closeAll: (() => Promise<unknown>)[] = [() => redis.quit()];
  const closeNow = async (): Promise<void> => {
    for (const close of closeAll.reverse()) await close().catch(() => {});
  };
  let queue: Queue<ReplicaJobData, ReplicaJobResult>;
  let events: QueueEvents;
  let nodes: ReplicaNode[];
  try {
    try {
      await reachable(redis, url, waitMs, signal);
    } catch (error) {
      throw new WaitTimeoutError(`Cannot sweep over Redis: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const policy = await evictionPolicy(redis).catch(() => undefined);
    if (policy !== undefined && policy !== "noeviction") {
      throw new InvalidOptionsError(
        `Cannot sweep over Redis: "redis" must be a Redis with maxmemory-policy noeviction (it could drop queued replicas), received ${JSON.stringify(url)} with ${policy}`,
      );
    }
    const up = await awaitNodes(redis, { url, prefix, minNodes: options.minNodes ?? 1, timeoutMs: waitMs, action: "sweep over Redis", signal });
    nodes = up.map((n) => ({ id: n.id, threads: n.threads, replicas: 0 }));
    queue = new Queue<ReplicaJobData, ReplicaJobResult>(REPLICA_QUEUE, { connection: bullConnection(url), prefix });
    queue.on("error", () => {});
    closeAll.push(() => queue.close());
    events = new QueueEvents(REPLICA_QUEUE, { connection: bullConnection(url), prefix });
    events.on("error", () => {});
    closeAll.push(() => events.close());
    await events.waitUntilReady();
  } catch (error) {
    await closeNow();
    throw error;
  }
  const threads = nodes.reduce((n, node) => n + node.threads, 0);
  const run = randomUUID().slice(0, 8);
  let count = 0;
  /** Replicas queued and not yet settled, by job id. */
  const waiting = new Map<string, Waiter>();
  /** Every job this sweep queued: removed from Redis at the end. */
  const queued: string[] = [];
  let failure: unknown;

  const settle = (jobId: string, value: ReplicaJobResult | undefined, reason?: string): void => {
    const w = waiting.get(jobId);
    if (w === undefined) return;
    waiting.delete(jobId);
    let result: ReplicaResult | undefined;
    try {
      if (value !== undefined) result = decodeReplica<ReplicaResult>(value.result);
    } catch (error) {
      reason = `its result could not be read: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (value === undefined || result === undefined) {
      w.reject(new TaskFailedError(`A sweep replica (job ${jobId}) failed on a worker node: ${reason ?? "no reason given"}`));
      return;
    }
    const node = nodes.find((n) => n.id === value.node);
    if (node !== undefined) node.replicas++;
    else nodes.push({ id: value.node, threads: 0, replicas: 1 });
    w.resolve(result);
  };
  events.on("completed", ({ jobId, returnvalue }) => {
    if (!waiting.has(jobId)) return; // another sweep's
    let value: ReplicaJobResult | undefined;
    try {
      value = (typeof returnvalue === "string" ? JSON.parse(returnvalue) : returnvalue) as ReplicaJobResult;
    } catch {
      // settled as failed below
    }
    settle(jobId, value, "its result could not be read");
  });
  events.on("failed", ({ jobId, failedReason }) => settle(jobId, undefined, failedReason));

  // The backstop: outcomes the event stream missed, and a cluster left without nodes.
  let noneSince: number | undefined;
  let looking = false;
  const look = async (): Promise<void> => {
    if (looking || waiting.size === 0) return;
    looking = true;
    try {
      // The oldest first: the ones most likely done (a missed outcome is rare; the rest wait their turn).
      for (const id of [...waiting.keys()].slice(0, 100)) {
        const job: Job<ReplicaJobData, ReplicaJobResult> | undefined = await queue.getJob(id);
        if (job?.finishedOn === undefined) continue;
        if (job.returnvalue !== null && job.returnvalue !== undefined) settle(id, job.returnvalue);
        else settle(id, undefined, job.failedReason);
      }
      const up = await liveNodes(redis, prefix);
      // A node that joined after the start: its threads, once it is seen.
      for (const n of nodes) if (n.threads === 0) n.threads = up.find((u) => u.id === n.id)?.threads ?? 0;
      if (up.length > 0) noneSince = undefined;
      else if ((noneSince ??= Date.now()) + waitMs <= Date.now()) {
        failure = new WaitTimeoutError(`Cannot sweep over Redis: no worker node on ${url} (prefix ${JSON.stringify(prefix)}) for ${waitMs} ms, with ${waiting.size} replicas still to run`);
        for (const w of waiting.values()) w.reject(failure);
        waiting.clear();
      }
    } catch {
      // Redis away: the next look tries again.
    } finally {
      looking = false;
    }
  };
  const timer = setInterval(() => void look(), LOOK_EVERY_MS);

  return {
    threads,
    nodes: () => nodes.map((n) => ({ ...n })),
    run(scenario, seed, o = {}) {
      if (failure !== undefined) return Promise.reject(failure);
      if (o.signal?.aborted === true) return Promise.reject(new AbortedError("The sweep was aborted", { cause: o.signal.reason }));
      const jobId = `${run}-${count++}`;
      queued.push(jobId);
      const job: ReplicaJob = { scenario, seed, ...(o.analyse === true ? { analyse: true } : {}) };
      return new Promise<ReplicaResult>((resolve, reject) => {
        const onAbort = (): void => {
          waiting.delete(jobId);
          reject(new AbortedError("The sweep was aborted", { cause: o.signal?.reason }));
        };
        o.signal?.addEventListener("abort", onAbort, { once: true });
        waiting.set(jobId, {
          resolve: (r) => {
            o.signal?.removeEventListener("abort", onAbort);
            resolve(r);
          },
          reject: (e) => {
            o.signal?.removeEventListener("abort", onAbort);
            reject(e);
          },
        });
        queue.add("replica", { job: encodeReplica(job) }, { jobId, attempts: 1, removeOnComplete: { age: 3_600 }, removeOnFail: { age: 3_600 } }).catch((error: unknown) => {
          settle(jobId, undefined, error instanceof Error ? error.message : String(error));
        });
      });
    },
    async destroy() {
      clearInterval(timer);
      // Replicas not run yet (an abort, a failure) leave the queue; those done leave Redis.
      await Promise.allSettled(queued.map((id) => queue.remove(id)));
      await closeNow();
    },
  };
}
