/**
 * The hive's memory of finished tasks and, with a journal, its durability: what `result(id)`
 * and idempotency keys answer from, what the journal records of each transition, and what a
 * recovering hive takes back (open tasks with their attempts and retry deadlines, results,
 * keys, dead letters, how far generated ids went, the Queen's and Supervisor's saved state).
 *
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import type { PersistedHive } from "../../actors/persist.ts";
import type { LifecycleEvent, TaskSpec } from "../../actors/queen.ts";
import { ApiaryError, type ApiaryErrorCode, InvalidOptionsError } from "../core/errors.ts";
import { FileJournalLog } from "../journal/file-log.ts";
import { type Durability, Journal, type JournalSkip, type JournalStats, type JournalTuning } from "../journal/journal.ts";
import { type JournalLog, StoreJournalLog } from "../journal/log.ts";
import { DEAD_LETTER_LIMIT, type EndRecord, type EndState, type JournalError } from "../journal/records.ts";
import { TaskIds } from "../journal/task-ids.ts";
import { parseOrThrow } from "./schema.ts";
import type { Store } from "../store/types.ts";

/** How a finished task ended, as `hive.result(id)` reports it. */
export interface TaskResult {
  id: string;
  kind: string;
  state: EndState;
  /** The output, when it completed. */
  value?: unknown;
  /** Why it did not complete. */
  error?: JournalError;
  /** Attempts it took. */
  attempts: number;
  /** When it ended, epoch ms. */
  finishedAt: number;
}

/** The `journal` option of `createHive`. */
export interface HiveJournalOptions {
  /** `durability: "batched"`: longest wait before buffered transitions are written, ms. @default 10 */
  flushMs?: number;
  /** Finished tasks are kept (for `result(id)` and idempotency keys) this long, ms. @default 86_400_000 (a day) */
  retentionMs?: number;
  /** At most this many finished tasks are kept; the oldest go first. @default 100_000 */
  maxResults?: number;
  /**
   * A task whose attempt was running each of the last `maxCrashes` times the process died (no
   * clean `stop()`) is not run again on recovery: it ends dead-lettered (WORKER_CRASHED), so a
   * task that kills the process cannot crash every restart. @default 3
   */
  maxCrashes?: number;
  /**
   * Compact the journal after this many records — or, when more is kept, once the journal has
   * grown by twice what the last compaction wrote. @default 50_000
   */
  compactEvery?: number;
  /** Called for each torn or corrupt record skipped on recovery. @default console.warn */
  onWarning?: (warning: JournalSkip & { message: string }) => void;
}

const journalSchema = z.strictObject(
  {
    flushMs: z.number().int().min(1).max(60_000).optional(),
    retentionMs: z.number().int().min(0).optional(),
    maxResults: z.number().int().min(0).optional(),
    compactEvery: z.number().int().min(1).optional(),
    maxCrashes: z.number().int().min(1).optional(),
    onWarning: z.custom<(w: unknown) => void>((v) => typeof v === "function", { error: "must be a function" }).optional(),
  },
  { error: "must be an object { flushMs, retentionMs, maxResults, compactEvery, maxCrashes, onWarning }" },
);

export { DEAD_LETTER_LIMIT };

/** A dead letter as the hive keeps it (the Queen's event). */
export type DeadLetterEvent = Extract<LifecycleEvent, { type: "task.deadLettered" }>;

/** Folder of the default journal, relative to the working directory. */
const DEFAULT_JOURNAL_DIR = join(".apiary", "journal");

/** What recovery hands the hive. */
export interface Recovered {
  /** Tasks to re-queue, each with `restored` set. */
  tasks: TaskSpec[];
  /** The Queen's and Supervisor's saved state, if any. */
  state: PersistedHive | undefined;
  /** Wall time since that state was saved, ms. */
  stateAgeMs: number;
  /** Tasks not resumed: the process died during their attempt `maxCrashes` times in a row. */
  abandoned: number;
  /** Dead letters of earlier runs not retried since, oldest first, `at` on the hive clock. */
  deadLetters: DeadLetterEvent[];
  skipped: JournalSkip[];
}

const TERMINAL: Partial<Record<LifecycleEvent["type"], EndState>> = {
  "task.completed": "completed",
  "task.failed": "failed",
  "task.cancelled": "cancelled",
  "task.deadLettered": "deadLettered",
  "task.shed": "shed",
  "task.rejected": "rejected",
};

/** Results, idempotency keys and the journal of one hive. */
export class HiveDurability {
  readonly journal: Journal | undefined;
  readonly recover: boolean;
  readonly #maxResults: number;
  readonly #maxCrashes: number;
  /** Keep every finished task (a journal, or `journal.maxResults` given), else only keyed ones. */
  readonly #keepAll: boolean;
  readonly #onWarning: (w: JournalSkip & { message: string }) => void;
  /**
   * Finished tasks in two generations (together at most `maxResults`): when the newer one is
   * full the older one is dropped whole. Deleting the oldest entry one at a time would leave
   * holes at the front of the Map that every later `keys().next()` walks over.
   */
  #results = new Map<string, EndRecord>();
  #olderResults = new Map<string, EndRecord>();
  /** Idempotency key → id of the task that holds it (open, or finished and kept). */
  readonly #keys = new Map<string, string>();
  /** Key of each open task that has one. */
  readonly #openKeys = new Map<string, string>();
  /** Callers of `result(id)` waiting for an open task. */
  readonly #waiting = new Map<string, ((r: TaskResult) => void)[]>();
  /** Tasks taken back from the journal and not ended yet: their ids are in use. */
  readonly #resumed = new Set<string>();
  /** Generated task ids (`t<n>`), never one twice on this hive's journal. */
  readonly ids = new TaskIds();

  /**
   * @throws InvalidOptionsError naming `durability`, `recover` or `journal.*`
   */
  constructor(durability: Durability | undefined, recover: boolean | undefined, journal: unknown, store: unknown) {
    const tuning = parseOrThrow(journalSchema, journal ?? {}, "create hive", (m) => new InvalidOptionsError(m), ["journal"]);
    const level = durability ?? (recover === true ? "every-task" : "none");
    if (recover === true && level === "none") throw new InvalidOptionsError(`Cannot create hive: "recover" needs a journal, but "durability" is "none"; pick "batched" or "every-task"`);
    this.recover = recover === true;
    // Without a journal, results are kept only when asked (`journal.maxResults`) and for tasks
    // with an idempotency key: keeping every result costs the hot path its garbage collection.
    this.#maxResults = tuning.maxResults ?? 100_000;
    this.#maxCrashes = tuning.maxCrashes ?? 3;
    this.#keepAll = tuning.maxResults !== undefined || level !== "none";
    this.#onWarning = tuning.onWarning ?? ((w) => console.warn(w.message));
    if (level === "none") {
      this.journal = undefined;
      return;
    }
    const full: JournalTuning = { flushMs: tuning.flushMs ?? 10, retentionMs: tuning.retentionMs ?? 86_400_000, maxResults: this.#maxResults, compactEvery: tuning.compactEvery ?? 50_000 };
    this.journal = new Journal(journalLog(store), level, full);
  }

  /**
   * Reads the journal (if any): with `recover`, what to take back; else starts it empty. Either
   * way generated ids carry on above the ones it holds.
   * @param hiveNow the hive clock's time, to place recovered dead letters on it
   */
  async open(hiveNow = 0): Promise<Recovered> {
    const journal = this.journal;
    if (journal === undefined) return { tasks: [], state: undefined, stateAgeMs: 0, skipped: [], abandoned: 0, deadLetters: [] };
    const loaded = await journal.open(this.recover, (lastId) => this.ids.resume(lastId, (upTo) => journal.append({ o: "i", n: upTo })));
    for (const s of loaded.skipped) {
      this.#onWarning({ ...s, message: `apiary journal: skipped a ${s.reason} in ${s.file} at byte offset ${s.offset} (${s.bytes} bytes); everything before and after it was recovered` });
    }
    const index = journal.index;
    if (!this.recover) return { tasks: [], state: undefined, stateAgeMs: 0, skipped: loaded.skipped, abandoned: 0, deadLetters: [] };
    for (const [id, r] of index.ended) this.#remember(id, r);
    for (const [key, id] of index.keys) this.#keys.set(key, id);
    const now = Date.now();
    const tasks: TaskSpec[] = [];
    const dead: Omit<EndRecord, "o">[] = [...index.dead.values()];
    let abandoned = 0;
    for (const t of [...index.open.values()]) {
      const s = t.submit;
      if (t.wait === undefined && t.starts >= this.#maxCrashes) {
        // The process died with this attempt running every time: running it again would crash this one too.
        abandoned++;
        const end: EndRecord = {
          o: "e",
          id: s.id,
          kind: s.kind,
          s: "deadLettered",
          n: t.attempt,
          err: {
            name: "WorkerCrashedError",
            code: "WORKER_CRASHED",
            message: `Task ${s.id} (${s.kind}) was not resumed: the process died during attempt ${t.attempt} ${t.starts} times (journal.maxCrashes is ${this.#maxCrashes})`,
          },
          ...(s.key !== undefined ? { key: s.key } : {}),
          t: { input: s.input, requires: s.requires, priority: s.priority, timeoutMs: s.timeoutMs, retries: s.retries },
          at: now,
        };
        journal.append(end);
        this.#remember(s.id, end);
        dead.push(end);
        if (s.key !== undefined) this.#keys.set(s.key, s.id);
        continue;
      }
      this.#resumed.add(s.id);
      if (s.key !== undefined) this.#openKeys.set(s.id, s.key);
      // The attempt that was running when the process died runs again under the same number
      // (like an agent crash, it was not the task's fault); a retry keeps what was left of its backoff.
      const restored: NonNullable<TaskSpec["restored"]> = t.wait !== undefined ? { attempt: t.wait.n, retryInMs: Math.max(0, t.wait.due - now) } : { attempt: Math.max(1, t.attempt), retryInMs: 0 };
      // A deadline counts from the first submit, across restarts: what is left of it.
      if (s.deadlineMs !== undefined) restored.deadlineInMs = Math.max(0, s.deadlineMs - Math.max(0, now - s.at));
      tasks.push({
        id: s.id,
        kind: s.kind,
        input: s.input,
        requires: s.requires,
        priority: s.priority,
        timeoutMs: s.timeoutMs,
        retries: s.retries,
        ...(s.deadlineMs !== undefined ? { deadlineMs: s.deadlineMs } : {}),
        restored,
      });
    }
    const saved = loaded.state as (PersistedHive & { savedAt?: number }) | undefined;
    const state = saved !== undefined && saved !== null && saved.version === 1 ? saved : undefined;
    const deadLetters = dead.slice(-DEAD_LETTER_LIMIT).map((r) => deadLetterOf(r, hiveNow - Math.max(0, now - r.at)));
    return { tasks, state, stateAgeMs: state?.savedAt !== undefined ? Math.max(0, now - state.savedAt) : 0, skipped: loaded.skipped, abandoned, deadLetters };
  }

  /** Whether `id` is a task taken back from the journal that has not ended yet. */
  isResumed(id: string): boolean {
    return this.#resumed.size > 0 && this.#resumed.has(id);
  }

  /**
   * A finished task runs again under its id (`retryDeadLetter`): its kept result is dropped, so
   * `result(id)` waits for the new run.
   */
  reopened(id: string): void {
    this.#results.delete(id);
    this.#olderResults.delete(id);
  }

  /** The task holding idempotency key `key`, open or finished and kept. */
  keyHolder(key: string): string | undefined {
    return this.#keys.get(key);
  }

  /** A task was submitted (before it reaches the Queen). */
  submitted(spec: TaskSpec, key: string | undefined): void {
    this.ids.saw(spec.id);
    if (key !== undefined) {
      this.#keys.set(key, spec.id);
      this.#openKeys.set(spec.id, key);
    }
    this.journal?.append({
      o: "s",
      id: spec.id,
      kind: spec.kind,
      input: spec.input,
      requires: spec.requires,
      priority: spec.priority,
      timeoutMs: spec.timeoutMs,
      retries: spec.retries,
      ...(spec.deadlineMs !== undefined ? { deadlineMs: spec.deadlineMs } : {}),
      ...(key !== undefined ? { key } : {}),
      at: Date.now(),
    });
  }

  /**
   * Records a lifecycle event. Returns true when it ended a task. `stopping`: cancellations
   * caused by `stop()` are not written, so the next hive with `recover: true` resumes those tasks.
   */
  observe(event: LifecycleEvent, stopping: boolean): boolean {
    const journal = this.journal;
    if (event.type === "task.started") {
      journal?.append({ o: "a", id: event.taskId, n: event.attempt });
      return false;
    }
    if (event.type === "task.retrying") {
      journal?.append({ o: "w", id: event.taskId, n: event.attempt, due: Date.now() + event.retryInMs });
      return false;
    }
    const state = TERMINAL[event.type];
    if (state === undefined) return false;
    const e = event as Extract<LifecycleEvent, { taskId: string; kind: string }> & { attempts?: number; value?: unknown; error?: Error };
    const key = this.#openKeys.get(e.taskId);
    this.#openKeys.delete(e.taskId);
    if (this.#resumed.size > 0) this.#resumed.delete(e.taskId);
    const record: EndRecord = { o: "e", id: e.taskId, kind: e.kind, s: state, n: e.attempts ?? 0, at: Date.now() };
    if (state === "completed") record.v = e.value;
    if (e.error !== undefined) record.err = errorOf(e.error);
    if (key !== undefined) record.key = key;
    if (event.type === "task.deadLettered") {
      // What `retryDeadLetter` needs after a restart.
      const t = event.task;
      record.t = { input: t.input, requires: t.requires, priority: t.priority, timeoutMs: t.timeoutMs, retries: t.retries };
      if (event.agentId !== undefined) record.ag = event.agentId;
    }
    if (stopping && state === "cancelled") {
      // Not an outcome: the task stays open in the journal for the next run.
      return true;
    }
    if (key !== undefined && this.#keys.get(key) === e.taskId && state !== "completed" && state !== "failed" && state !== "deadLettered") this.#keys.delete(key);
    this.#remember(e.taskId, record);
    journal?.append(record);
    return true;
  }

  #remember(id: string, r: EndRecord): void {
    // Rejected tasks are kept regardless: `handle.accepted` asked late must still reject.
    if (this.#maxResults === 0 || (!this.#keepAll && r.key === undefined && r.s !== "rejected")) {
      this.#notify(id, r);
      return;
    }
    if (this.#results.size >= Math.max(1, Math.ceil(this.#maxResults / 2))) {
      for (const [oldId, old] of this.#olderResults) {
        if (old.key !== undefined && this.#keys.get(old.key) === oldId && !this.#results.has(oldId)) this.#keys.delete(old.key);
      }
      this.#olderResults = this.#results;
      this.#results = new Map();
    }
    this.#olderResults.delete(id);
    this.#results.set(id, r);
    this.#notify(id, r);
  }

  #notify(id: string, r: EndRecord): void {
    const waiting = this.#waiting.get(id);
    if (waiting !== undefined) {
      this.#waiting.delete(id);
      const result = toResult(r);
      for (const fn of waiting) fn(result);
    }
  }

  /** How a finished task ended, or undefined. */
  finished(id: string): TaskResult | undefined {
    const r = this.#results.get(id) ?? this.#olderResults.get(id);
    return r === undefined ? undefined : toResult(r);
  }

  /** Resolves when the open task `id` ends (under `every-task`, once its end is written). */
  whenFinished(id: string): Promise<TaskResult> {
    const ended = new Promise<TaskResult>((resolve) => {
      const list = this.#waiting.get(id);
      if (list === undefined) this.#waiting.set(id, [resolve]);
      else list.push(resolve);
    });
    const journal = this.journal;
    return journal?.durability === "every-task" ? ended.then(async (r) => (await journal.written(), r)) : ended;
  }

  /** A clean stop: the attempts running now did not die with the process. */
  stoppedCleanly(ids: Iterable<string>): void {
    const journal = this.journal;
    if (journal === undefined) return;
    for (const id of ids) journal.append({ o: "x", id });
  }

  /** Saves the Queen's and Supervisor's state beside the journal. */
  saveState(state: PersistedHive): void {
    this.journal?.saveState({ ...state, savedAt: Date.now() });
  }

  stats(): JournalStats | null {
    return this.journal?.stats() ?? null;
  }

  /** Writes how far generated ids went (the next run carries on from there) and closes the journal. */
  async close(): Promise<void> {
    if (this.journal !== undefined && this.ids.journaled) this.journal.append({ o: "i", n: this.ids.last });
    await this.journal?.close();
  }
}

/** The journal's storage for the hive's `store` option. */
function journalLog(store: unknown): JournalLog {
  if (store === undefined || store === null) return new FileJournalLog(DEFAULT_JOURNAL_DIR);
  const s = store as Partial<Store> & { dir?: unknown };
  if (typeof s.getMany !== "function" && typeof s.dir === "string") return new FileJournalLog(join(s.dir, "journal"));
  if (s.kind === "file" && typeof s.dir === "string") return new FileJournalLog(join(s.dir, "journal"));
  return new StoreJournalLog(store as Store);
}

function errorOf(error: Error): JournalError {
  return { name: error.name, code: (error as { code?: string }).code ?? "TASK_FAILED", message: error.message };
}

/** A journaled dead letter as the Queen's event, `at` on the hive clock. */
function deadLetterOf(r: Omit<EndRecord, "o">, at: number): DeadLetterEvent {
  const t = r.t ?? { input: undefined, requires: {}, priority: "normal", timeoutMs: 0, retries: 0 };
  const error = errorFromResult(toResult(r));
  return { type: "task.deadLettered", taskId: r.id, kind: r.kind, agentId: r.ag, attempts: r.n, error, task: { id: r.id, kind: r.kind, ...t }, at };
}

function toResult(r: Omit<EndRecord, "o">): TaskResult {
  return { id: r.id, kind: r.kind, state: r.s, ...(r.s === "completed" ? { value: r.v } : {}), ...(r.err !== undefined ? { error: r.err } : {}), attempts: r.n, finishedAt: r.at };
}

/** The error a finished task's caller gets, rebuilt from its record. */
export function errorFromResult(r: TaskResult): ApiaryError {
  const e = new ApiaryError((r.error?.code ?? "TASK_FAILED") as ApiaryErrorCode, r.error?.message ?? `Task ${r.id} ended ${r.state}`, { taskId: r.id });
  e.name = r.error?.name ?? "ApiaryError";
  return e;
}
