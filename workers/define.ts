/**
 * Worker-side helpers for task handler modules.
 *
 * @example
 * ```ts
 * import { defineTasks } from "apiary/worker";
 * export default defineTasks({
 *   double: (input: { n: number }) => input.n * 2,
 * });
 * ```
 *
 * @module
 */
import type { WorkerDependency } from "./dependency.ts";

export type { DependencyCallOptions, DependencyState, WorkerDependency } from "./dependency.ts";
export { transfer } from "./transfer.ts";
export type { TransferItem } from "./transfer.ts";

/** What a handler receives besides its input. */
export interface TaskContext {
  /** The task id, stable across attempts. */
  readonly taskId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The swarm agent whose slot runs this attempt. */
  readonly agentId: string;
  /**
   * The hive's `workerData` option (`startWorkerNode`'s on a worker node): data every thread
   * gets once, as it starts — a copy per thread (the value itself on the inline backend).
   * Undefined when not set.
   */
  readonly workerData?: unknown;
  /**
   * The values of the tasks this one ran after (`submit({ after: [id, …] })`), in that order;
   * with `afterPolicy: "settle"` each is `{ ok: true, value }` or `{ ok: false, error: { code, message } }`.
   * Empty without `after`.
   */
  readonly after: readonly unknown[];
  /**
   * Aborted when the attempt times out or is cancelled. `signal.aborted` can be polled from a
   * synchronous CPU loop: it reads a shared flag, no event-loop turn needed.
   */
  readonly signal: AbortSignal;
  /**
   * A named dependency guarded by the main thread's circuit breaker (registered there with
   * `hive.dependency(name, fn, options)`): `await ctx.dependency("llm").call(() => fetch(...))`
   * fails fast with code `CIRCUIT_OPEN` (or runs `fallback`) while the circuit is open.
   * @throws Error (code `INVALID_OPTIONS`) when no dependency of that name is registered
   */
  dependency(name: string): WorkerDependency;
  /**
   * Reports progress: any structured-cloneable value reaches the main thread as a
   * `task.progress` event and `handle.onProgress` listeners. Throttled: at most one report per
   * 100 ms per attempt, the latest value winning (a report waiting when the attempt ends is dropped).
   * @throws Error (code `INVALID_OPTIONS`) when the value cannot cross threads
   */
  progress(value: unknown): void;
}

/** A task handler: sync or async; what it returns (or throws) crosses back to the caller. */
// deno-lint-ignore no-explicit-any
export type TaskHandler<I = any, O = unknown> = (input: I, ctx: TaskContext) => O | Promise<O>;

/** A task module's default export: task kind → handler. */
export type TaskHandlers = Record<string, TaskHandler>;

/** Identity helper that types a task module's default export. */
export function defineTasks<T extends TaskHandlers>(handlers: T): T {
  return handlers;
}
