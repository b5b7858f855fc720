/**
 * Data shared by the machines: task and agent shapes as they travel between actors. Plain,
 * serialisable objects only.
 *
 * @module
 */

/** The five task priorities, most urgent first. */
export type Priority = "critical" | "high" | "normal" | "low" | "background";

/** Priority names in rank order (index = rank, 0 most urgent). */
export const PRIORITIES: readonly Priority[] = ["critical", "high", "normal", "low", "background"];

/** Capability name → level in [0, 1]. */
export type Capabilities = Record<string, number>;

/** A task as the Supervisor queues and places it (one attempt at a time). */
export interface ReadyTask {
  id: string;
  kind: string;
  input: unknown;
  requires: Capabilities;
  priority: Priority;
  /** Attempt timeout, ms. */
  timeoutMs: number;
  /** 1 for the first attempt. */
  attempt: number;
  /** Agent that ran the previous attempt: placement prefers another. */
  avoid?: string | undefined;
  /** Hive-clock time it entered the ready queue, ms. */
  enqueuedAt: number;
  /** Outcomes of the tasks it ran after (`after`), in order (`ctx.after`); absent without `after`. */
  after?: unknown[] | undefined;
}

/** Health figures of an agent, as exponentially weighted moving averages. */
export interface Health {
  /** Success rate in [0, 1]. */
  successRate: number;
  /** Mean attempt latency, ms. */
  latencyMs: number;
  completed: number;
  failed: number;
}

/** How an attempt ended, as it travels up the tree. Errors are ApiaryError instances. */
export type WorkResult = { ok: true; value: unknown } | { ok: false; error: Error & { code?: string } };
