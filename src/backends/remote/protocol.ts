/**
 * What crosses Redis between the coordinator (the remote backend of a hive) and its worker
 * nodes, defined once: the key layout of a cluster, a node's description, the jobs that carry
 * attempts, the outcomes that come back, and the control messages. Everything is JSON.
 *
 * Imports nothing but `core/`.
 *
 * @module
 */
import { ApiaryError, type ApiaryErrorCode, InvalidTaskError, TaskCancelledError, TaskFailedError, TaskTimeoutError, WorkerCrashedError } from "../../core/errors.ts";

/** Redis keys and channels of one cluster (`prefix`, default `apiary`). */
export interface ClusterKeys {
  /** Hash: node id → {@link NodeDescription} (JSON). */
  readonly nodes: string;
  /** Pub/sub channel on which nodes announce a join or a leave (the coordinator then looks at once). */
  readonly announce: string;
  /** String: the coordinator's dependency-breaker states (base64 of the shared buffer). */
  readonly dependencies: string;
  /** Pub/sub channel announcing a change of {@link ClusterKeys.dependencies}. */
  readonly dependenciesChanged: string;
  /** String with a TTL: the node's heartbeat lease; its value is the node's incarnation. */
  lease(nodeId: string): string;
  /** Pub/sub channel of control messages to one incarnation of a node. */
  control(nodeId: string, incarnation: string): string;
  /** The BullMQ queue (name, under the BullMQ prefix `prefix`) that carries jobs to one incarnation of a node. */
  queue(nodeId: string, incarnation: string): string;
}

/** The key layout of the cluster under `prefix`. */
export function clusterKeys(prefix: string): ClusterKeys {
  return {
    nodes: `${prefix}:nodes`,
    announce: `${prefix}:announce`,
    dependencies: `${prefix}:dependencies`,
    dependenciesChanged: `${prefix}:dependencies:changed`,
    lease: (nodeId) => `${prefix}:lease:${nodeId}`,
    control: (nodeId, incarnation) => `${prefix}:control:${nodeId}:${incarnation}`,
    queue: (nodeId, incarnation) => `node.${nodeId}.${incarnation}`,
  };
}

/** A swarm agent a node brings (its id is local to the node; the hive knows it as `node/agent`). */
export interface WireAgent {
  id: string;
  capabilities?: Record<string, number> | undefined;
  concurrency?: number | undefined;
  restart?: "permanent" | "transient" | "temporary" | undefined;
}

/** What a node says about itself in the cluster's node hash. */
export interface NodeDescription {
  id: string;
  /** Random per process start: a node that comes back is a new incarnation with a fresh queue. */
  incarnation: string;
  /** `up`, or `leaving` once `stop()` began (the coordinator removes its agents, then releases it). */
  state: "up" | "leaving";
  agents: WireAgent[];
  /** Task kinds its task module offers. */
  kinds: string[];
  threads: number;
  /** Its lease's time to live, ms. */
  leaseMs: number;
  /** Epoch ms it started. */
  startedAt: number;
  host: string;
  pid: number;
}

/**
 * How long a node's job locks live, ms: two leases (BullMQ renews them every half of it). A
 * node whose lease lapsed has lost its locks a lease later, and its jobs can be found stalled.
 */
export function lockDurationMs(leaseMs: number): number {
  return Math.max(1_000, leaseMs * 2);
}

/** The hive's id of agent `agentId` of node `nodeId`. */
export function hiveAgentId(nodeId: string, agentId: string): string {
  return `${nodeId}/${agentId}`;
}

/** The node of a hive agent id (`node/agent`), or undefined for an id without a node. */
export function nodeOfAgent(hiveAgentId: string): string | undefined {
  const slash = hiveAgentId.indexOf("/");
  return slash <= 0 ? undefined : hiveAgentId.slice(0, slash);
}

/** One attempt in a job. */
export interface WireAttempt {
  /** The coordinator's attempt number (unique per coordinator incarnation). */
  seq: number;
  id: string;
  kind: string;
  input: unknown;
  attempt: number;
  /** The node-local agent id. */
  agentId: string;
  timeoutMs: number;
  /** Report its start at once, not after a while (its kind's dispatch limit waits for it). */
  reportStart?: true;
}

/** A job's data: attempts for one node, from one coordinator incarnation. */
export interface JobData {
  epoch: string;
  attempts: WireAttempt[];
}

/** An error as it crosses back from a node. */
export interface WireError {
  code: string;
  name: string;
  message: string;
  cause?: { name: string; message: string; stack?: string | undefined; code?: string | undefined } | undefined;
}

/**
 * One attempt's outcome, as a node reports it. `id` and `attempt` let a coordinator that
 * restarted match an outcome of its predecessor's job to the task it recovered.
 */
export type WireOutcome =
  & { seq: number; id: string; attempt: number; runMs?: number | undefined }
  & ({ ok: true; value: unknown } | { ok: false; error: WireError });

/** A job's return value: its attempts' outcomes and the dependency calls made since the last job. */
export interface JobResult {
  outcomes: WireOutcome[];
  /** `[slot, result]` reports for the coordinator's dependency breakers. */
  deps?: [number, string][] | undefined;
}

/**
 * A job's progress report: attempts that have been running a while (`[seq, ms running]`), and
 * handlers' latest `ctx.progress` values (`[seq, value]`).
 */
export interface JobProgress {
  started?: [number, number][] | undefined;
  values?: [number, unknown][] | undefined;
}

/** A control message from the coordinator to one node incarnation. */
export type ControlMessage =
  /** Abort these attempts (`kill`: terminate the thread after the grace period if they do not stop). */
  | { op: "abort"; epoch: string; seqs: number[]; kill: boolean }
  /** The coordinator removed the leaving node's agents: it may go. */
  | { op: "release" }
  /** The coordinator gave this incarnation up (its lease lapsed): join again as a new one. */
  | { op: "rejoin" };

/** A node's announcement on {@link ClusterKeys.announce}. */
export interface Announcement {
  nodeId: string;
  incarnation: string;
  state: "up" | "leaving" | "gone";
}

/** An error, as a node sends it. */
export function errorToWire(error: unknown): WireError {
  if (error instanceof ApiaryError) {
    const cause = error.cause instanceof Error
      ? { name: error.cause.name, message: error.cause.message, stack: error.cause.stack, code: (error.cause as { code?: unknown }).code as string | undefined }
      : undefined;
    return { code: error.code, name: error.name, message: error.message, ...(cause !== undefined ? { cause } : {}) };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  return { code: "TASK_FAILED", name: e.name, message: e.message, cause: { name: e.name, message: e.message, stack: e.stack } };
}

/** Rebuilds a node's error as the {@link ApiaryError} subclass of its code. */
export function errorFromWire(wire: WireError, taskId: string): ApiaryError {
  let cause: Error | undefined;
  if (wire.cause !== undefined) {
    cause = new Error(wire.cause.message);
    cause.name = wire.cause.name;
    if (wire.cause.stack !== undefined) cause.stack = wire.cause.stack;
    if (wire.cause.code !== undefined) (cause as Error & { code?: string }).code = wire.cause.code;
  }
  const options = { taskId, ...(cause !== undefined ? { cause } : {}) };
  switch (wire.code as ApiaryErrorCode) {
    case "TASK_FAILED":
      return new TaskFailedError(wire.message, options);
    case "TASK_TIMEOUT":
      return new TaskTimeoutError(wire.message, options);
    case "TASK_CANCELLED":
      return new TaskCancelledError(wire.message, options);
    case "WORKER_CRASHED":
      return new WorkerCrashedError(wire.message, options);
    case "INVALID_TASK":
      return new InvalidTaskError(wire.message, options);
    default:
      return new ApiaryError(wire.code as ApiaryErrorCode, wire.message, options);
  }
}
