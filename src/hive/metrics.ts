/**
 * The hive's metrics: task counters by kind and outcome, latency and run-duration histograms by
 * kind and agent, and gauges (queue depth, running tasks, busy agents) sampled when the metrics
 * are collected. The hive feeds it each lifecycle event from the one place it already handles
 * them, so the hot path pays a map lookup on bound series and one histogram record per task.
 *
 * @module
 */
import type { LifecycleEvent } from "../../actors/queen.ts";
import { type BoundCounter, type BoundHistogram, type Counter, type Gauge, type Histogram, type MetricSnapshot, MetricsRegistry } from "../metrics/registry.ts";

/** Outcomes `apiary_tasks_total` counts. */
export type TaskOutcome = "completed" | "failed" | "cancelled" | "deadLettered" | "shed" | "rejected" | "retried";

/** What the hive reports when the metrics are collected (sampled gauges). */
export interface HiveGaugeSample {
  /** Tasks waiting in the queue. */
  queued: number;
  /** Attempts running now. */
  running: number;
  /** Per agent: attempts it runs now and its slots. */
  agents: readonly { id: string; busy: number; concurrency: number }[];
  /** Seconds since the hive started (hive clock). */
  uptimeSeconds: number;
  /** Event deliveries to `hive.on` listeners that failed and are retrying or exhausted. */
  deadLetters: number;
}

/** Bound series of one task kind (label lookups done once, on the first task of the kind). */
interface KindSeries {
  readonly completed: BoundCounter;
  readonly failed: BoundCounter;
  readonly cancelled: BoundCounter;
  readonly deadLettered: BoundCounter;
  readonly shed: BoundCounter;
  readonly rejected: BoundCounter;
  readonly retried: BoundCounter;
  // latency and duration series by agent id.
  readonly byAgent: Map<string, { latency: BoundHistogram; duration: BoundHistogram }>;
}

/** Label value used when a task ended without an agent (for example a failure before allocation). */
const NO_AGENT = "none";

/**
 * Metrics of one hive. Create it with the hive; call {@link HiveMetrics.record} with each
 * lifecycle event, and read it with {@link HiveMetrics.snapshot} or {@link HiveMetrics.toPrometheus}.
 */
export class HiveMetrics {
  /** The registry holding every metric (prefix `apiary_`). */
  readonly registry: MetricsRegistry = new MetricsRegistry({ prefix: "apiary_" });
  readonly #tasks: Counter<"kind" | "outcome">;
  readonly #latency: Histogram<"kind" | "agent">;
  readonly #duration: Histogram<"kind" | "agent">;
  readonly #queued: Gauge;
  readonly #running: Gauge;
  readonly #busyAgents: Gauge;
  readonly #agentBusy: Gauge<"agent">;
  readonly #uptime: Gauge;
  readonly #deadLetters: Gauge;
  // bound series by task kind; grows with the number of kinds (the task module's, so bounded).
  readonly #kinds = new Map<string, KindSeries>();

  /** @param sample - Reads the hive's current figures; called at each collection. */
  constructor(sample: () => HiveGaugeSample) {
    const r = this.registry;
    this.#tasks = r.counter({ name: "tasks_total", help: "Tasks that reached an outcome (retried counts each retry).", labelNames: ["kind", "outcome"] });
    this.#latency = r.histogram({ name: "task_latency_seconds", help: "Submit-to-completion latency of completed tasks, seconds.", labelNames: ["kind", "agent"] });
    this.#duration = r.histogram({ name: "task_run_seconds", help: "Run duration of the completing attempt, seconds.", labelNames: ["kind", "agent"] });
    this.#queued = r.gauge({ name: "queue_depth", help: "Tasks waiting in the queue." });
    this.#running = r.gauge({ name: "tasks_running", help: "Attempts running now." });
    this.#busyAgents = r.gauge({ name: "agents_busy", help: "Agents running at least one attempt." });
    this.#agentBusy = r.gauge({ name: "agent_busy_slots", help: "Attempts an agent runs now.", labelNames: ["agent"] });
    this.#uptime = r.gauge({ name: "uptime_seconds", help: "Seconds since the hive started (hive clock)." });
    this.#deadLetters = r.gauge({ name: "event_dead_letters", help: "Event deliveries to listeners that threw (retrying or exhausted)." });
    r.onCollect(() => {
      const s = sample();
      this.#queued.set(s.queued);
      this.#running.set(s.running);
      let busy = 0;
      for (const a of s.agents) {
        if (a.busy > 0) busy++;
        this.#agentBusy.set(a.busy, { agent: a.id });
      }
      this.#busyAgents.set(busy);
      this.#uptime.set(s.uptimeSeconds);
      this.#deadLetters.set(s.deadLetters);
    });
  }

  /** Records one lifecycle event (the events that are not outcomes are ignored). */
  record(event: LifecycleEvent): void {
    switch (event.type) {
      case "task.completed": {
        const k = this.#kind(event.kind);
        k.completed.inc();
        const agent = event.agentId ?? NO_AGENT;
        let a = k.byAgent.get(agent);
        if (a === undefined) {
          a = { latency: this.#latency.labels({ kind: event.kind, agent }), duration: this.#duration.labels({ kind: event.kind, agent }) };
          k.byAgent.set(agent, a);
        }
        a.latency.record(event.latencyMs / 1_000);
        a.duration.record(event.durationMs / 1_000);
        break;
      }
      case "task.failed":
        this.#kind(event.kind).failed.inc();
        break;
      case "task.cancelled":
        this.#kind(event.kind).cancelled.inc();
        break;
      case "task.rejected":
        this.#kind(event.kind).rejected.inc();
        break;
      case "task.deadLettered":
        this.#kind(event.kind).deadLettered.inc();
        break;
      case "task.shed":
        this.#kind(event.kind).shed.inc();
        break;
      case "task.retrying":
        this.#kind(event.kind).retried.inc();
        break;
    }
  }

  #kind(kind: string): KindSeries {
    let k = this.#kinds.get(kind);
    if (k === undefined) {
      const c = (outcome: TaskOutcome): BoundCounter => this.#tasks.labels({ kind, outcome });
      k = {
        completed: c("completed"),
        failed: c("failed"),
        cancelled: c("cancelled"),
        deadLettered: c("deadLettered"),
        shed: c("shed"),
        rejected: c("rejected"),
        retried: c("retried"),
        byAgent: new Map(),
      };
      this.#kinds.set(kind, k);
    }
    return k;
  }

  /** Every metric as plain JSON (gauges sampled now). */
  snapshot(): MetricSnapshot[] {
    return this.registry.snapshot();
  }

  /** Every metric in the Prometheus text exposition format 0.0.4 (gauges sampled now). */
  toPrometheus(): string {
    return this.registry.toPrometheus();
  }
}
