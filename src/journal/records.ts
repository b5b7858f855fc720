/**
 * Journal records: one line of JSON per task transition, framed with a CRC-32 so a torn or
 * damaged line is recognised, and the fold that turns a sequence of records into what a
 * recovering hive needs (unfinished tasks with their attempt counts and retry deadlines,
 * finished results, idempotency keys, dead letters, the highest generated task id).
 *
 * Times in records are wall-clock epoch ms (`Date.now()`): the hive clock starts over with
 * every process, the wall clock does not.
 *
 * @module
 */
import { crc32 as zlibCrc32 } from "node:zlib";
import type { TaskSpec } from "../../actors/queen.ts";

/** The terminal states a journal records. */
export type EndState = "completed" | "failed" | "cancelled" | "deadLettered" | "shed" | "rejected";

/** An error as the journal keeps it. */
export interface JournalError {
  name: string;
  code: string;
  message: string;
}

/** A task was accepted (written before it is dispatched under `every-task`). */
export interface SubmitRecord extends Omit<TaskSpec, "restored"> {
  o: "s";
  key?: string;
  at: number;
}

/** Attempt `n` of a task started (`c`: in a compacted journal, how many times it has started). */
export interface AttemptRecord {
  o: "a";
  id: string;
  n: number;
  c?: number;
}

/** A hive stopped cleanly while the task's attempt ran: that start was not a crash. */
export interface StoppedRecord {
  o: "x";
  id: string;
}

/** A task waits out a retry backoff until `due` (epoch ms) before attempt `n`. */
export interface WaitRecord {
  o: "w";
  id: string;
  n: number;
  due: number;
}

/** What `retryDeadLetter` needs of a dead-lettered task besides its id and kind. */
export type DeadTask = Pick<SubmitRecord, "input" | "requires" | "priority" | "timeoutMs" | "retries">;

/** A task ended. `kind` and `key` are repeated so a compacted journal needs no submit record. */
export interface EndRecord {
  o: "e";
  id: string;
  kind: string;
  s: EndState;
  /** Attempts it took. */
  n: number;
  v?: unknown;
  err?: JournalError;
  key?: string;
  /** Dead-lettered: the task, so it can be retried after a restart. */
  t?: DeadTask;
  /** Dead-lettered: the agent of its last attempt. */
  ag?: string;
  at: number;
}

/**
 * A dead letter whose result is no longer kept (past `retentionMs` or `maxResults`): written by
 * compaction only, so `deadLetters()` outlives `result(id)`.
 */
export interface DeadLetterRecord extends Omit<EndRecord, "o"> {
  o: "d";
}

/**
 * Generated ids up to `t<n>` may have been handed out: the next run starts above `n`. A run
 * reserves ahead of what it hands out (see `TaskIds`) and writes the exact figure at a clean stop.
 */
export interface IdsRecord {
  o: "i";
  n: number;
}

/** One journal record. */
export type JournalRecord = SubmitRecord | AttemptRecord | WaitRecord | EndRecord | StoppedRecord | DeadLetterRecord | IdsRecord;

/** Dead letters a journal keeps (as the hive does): the newest 10,000. */
export const DEAD_LETTER_LIMIT = 10_000;

/** A task accepted and not ended, as recovery finds it. */
export interface OpenTask {
  submit: SubmitRecord;
  /** The last attempt that started (0: none yet). */
  attempt: number;
  /** Set while it waits out a retry backoff: the attempt it waits for and when (epoch ms). */
  wait: { n: number; due: number } | undefined;
  /** Times `attempt` started with no end and no clean stop: each one a process that died with it. */
  starts: number;
}

/** CRC-32 (IEEE) of a string's UTF-8 bytes: zlib's (Node >= 20.15, Deno). */
export function crc32(text: string): number {
  return zlibCrc32(text);
}

/** One framed line: `crc32-hex8 json\n`. */
export function frame(record: JournalRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, "0")} ${json}\n`;
}

/** A line that could not be read back. */
export interface BadLine {
  /** Byte offset of the line in its file. */
  offset: number;
  /** Bytes skipped. */
  bytes: number;
  reason: string;
}

/**
 * Reads framed lines. A line whose checksum does not match, that is not JSON, or the last line
 * when it has no newline (a torn write) is skipped and reported; the lines around it are kept.
 */
export function unframe(text: string): { records: JournalRecord[]; bad: BadLine[] } {
  const records: JournalRecord[] = [];
  const bad: BadLine[] = [];
  let pos = 0;
  let offset = 0; // bytes, for messages
  const encoder = new TextEncoder();
  while (pos < text.length) {
    const nl = text.indexOf("\n", pos);
    const end = nl === -1 ? text.length : nl;
    const line = text.slice(pos, end);
    const bytes = encoder.encode(line).length + (nl === -1 ? 0 : 1);
    if (nl === -1) {
      bad.push({ offset, bytes, reason: "torn record (no end of line)" });
    } else if (line.length > 0) {
      const record = parseLine(line);
      if (typeof record === "string") bad.push({ offset, bytes, reason: record });
      else records.push(record);
    }
    offset += bytes;
    pos = end + 1;
  }
  return { records, bad };
}

function parseLine(line: string): JournalRecord | string {
  if (line.length < 10 || line[8] !== " ") return "malformed record";
  const json = line.slice(9);
  const sum = Number.parseInt(line.slice(0, 8), 16);
  if (!Number.isFinite(sum) || sum !== crc32(json)) return "checksum mismatch";
  try {
    const r = JSON.parse(json) as JournalRecord | null;
    if (r === null || typeof r !== "object") return "unknown record";
    if (r.o === "i") return typeof r.n === "number" ? r : "unknown record";
    if (typeof r.id !== "string" || !["s", "a", "w", "e", "x", "d"].includes(r.o)) return "unknown record";
    return r;
  } catch {
    return "checksum matches but the JSON does not parse";
  }
}

/** The number of a generated-shape id (`t<n>`, no leading zero), else 0. */
export function generatedNumber(id: string): number {
  if (id.charCodeAt(0) !== 116 || id.length > 16) return 0;
  const n = Number(id.slice(1));
  return Number.isSafeInteger(n) && n > 0 && `t${n}` === id ? n : 0;
}

/**
 * What the journal knows: open tasks, ended tasks (bounded by the retention), idempotency keys,
 * dead letters (the newest {@link DEAD_LETTER_LIMIT}, however old), and how far generated ids
 * have gone. Records are applied in journal order.
 */
export class JournalIndex {
  /** Accepted and not ended, by id. */
  readonly open = new Map<string, OpenTask>();
  /** Ended, by id, oldest first. */
  readonly ended = new Map<string, EndRecord>();
  /** Idempotency key → task id (open, or ended and retained). */
  readonly keys = new Map<string, string>();
  /** Dead-lettered and not submitted again since, by id, oldest first; at most DEAD_LETTER_LIMIT. */
  readonly dead = new Map<string, Omit<EndRecord, "o">>();
  /** The last `i` record's figure: it may lower an earlier reservation (a clean stop). */
  #idMark = 0;
  /** The highest `t<n>` among the ids of every record applied. */
  #idSeen = 0;

  /** No generated id at or below `t<lastId>` may be handed out again. */
  get lastId(): number {
    return Math.max(this.#idMark, this.#idSeen);
  }

  #see(id: string): void {
    const n = generatedNumber(id);
    if (n > this.#idSeen) this.#idSeen = n;
  }

  /** Takes only the ids of `records` into account (a journal whose tasks are discarded). */
  applyIds(records: Iterable<JournalRecord>): void {
    for (const r of records) {
      if (r.o === "i") this.#idMark = r.n;
      else this.#see(r.id);
    }
  }

  #deadLetter(r: Omit<EndRecord, "o">): void {
    this.dead.delete(r.id);
    this.dead.set(r.id, r);
    if (this.dead.size > DEAD_LETTER_LIMIT) this.dead.delete(this.dead.keys().next().value!);
  }

  apply(r: JournalRecord): void {
    switch (r.o) {
      case "i":
        this.#idMark = r.n;
        return;
      case "d":
        this.#see(r.id);
        this.#deadLetter(r);
        return;
      case "s":
        this.#see(r.id);
        if (this.open.has(r.id)) return;
        this.ended.delete(r.id); // an id reused after it ended
        this.dead.delete(r.id); // a dead letter submitted again (`retryDeadLetter`)
        this.open.set(r.id, { submit: r, attempt: 0, wait: undefined, starts: 0 });
        if (r.key !== undefined) this.keys.set(r.key, r.id);
        return;
      case "a": {
        const t = this.open.get(r.id);
        if (t === undefined) return;
        if (r.n > t.attempt) t.starts = 0;
        t.attempt = Math.max(t.attempt, r.n);
        t.starts = r.c ?? t.starts + 1;
        t.wait = undefined;
        return;
      }
      case "x": {
        const t = this.open.get(r.id);
        if (t !== undefined) t.starts = 0;
        return;
      }
      case "w": {
        const t = this.open.get(r.id);
        if (t !== undefined) t.wait = { n: r.n, due: r.due };
        return;
      }
      case "e": {
        this.#see(r.id);
        if (r.s === "deadLettered" && r.t !== undefined) this.#deadLetter(r);
        const t = this.open.get(r.id);
        this.open.delete(r.id);
        const key = r.key ?? t?.submit.key;
        // Keys of tasks that never ran to an outcome are free to use again.
        const keep = r.s === "completed" || r.s === "failed" || r.s === "deadLettered";
        if (key !== undefined) {
          if (keep) this.keys.set(key, r.id);
          else if (this.keys.get(key) === r.id) this.keys.delete(key);
        }
        this.ended.delete(r.id);
        this.ended.set(r.id, key !== undefined && r.key === undefined ? { ...r, key } : r);
        return;
      }
    }
  }

  /** Forgets ended tasks older than `before` (epoch ms) and beyond the newest `max`. */
  prune(before: number, max: number): number {
    let dropped = 0;
    for (const [id, r] of this.ended) {
      if (r.at >= before && this.ended.size <= max) break;
      this.ended.delete(id);
      if (r.key !== undefined && this.keys.get(r.key) === id) this.keys.delete(r.key);
      dropped++;
    }
    return dropped;
  }

  /** The records that rebuild this index: what a compacted journal holds. */
  *records(): Generator<JournalRecord> {
    yield { o: "i", n: this.lastId };
    // Dead letters no longer kept as results are older than every kept one: written first, the
    // order of both lists comes back.
    for (const d of this.dead.values()) if (!this.ended.has(d.id)) yield { ...d, o: "d" };
    for (const r of this.ended.values()) yield r;
    for (const t of this.open.values()) {
      yield t.submit;
      if (t.attempt > 0) yield { o: "a", id: t.submit.id, n: t.attempt, c: t.starts };
      if (t.wait !== undefined) yield { o: "w", id: t.submit.id, n: t.wait.n, due: t.wait.due };
    }
  }
}
