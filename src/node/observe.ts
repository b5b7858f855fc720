/**
 * A worker node's own metrics and health server: `node.metricsText()` and `node.serve()` (as
 * `hive.metricsText()` and `hive.serve()`), on the same building blocks as the hive's — the
 * metrics registry and `serveHealth`, so `/metrics`, `/health/live` and `/health/ready` answer on
 * the same paths with the same JSON and one probe configuration fits hives and nodes alike.
 *
 * Every series carries the label `node` (the node's id), so one Prometheus scraping every node
 * sums them (`sum by (kind)`) and aggregates the run-time histogram's buckets across nodes
 * (`histogram_quantile(0.99, sum by (le) (rate(apiary_node_attempt_run_seconds_bucket[5m])))`).
 *
 * @module
 */
import type { AttemptEnd, NodeAttemptOutcome, NodeReadiness, WorkerNode, WorkerNodeStats } from "../backends/remote/node.ts";
import { type BoundCounter, type BoundHistogram, MetricsRegistry } from "../metrics/registry.ts";
import { type HealthServer, serveOwned } from "../observe/serve.ts";
import { TASK_SECONDS_BUCKETS } from "../hive/metrics.ts";
import type { WorkerNodeHandle } from "./start.ts";

/** Options of a node's `serve()` (as the hive's). */
export interface NodeServeOptions {
  /** TCP port; `0` picks a free one. @default 9464 (as `hive.serve()`; give each node on one machine its own) */
  port?: number;
  /** Interface to bind. Anything but loopback exposes the metrics to the network. @default "127.0.0.1" */
  host?: string;
  /** Closes the server when aborted. */
  signal?: AbortSignal;
}

/** What the node's metrics read from the node when they are collected. */
export interface ObservedNode {
  stats(): WorkerNodeStats;
  readiness(): NodeReadiness;
  /** The lease's time to live, ms. */
  readonly leaseMs: number;
}

const OUTCOMES: readonly NodeAttemptOutcome[] = ["completed", "failed", "timedOut", "cancelled", "crashed"];

/** The metrics of one worker node (prefix `apiary_node_`, label `node`). */
export class NodeMetrics {
  readonly registry: MetricsRegistry = new MetricsRegistry({ prefix: "apiary_node_" });
  readonly #nodeId: string;
  readonly #attempts;
  readonly #runSeconds;
  /** Bound series by kind: one counter per outcome and the run-time histogram. */
  readonly #kinds = new Map<string, { outcomes: Record<NodeAttemptOutcome, BoundCounter>; run: BoundHistogram }>();
  #node: ObservedNode | undefined;

  constructor(nodeId: string) {
    this.#nodeId = nodeId;
    const r = this.registry;
    const node = ["node"] as const;
    this.#attempts = r.counter({
      name: "attempts_total",
      help: "Attempts this node ran to an end, by kind and outcome (completed, failed, timedOut, cancelled, crashed).",
      labelNames: ["node", "kind", "outcome"],
    });
    this.#runSeconds = r.histogram({ name: "attempt_run_seconds", help: "Run time of attempts on this node's threads, seconds.", labelNames: ["node", "kind"], buckets: TASK_SECONDS_BUCKETS });
    const running = r.gauge({ name: "attempts_running", help: "Attempts running (or waiting for a thread) on this node now.", labelNames: node });
    const jobs = r.gauge({ name: "jobs_running", help: "Jobs (each carrying one or more attempts) being run now.", labelNames: node });
    const jobsTotal = r.counter({ name: "jobs_total", help: "Jobs taken from this node's queue.", labelNames: node });
    const threads = r.gauge({ name: "threads", help: "Worker threads alive (the pool's spare included).", labelNames: node });
    const restarts = r.counter({ name: "thread_restarts_total", help: "Threads that died (exit, crash, forced termination) and were replaced.", labelNames: node });
    const leaseAge = r.gauge({ name: "lease_age_seconds", help: "Seconds since the heartbeat lease was last renewed.", labelNames: node });
    const lease = r.gauge({ name: "lease_seconds", help: "The heartbeat lease's time to live, seconds.", labelNames: node });
    const redis = r.gauge({ name: "redis_connected", help: "1 while the node's connection to Redis is up, else 0.", labelNames: node });
    const rejoins = r.counter({ name: "rejoins_total", help: "Times the node joined again after its lease lapsed.", labelNames: node });
    const ready = r.gauge({ name: "ready", help: "1 when the node takes work (as /health/ready), else 0.", labelNames: node });
    const labels = { node: nodeId };
    r.onCollect(() => {
      const n = this.#node;
      if (n === undefined) return;
      const s = n.stats();
      running.set(s.running, labels);
      jobs.set(s.jobsRunning, labels);
      jobsTotal.add(s.jobs - jobsTotal.get(labels), labels);
      threads.set(s.threadsAlive, labels);
      restarts.add(s.pool.threadRestarts - restarts.get(labels), labels);
      leaseAge.set(s.leaseRenewedAt === 0 ? 0 : Math.max(0, Date.now() - s.leaseRenewedAt) / 1_000, labels);
      lease.set(n.leaseMs / 1_000, labels);
      redis.set(s.redisConnected ? 1 : 0, labels);
      rejoins.add(s.rejoins - rejoins.get(labels), labels);
      ready.set(n.readiness().ready ? 1 : 0, labels);
    });
  }

  /** Reads `node` at each collection. */
  attach(node: ObservedNode): void {
    this.#node = node;
  }

  /** Counts one attempt's end (the node calls it). */
  readonly attempt = (ended: AttemptEnd): void => {
    let k = this.#kinds.get(ended.kind);
    if (k === undefined) {
      const outcomes = {} as Record<NodeAttemptOutcome, BoundCounter>;
      for (const outcome of OUTCOMES) outcomes[outcome] = this.#attempts.labels({ node: this.#nodeId, kind: ended.kind, outcome });
      k = { outcomes, run: this.#runSeconds.labels({ node: this.#nodeId, kind: ended.kind }) };
      this.#kinds.set(ended.kind, k);
    }
    k.outcomes[ended.outcome].inc();
    if (ended.runMs !== undefined) k.run.record(ended.runMs / 1_000);
  };

  /** Every metric in the Prometheus text exposition format 0.0.4. */
  toPrometheus(): string {
    return this.registry.toPrometheus();
  }
}

/** What `serve()` of a node needs. */
export interface ServedNode extends ObservedNode {
  readonly stopped: boolean;
}

/**
 * Serves a node's `/metrics`, `/health/live` (200 until it stopped) and `/health/ready` (200 when
 * connected to Redis, its lease renewed within a lease and threads up; 503 with the reason
 * otherwise).
 */
export function serveNode(node: ServedNode, metrics: NodeMetrics, options: NodeServeOptions, servers: Set<HealthServer>): Promise<HealthServer> {
  return serveOwned(options, servers, { metrics: () => metrics.toPrometheus(), live: () => !node.stopped, ready: () => node.readiness() });
}

/** The handle `startWorkerNode` returns: the node, its metrics and its health servers (closed when it stops). */
export function nodeHandle(node: WorkerNode, metrics: NodeMetrics): WorkerNodeHandle {
  metrics.attach(node);
  const servers = new Set<HealthServer>();
  const stop = async (): Promise<void> => {
    await node.stop();
    await Promise.all([...servers].map((s) => s.close()));
    servers.clear();
  };
  return {
    id: node.id,
    get incarnation() {
      return node.incarnation;
    },
    get kinds() {
      return node.kinds;
    },
    stats: () => node.stats(),
    readiness: () => node.readiness(),
    metricsText: () => metrics.toPrometheus(),
    serve: (options = {}) => serveNode(node, metrics, options, servers),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
