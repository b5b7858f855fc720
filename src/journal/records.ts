/**
 * Journal records: one line of JSON per task transition, framed with a CRC-32 so a torn or
 * damaged line is recognised, and the fold that turns a sequence of records into what a
 * recovering hive needs (unfinished tasks with their attempt counts and retry deadlines,
 * finished results, idempotency keys).
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
  at: number;
}

/** One journal record. */
export type JournalRecord = SubmitRecord | AttemptRecord | WaitRecord | EndRecord | StoppedRecord;

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
    const r = JSON.parse(json) as JournalRecord;
    if (r === null || typeof r !== "object" || typeof r.id !== "string" || !["s", "a", "w", "e", "x"].includes(r.o)) return "unknown record";
    return r;
  } catch {
    return "checksum matches but the JSON does not parse";
  }
}

/**
 * What the journal knows: open tasks, ended tasks (bounded by the retention), idempotency keys.
 * Records are applied in journal order.
 */
export class JournalIndex {
  /** Accepted and not ended, by id. */
  readonly open = new Map<string, OpenTask>();
  /** Ended, by id, oldest first. */
  readonly ended = new Map<string, EndRecord>();
  /** Idempotency key → task id (open, or ended and retained). */
  readonly keys = new Map<string, string>();

  apply(r: JournalRecord): void {
    switch (r.o) {
      case "s":
        if (this.open.has(r.id)) return;
        this.ended.delete(r.id); // an id reused after it ended
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
    for (const r of this.ended.values()) yield r;
    for (const t of this.open.values()) {
      yield t.submit;
      if (t.attempt > 0) yield { o: "a", id: t.submit.id, n: t.attempt, c: t.starts };
      if (t.wait !== undefined) yield { o: "w", id: t.submit.id, n: t.wait.n, due: t.wait.due };
    }
  }
}
