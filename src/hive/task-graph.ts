/**
 * Tasks that run after others (`submit({ after: [id, …] })`): the Queen holds such a task as
 * waiting; this graph watches its predecessors end and then releases it with their outcomes, or
 * fails it with DEPENDENCY_FAILED. Predecessors must exist when a task names them, so the graph
 * cannot hold a cycle (a task naming itself is refused).
 *
 * @module
 */
import type { LifecycleEvent } from "../../actors/queen.ts";
import type { HiveClock } from "../core/clock.ts";
import { DependencyFailedError, InvalidTaskError } from "../core/errors.ts";
import { errorFromResult, type HiveDurability, type TaskResult } from "./durability.ts";
import type { QueenActor } from "./system.ts";

/** What the graph needs of the hive. */
export interface TaskGraphHost {
  readonly clock: HiveClock;
  readonly durable: HiveDurability;
  queen(): QueenActor | undefined;
  /** Whether task `id` is submitted and has not ended. */
  isOpen(id: string): boolean;
}

interface Held {
  after: readonly string[];
  policy: "fail" | "settle";
}

const ENDS = new Set<LifecycleEvent["type"]>(["task.completed", "task.failed", "task.deadLettered", "task.cancelled", "task.shed", "task.rejected"]);

/** A lifecycle end as a {@link TaskResult}. */
function outcomeOf(event: LifecycleEvent): TaskResult {
  const e = event as { taskId: string; kind: string; type: string; value?: unknown; error?: Error & { code?: string }; attempts?: number };
  const state = e.type.slice("task.".length) as TaskResult["state"];
  return {
    id: e.taskId,
    kind: e.kind,
    state,
    ...(state === "completed" ? { value: e.value } : {}),
    ...(e.error !== undefined ? { error: { name: e.error.name, code: e.error.code ?? "TASK_FAILED", message: e.error.message } } : {}),
    attempts: e.attempts ?? 0,
    finishedAt: Date.now(),
  };
}

/** Held tasks and who waits on whom. */
export class TaskGraph {
  readonly #host: TaskGraphHost;
  readonly #held = new Map<string, Held>();
  /** Predecessor id → the held tasks that wait on it. */
  readonly #waiters = new Map<string, Set<string>>();
  /**
   * Outcomes of predecessors that ended while tasks waited on them, kept until those are decided
   * (the hive keeps results only with a journal or for keyed tasks).
   */
  readonly #outcomes = new Map<string, TaskResult>();

  constructor(host: TaskGraphHost) {
    this.#host = host;
  }

  /** Held tasks not yet released. */
  get size(): number {
    return this.#held.size;
  }

  /** The tasks held task `id` still waits for (those of its `after` not yet ended), or undefined when it is not held. */
  pending(id: string): string[] | undefined {
    const held = this.#held.get(id);
    if (held === undefined) return undefined;
    return held.after.filter((p) => !this.#outcomes.has(p) && this.#host.durable.finished(p) === undefined && this.#host.isOpen(p));
  }

  /** Refuses an `after` that names the task itself or a task the hive does not know. */
  check(id: string, after: readonly string[], action: string): void {
    for (const [i, p] of after.entries()) {
      if (p === id) throw new InvalidTaskError(`Cannot ${action}: "after[${i}]" must not name the task itself (a cycle), received ${JSON.stringify(p)}`);
      if (!this.#host.isOpen(p) && this.#host.durable.finished(p) === undefined) {
        throw new InvalidTaskError(
          `Cannot ${action}: "after[${i}]" must name a task the hive knows — unfinished, or finished and kept (with a journal, or \`journal.maxResults\`) — received ${JSON.stringify(p)}`,
        );
      }
    }
  }

  /** Tracks a held task (submitted, or recovered from the journal): decided when the Queen has it and its predecessors ended. */
  hold(id: string, after: readonly string[], policy: "fail" | "settle"): void {
    this.#held.set(id, { after, policy });
    for (const p of after) {
      let set = this.#waiters.get(p);
      if (set === undefined) this.#waiters.set(p, set = new Set());
      set.add(id);
    }
  }

  /** A lifecycle observer (after the journal has seen the event): an end may release tasks. */
  readonly observe = (event: LifecycleEvent): void => {
    // Decided once the Queen holds the task (its acceptance may wait for the journal's write).
    if (event.type === "task.queued") {
      if (this.#held.has(event.taskId)) this.#evaluate(event.taskId);
      return;
    }
    if (!ENDS.has(event.type)) return;
    const id = (event as { taskId: string }).taskId;
    const waiting = this.#waiters.get(id);
    if (waiting !== undefined) {
      this.#outcomes.set(id, this.#host.durable.finished(id) ?? outcomeOf(event));
      for (const w of [...waiting]) this.#evaluate(w);
    }
    // The held task itself ended (cancelled, failed, deadline): forget it.
    if (this.#held.has(id)) this.#forget(id);
  };

  #evaluate(id: string): void {
    const held = this.#held.get(id);
    if (held === undefined) return;
    const results: (TaskResult | undefined)[] = [];
    for (const p of held.after) {
      const r = this.#outcomes.get(p) ?? this.#host.durable.finished(p);
      if (r === undefined && this.#host.isOpen(p)) return; // still running or waiting
      results.push(r);
    }
    const queen = this.#host.queen();
    // Not with the Queen yet (on its way through the journal): decided at its `task.queued`.
    if (queen === undefined || queen.getSnapshot().context.tasks.get(id)?.held !== true) return;
    const at = this.#host.clock.now();
    this.#forget(id);
    if (held.policy === "fail") {
      const bad = results.findIndex((r) => r?.state !== "completed");
      if (bad >= 0) {
        const p = held.after[bad]!;
        const r = results[bad];
        const why = r === undefined ? "its outcome is no longer kept" : `it ended ${r.state}${r.error !== undefined ? ` (${r.error.code}: ${r.error.message})` : ""}`;
        const error = new DependencyFailedError(`Task ${id} did not run: the task it runs after, ${JSON.stringify(p)}, did not complete: ${why}`, {
          taskId: id,
          ...(r !== undefined && r.state !== "completed" ? { cause: errorFromResult(r) } : {}),
        });
        queen.send({ type: "queen.fail", id, error, at });
        return;
      }
      queen.send({ type: "queen.release", id, after: results.map((r) => r!.value), at });
      return;
    }
    const after = results.map((r) =>
      r?.state === "completed" ? { ok: true, value: r.value } : { ok: false, error: { code: r?.error?.code ?? "DEPENDENCY_FAILED", message: r?.error?.message ?? "its outcome is no longer kept" } }
    );
    queen.send({ type: "queen.release", id, after, at });
  }

  #forget(id: string): void {
    const held = this.#held.get(id);
    if (held === undefined) return;
    this.#held.delete(id);
    for (const p of held.after) {
      const set = this.#waiters.get(p);
      set?.delete(id);
      if (set?.size === 0) {
        this.#waiters.delete(p);
        this.#outcomes.delete(p);
      }
    }
  }
}
