/**
 * The worker-node side of a sweep over Redis: a BullMQ consumer of the replica queue whose jobs
 * each run one replica — a whole virtual-time simulation — on a replica thread of this node
 * (a pool of `threads` threads, started with the first replica), `threads` at a time. A node
 * that dies under a replica stops renewing its job's lock; BullMQ's stalled-job check (run by
 * every consumer) puts the job back and another node runs it, with the same seed and so the
 * same figures.
 *
 * @module
 */
import { bullConnection, closeWorker } from "../backends/remote/redis.ts";
import { lockDurationMs } from "../backends/remote/protocol.ts";
import { createReplicaPool, type ReplicaPool } from "./replica-pool.ts";
import { decodeReplica, encodeReplica, MAX_REPLICA_STALLS, REPLICA_QUEUE, type ReplicaJobData, type ReplicaJobResult } from "./replica-wire.ts";
import type { ReplicaJob } from "./sweep-worker.ts";

/** Options of {@link startReplicaConsumer} (the node's, already validated). */
export interface ReplicaConsumerOptions {
  redis: string;
  prefix: string;
  /** The node's id: results say where they ran. */
  nodeId: string;
  /** Replicas at once, and replica threads. */
  threads: number;
  /** The node's heartbeat lease, ms: job locks last two of them, as the node's attempt jobs' do. */
  leaseMs: number;
}

/** A running replica consumer. */
export interface ReplicaConsumer {
  /**
   * Takes no new replica, lets those running finish (a lease at most), then stops the replica
   * threads; with `redisUp` false it drops its connections at once instead of waiting for Redis.
   */
  stop(redisUp?: boolean): Promise<void>;
}

/** Starts consuming the cluster's sweep replicas. */
export async function startReplicaConsumer(o: ReplicaConsumerOptions): Promise<ReplicaConsumer> {
  const { Worker } = await import("bullmq");
  let pool: Promise<ReplicaPool> | undefined;
  const worker = new Worker<ReplicaJobData, ReplicaJobResult>(
    REPLICA_QUEUE,
    async (job) => {
      pool ??= createReplicaPool(o.threads);
      const replica = decodeReplica<ReplicaJob>(job.data.job);
      const result = await (await pool).run(replica.scenario, replica.seed, { analyse: replica.analyse === true });
      return { node: o.nodeId, result: encodeReplica(result) };
    },
    {
      connection: bullConnection(o.redis),
      prefix: o.prefix,
      concurrency: o.threads,
      lockDuration: lockDurationMs(o.leaseMs),
      stalledInterval: Math.max(1_000, o.leaseMs),
      maxStalledCount: MAX_REPLICA_STALLS,
    },
  );
  worker.on("error", () => {}); // connection trouble: BullMQ reconnects
  await worker.waitUntilReady();
  let stopping: Promise<void> | undefined;
  return {
    stop: (redisUp = true) =>
      stopping ??= (async () => {
        // A replica still running past a lease is left to run again elsewhere (its lock lapses).
        await closeWorker(worker, o.leaseMs, redisUp);
        if (pool !== undefined) await (await pool).destroy().catch(() => {});
      })(),
  };
}
