/**
 * `startWorkerNode`: a process's agents and threads join a coordinator hive (a hive on the
 * `remote` backend) through Redis. Validates its options here, at the edge; BullMQ and ioredis
 * are imported only when a node starts.
 *
 * @module
 */
import { hostname } from "node:os";
import { z } from "zod";
import type { NodeReadiness, WorkerNodeStats } from "../backends/remote/node.ts";
import { NAME_PATTERN, nodeIdSchema, redisUrlSchema } from "../backends/remote/options.ts";
import { InvalidOptionsError } from "../core/errors.ts";
import { parseFor } from "../core/validation.ts";
import { type AgentOptions, tasksUrl, threadCounts } from "../hive/options.ts";
import { agentSchema, checkPoolOptions, MAX_THREADS, poolOptionShapes } from "../hive/schema.ts";
import type { HealthServer } from "../observe/serve.ts";
import { nodeHandle, NodeMetrics, type NodeServeOptions } from "./observe.ts";

export type { NodeReadiness, WorkerNodeStats } from "../backends/remote/node.ts";
export type { NodeServeOptions } from "./observe.ts";

/** Options of {@link startWorkerNode}. */
export interface WorkerNodeOptions {
  /** Redis URL the coordinator uses too, e.g. `redis://10.0.0.5:6379`. */
  redis: string;
  /** The agents this node brings (ids unique on the node; the hive knows them as `NODE/ID`). At least one. */
  agents: AgentOptions[];
  /** The task handler module (as the hive's `tasks`); the built-ins are always there. */
  tasks?: URL | string;
  /** Worker threads, a fixed pool (as the hive's `threads`). @default the number of CPUs */
  threads?: number;
  /** Fewest threads of a pool that grows and shrinks (as the hive's `minThreads`; not with `threads`). @default 1 when `maxThreads` is set */
  minThreads?: number;
  /** Most threads (as the hive's `maxThreads`). @default the number of CPUs (or `minThreads`, if more) */
  maxThreads?: number;
  /** How long a thread above `minThreads` may idle before it stops, ms. @default 60000 */
  idleTimeoutMs?: number;
  /** Handlers' `ctx.workerData` on this node (structured-cloneable). */
  workerData?: unknown;
  /** The threads' `process.env`. @default a copy of the process's environment */
  env?: Record<string, string>;
  /** The threads' Node flags (no V8 flags: heap limits go in `resourceLimits`). @default the process's own */
  execArgv?: string[];
  /** This node's id in the cluster (letters, digits, `_`, `-`, `.`). @default the host name and process id */
  id?: string;
  /** The cluster's key prefix (as the coordinator's `remote.prefix`). @default "apiary" */
  prefix?: string;
  /**
   * The heartbeat lease, ms: the node renews it every third of this; when it lapses the
   * coordinator crashes this node's agents and runs their attempts elsewhere. @default 5000
   */
  leaseMs?: number;
  /** Most attempts one message to a thread carries. @default 32 */
  maxBatch?: number;
  /** How long an aborted attempt may run on before its thread is terminated, ms. @default 1000 */
  abortGraceMs?: number;
  /** How long the start (task module, Redis, the lease) may take, ms. @default 30000 */
  startTimeoutMs?: number;
  /** V8 limits per worker thread. */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number; stackSizeMb?: number };
  /** Aborts the start. */
  signal?: AbortSignal;
}

/** A running worker node. */
export interface WorkerNodeHandle extends AsyncDisposable {
  /** Its id in the cluster. */
  readonly id: string;
  /** This process's incarnation (a new one after its lease lapsed and it joined again). */
  readonly incarnation: string;
  /** The task kinds it offers. */
  readonly kinds: readonly string[];
  /** Its figures now. */
  stats(): WorkerNodeStats;
  /** Whether it takes work: joined, connected to Redis, its lease renewed within a lease, threads up. */
  readiness(): NodeReadiness;
  /** Its metrics (`apiary_node_*`, labelled with its id) in the Prometheus text format 0.0.4. */
  metricsText(): string;
  /**
   * Serves `/metrics`, `/health/live` and `/health/ready` (same paths and JSON as `hive.serve()`)
   * on `host:port` — port 9464 on loopback unless told otherwise; closed when the node stops.
   * @throws InvalidOptionsError (rejects) when an option is invalid
   * @throws ServeFailedError (rejects) when the port cannot be bound
   */
  serve(options?: NodeServeOptions): Promise<HealthServer>;
  /**
   * Leaves the cluster: its agents take no new work, their running attempts finish, then it
   * stops its threads and gives up its lease. Idempotent.
   */
  stop(): Promise<void>;
}

const int = (min: number, max: number) => {
  const error = `must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};

const nodeOptionsSchema = z.strictObject(
  {
    redis: redisUrlSchema,
    agents: z
      .array(agentSchema, { error: "must be an array of agents" })
      .min(1, { error: "must list at least one agent" })
      .superRefine((agents, ctx) => {
        const seen = new Set<string>();
        agents.forEach((a, i) => {
          if (seen.has(a.id)) ctx.addIssue({ code: "custom", path: [i, "id"], message: "must be unique among agents" });
          seen.add(a.id);
        });
      }),
    tasks: z.union([z.instanceof(URL), z.string().min(1)], { error: "must be a URL or a path of the task handler module" }).optional(),
    threads: int(1, MAX_THREADS).optional(),
    ...poolOptionShapes,
    id: nodeIdSchema.optional(),
    prefix: nodeIdSchema.default("apiary"),
    leaseMs: int(300, 600_000).default(5_000),
    maxBatch: int(1, 4096).default(32),
    abortGraceMs: int(1, 2_147_483_647).default(1_000),
    startTimeoutMs: int(1, 2_147_483_647).default(30_000),
    resourceLimits: z
      .strictObject({ maxOldGenerationSizeMb: int(1, 1_000_000).optional(), maxYoungGenerationSizeMb: int(1, 1_000_000).optional(), stackSizeMb: int(1, 1_000_000).optional() }, {
        error: "must be an object of V8 resource limits",
      })
      .optional(),
    signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: "must be an AbortSignal" }).optional(),
  },
  { error: "must be an options object { redis, agents, ... }" },
).superRefine(checkPoolOptions);

/** The default node id: the host name (cleaned) and the process id. */
function defaultNodeId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 48) || "node";
  const id = `${host}-${process.pid}`;
  return NAME_PATTERN.test(id) ? id : `node-${process.pid}`;
}

/**
 * Starts a worker node: loads the task module on its own thread pool, joins the cluster on
 * `redis` (its agents join the coordinator's swarm) and runs the attempts the coordinator sends
 * it until `stop()`. Node only.
 *
 * @example
 * ```ts
 * const node = await startWorkerNode({ redis: "redis://127.0.0.1:6379", agents: [{ id: "sim", capabilities: { simulate: 1 }, concurrency: 4 }], tasks: "./tasks.mjs" });
 * await node.serve({ port: 9465 }); // /metrics, /health/live, /health/ready, as hive.serve()
 * process.once("SIGTERM", () => void node.stop());
 * ```
 * @throws InvalidOptionsError naming the field and the value received
 * @throws TasksModuleError (rejects) when the task module cannot be loaded
 * @throws WaitTimeoutError (rejects) when Redis does not answer within `startTimeoutMs`
 */
export async function startWorkerNode(options: WorkerNodeOptions): Promise<WorkerNodeHandle> {
  const o = parseFor(nodeOptionsSchema, options, "start worker node", (m) => new InvalidOptionsError(m));
  const { WorkerNode } = await import("../backends/remote/node.ts");
  const id = o.id ?? defaultNodeId();
  const metrics = new NodeMetrics(id);
  const node = new WorkerNode({
    redis: o.redis,
    prefix: o.prefix,
    id,
    agents: o.agents.map((a) => ({ id: a.id, capabilities: a.capabilities, concurrency: a.concurrency, ...(a.restart !== undefined ? { restart: a.restart } : {}) })),
    tasksUrl: tasksUrl(o.tasks),
    ...threadCounts(o),
    ...(o.idleTimeoutMs !== undefined ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
    ...(o.workerData !== undefined ? { workerData: o.workerData } : {}),
    ...(o.env !== undefined ? { env: o.env } : {}),
    ...(o.execArgv !== undefined ? { execArgv: o.execArgv } : {}),
    maxBatch: o.maxBatch,
    abortGraceMs: o.abortGraceMs,
    startTimeoutMs: o.startTimeoutMs,
    leaseMs: o.leaseMs,
    resourceLimits: o.resourceLimits,
    onAttempt: metrics.attempt,
  });
  try {
    await node.start(o.signal);
  } catch (error) {
    await node.stop().catch(() => {});
    throw error;
  }
  // The cluster's sweep replicas (`apiary sweep --redis`) run on this node too; it leaves with the node.
  const { startReplicaConsumer } = await import("../sim/replica-consumer.ts");
  const replicas = await startReplicaConsumer({ redis: o.redis, prefix: o.prefix, nodeId: node.id, threads: node.stats().pool.threads, leaseMs: o.leaseMs }).catch(async (error: unknown) => {
    await node.stop().catch(() => {});
    throw error;
  });
  const stopNode = node.stop.bind(node);
  node.stop = () => Promise.all([replicas.stop(node.stats().redisConnected), stopNode()]).then(() => {});
  return nodeHandle(node, metrics);
}
