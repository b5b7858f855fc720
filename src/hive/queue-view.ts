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
   * (limited; now while that waits on starts not yet reported by the backend), it becomes
   * eligible (delayed), or it was accepted (held), ms.
   */
  at: number;
}

/** What a waiting task waits for, as `hive.explain(taskId).waiting` says it. */
export interface Waiting {
  /** As {@link QueuedTask.state}: `ready`, `limited`, `delayed` or `held`. */
  state: QueuedTask["state"];
  /** As {@link QueuedTask.at}: hive-clock time, ms. */
  at: number;
  /** What it waits for, in words (the kind and its limit, the tasks it runs after, a paused hive, …). */
  reason: string;
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
    if (window !== undefined && !window.allows(now)) limited.push({ taskId: t.id, kind: t.kind, priority: t.priority, attempt: t.attempt, state: "limited", at: window.freeAt(now) ?? now });
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

/** What the hive knows besides its actors when it explains a wait. */
export interface WaitingHost {
  /** The tasks held task `id` still waits for, or undefined when it is not held. */
  pending(id: string): readonly string[] | undefined;
}

/** "in 400 ms (at 1000 on the hive clock)", or "now" when `at` is not ahead of `now`. */
function when(at: number, now: number): string {
  return at > now ? `in ${Math.ceil(at - now)} ms (at ${Math.round(at)} on the hive clock)` : "now";
}

/**
 * What task `id` waits for, read as `listQueued` reads it but for one task: its Queen record by id,
 * then its kind's window and its lane of the ready queue. Undefined when the task runs, ended or
 * is unknown.
 */
export function waitingOf(queen: QueenActor | undefined, id: string, now: number, host: WaitingHost): { attempt: number; waiting: Waiting } | undefined {
  const record = queen?.getSnapshot().context.tasks.get(id);
  if (queen === undefined || record === undefined || record.state === "running") return undefined;
  if (record.state === "waiting") {
    if (record.held === true) {
      const pending = host.pending(id) ?? [];
      const reason = pending.length > 0 ? `runs after ${pending.map((p) => JSON.stringify(p)).join(", ")}, not ended yet` : "runs after tasks that have ended: it is released in a moment";
      return { attempt: record.attempt, waiting: { state: "held", at: record.submittedAt, reason } };
    }
    const at = record.dueAt ?? now;
    const reason = record.attempt > 1
      ? `retry backoff after attempt ${record.attempt - 1} failed: attempt ${record.attempt} may go ${when(at, now)}`
      : `delayed (delayMs / runAt): it may go ${when(at, now)}`;
    return { attempt: record.attempt, waiting: { state: "delayed", at, reason } };
  }
  const supervisor = queen.system.get("supervisor") as ReturnType<typeof supervisorOf> | undefined;
  if (supervisor === undefined) return undefined; // stopped: nothing waits
  const { queue, limits, paused } = supervisor.getSnapshot().context;
  const pause = paused ? "; the hive is paused (hive.resume() restarts dispatch)" : "";
  const window = limits?.get(record.kind);
  if (window !== undefined && !window.allows(now)) {
    const at = window.freeAt(now);
    const limit = `kind ${JSON.stringify(record.kind)} is at its dispatch limit of ${window.max} per ${window.perMs} ms`;
    const reason = at === undefined
      ? `${limit}: ${window.pending} of its attempts placed have not reported their start yet; the next may go once they do and the window allows${pause}`
      : `${limit}: the next may go ${when(at, now)}${pause}`;
    return { attempt: record.attempt, waiting: { state: "limited", at: at ?? now, reason } };
  }
  const at = queue.enqueuedAt(id, record.priority) ?? record.submittedAt;
  const busy = supervisor.getSnapshot().context.allocation.name === "custom" ? "no eligible agent has a free slot, or the allocation function left it queued" : "no eligible agent has a free slot";
  return { attempt: record.attempt, waiting: { state: "ready", at, reason: paused ? "the hive is paused (hive.resume() restarts dispatch)" : busy } };
}
