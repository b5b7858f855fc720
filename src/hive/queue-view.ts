/**
 * `hive.queued()`: the tasks that wait, read off the actors — those ready to run in the order the
 * Supervisor will place them, then those its kind's dispatch limit holds (in the same order), then
 * those waiting out a delay or a retry backoff (soonest first), then those held for the tasks they
 * run after.
 *
 * @module
 */
import { PRIORITIES, type Priority } from "../../actors/types.ts";
import { describeValue, InvalidOptionsError } from "../core/errors.ts";
import type { QueenActor, supervisorOf } from "./system.ts";

/** One waiting task, as `hive.queued()` lists it. */
export interface QueuedTask {
  taskId: string;
  kind: string;
  priority: Priority;
  /** The attempt it waits to make (1 for the first). */
  attempt: number;
  /**
   * `ready`: waits for a free eligible agent; `limited`: for its kind's dispatch limit (the hive's
   * `limits`) to let one more through; `delayed`: for its `delayMs`/`runAt` or a retry's backoff;
   * `held`: for the tasks it runs after (`after`).
   */
  state: "ready" | "limited" | "delayed" | "held";
  /**
   * Hive-clock time it became ready (ready), its kind's window lets the next one through
   * (limited), it becomes eligible (delayed), or it was accepted (held), ms.
   */
  at: number;
}

/** What `hive.queued()` lists. */
export interface QueuedOptions {
  /** Only tasks of this priority. */
  priority?: Priority;
  /** Only tasks of this kind. */
  kind?: string;
  /** At most this many (the first in order). @default all */
  limit?: number;
}

function check(options: unknown): QueuedOptions {
  const fail = (field: string, must: string, value: unknown): never => {
    throw new InvalidOptionsError(`Cannot list queued tasks: "${field}" must be ${must}, received ${describeValue(value)}`);
  };
  if (options === null || typeof options !== "object") fail("options", "an object { priority, kind, limit }", options);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!["priority", "kind", "limit"].includes(key)) throw new InvalidOptionsError(`Cannot list queued tasks: "${key}" is not a known option`);
  if (o.priority !== undefined && !(PRIORITIES as readonly unknown[]).includes(o.priority)) fail("priority", `one of ${PRIORITIES.join(", ")}`, o.priority);
  if (o.kind !== undefined && (typeof o.kind !== "string" || o.kind === "")) fail("kind", "a non-empty string", o.kind);
  if (o.limit !== undefined && (typeof o.limit !== "number" || !Number.isInteger(o.limit) || o.limit < 0)) fail("limit", "a non-negative integer", o.limit);
  return o as QueuedOptions;
}

/** The waiting tasks of a running hive, filtered and cut to `limit`. */
export function listQueued(queen: QueenActor | undefined, now: number, agingMs: number, input: unknown): QueuedTask[] {
  const options = check(input);
  if (queen === undefined) return [];
  const keep = (t: { kind: string; priority: Priority }): boolean => (options.kind === undefined || t.kind === options.kind) && (options.priority === undefined || t.priority === options.priority);
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const out: QueuedTask[] = [];
  const supervisor = queen.system.get("supervisor") as ReturnType<typeof supervisorOf> | undefined;
  if (supervisor === undefined) return []; // stopped: nothing waits
  const { queue, limits } = supervisor.getSnapshot().context;
  const limited: QueuedTask[] = [];
  for (const t of queue.list(now, agingMs)) {
    if (out.length >= limit) return out;
    if (!keep(t)) continue;
    const window = limits?.get(t.kind);
    if (window !== undefined && !window.allows(now)) limited.push({ taskId: t.id, kind: t.kind, priority: t.priority, attempt: t.attempt, state: "limited", at: window.freeAt(now) });
    else out.push({ taskId: t.id, kind: t.kind, priority: t.priority, attempt: t.attempt, state: "ready", at: t.enqueuedAt });
  }
  for (const t of limited) {
    if (out.length >= limit) return out;
    out.push(t);
  }
  const waiting = [...queen.getSnapshot().context.tasks.values()].filter((r) => r.state === "waiting" && keep(r));
  const delayed = waiting.filter((r) => r.held !== true).sort((a, b) => (a.dueAt ?? 0) - (b.dueAt ?? 0));
  for (const r of delayed) {
    if (out.length >= limit) return out;
    out.push({ taskId: r.id, kind: r.kind, priority: r.priority, attempt: r.attempt, state: "delayed", at: r.dueAt ?? now });
  }
  for (const r of waiting) {
    if (out.length >= limit) return out;
    if (r.held === true) out.push({ taskId: r.id, kind: r.kind, priority: r.priority, attempt: r.attempt, state: "held", at: r.submittedAt });
  }
  return out;
}
