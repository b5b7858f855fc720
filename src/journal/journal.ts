/**
 * The task journal: every task transition, written to a {@link JournalLog} under a durability
 * policy, compacted so it does not grow without bound, and read back on recovery.
 *
 * Writes are group commits: records appended while a write is under way go out together in the
 * next one, so one fsync covers every task that finished in the meantime.
 *
 * @module
 */
import type { JournalLog, LoadedJournal } from "./log.ts";
import { JournalIndex, type JournalRecord } from "./records.ts";

/**
 * How hard the journal works to keep a task across a crash:
 * - `none`: no journal; a restart recovers nothing.
 * - `batched`: records are written (and fsynced) in groups at most `flushMs` apart; nothing waits
 *   for the disk. A crash loses the transitions of the last `flushMs` at most.
 * - `every-task`: write-ahead: a task is dispatched only once its acceptance is on disk, and its
 *   result delivered only once its end is.
 */
export type Durability = "none" | "batched" | "every-task";

/** Tuning of the journal. */
export interface JournalTuning {
  /** `batched`: longest wait before buffered records are written, ms. */
  flushMs: number;
  /** Ended tasks older than this are dropped at compaction, ms. */
  retentionMs: number;
  /** At most this many ended tasks are kept (oldest dropped first). */
  maxResults: number;
  /** Compact after this many records have been appended. */
  compactEvery: number;
}

/** A line or group the journal could not read back. */
export interface JournalSkip {
  file: string;
  offset: number;
  bytes: number;
  reason: string;
}

/** Figures of a journal. */
export interface JournalStats {
  durability: Durability;
  /** Where it lives. */
  where: string;
  /** Records written since start. */
  written: number;
  /** Group writes (each one fsync). */
  writes: number;
  compactions: number;
  /** Tasks open in it, counting records appended and not written yet (an end the caller has heard of). */
  open: number;
  /** Ended tasks it retains. */
  ended: number;
}

/** `batched`: a buffer this full is written without waiting for `flushMs`. */
const BATCH_RECORDS = 4_096;

/** The journal of one hive. */
export class Journal {
  readonly durability: Exclude<Durability, "none">;
  /** What the journal has written: open tasks, retained results, keys. Updated as writes land. */
  readonly index = new JournalIndex();
  readonly #log: JournalLog;
  readonly #tuning: JournalTuning;
  readonly #now: () => number;
  /** Appended and not yet handed to the log, with the callbacks waiting on them. */
  #pending: JournalRecord[] = [];
  /** Handed to the log and not yet applied to the index (empty between writes). */
  #writing: readonly JournalRecord[] = [];
  #callbacks: (() => void)[] = [];
  /** The write under way, if any; every log call goes through it, one at a time. */
  #chain: Promise<void> = Promise.resolve();
  #busy = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sinceCompact = 0;
  /** Records the last compaction wrote. */
  #lastSnapshot = 0;
  #state: unknown;
  #stateDirty = false;
  #failure: unknown;
  /** `close()` was called: what is buffered goes out now, not after `flushMs`. */
  #closing = false;
  #closed = false;
  #written = 0;
  #inflightCallbacks = 0;
  #writes = 0;
  #compactions = 0;

  constructor(log: JournalLog, durability: Exclude<Durability, "none">, tuning: JournalTuning, now: () => number = Date.now) {
    this.#log = log;
    this.durability = durability;
    this.#tuning = tuning;
    this.#now = now;
  }

  /**
   * Reads the journal back, drops what the retention no longer keeps, and compacts. With
   * `keep: false` the old journal is read (to report damage) but its tasks are discarded; how
   * far generated ids went is kept either way. `reserveIds` is told that figure and returns the
   * id this run reserves up to, which goes into the snapshot compaction writes anyway.
   */
  async open(keep = true, reserveIds?: (lastId: number) => number): Promise<LoadedJournal> {
    const loaded = await this.#log.load();
    if (keep) { for (const r of loaded.records) this.index.apply(r); }
    else this.index.applyIds(loaded.records);
    if (reserveIds !== undefined) this.index.apply({ o: "i", n: reserveIds(this.index.lastId) });
    this.index.prune(this.#now() - this.#tuning.retentionMs, this.#tuning.maxResults);
    // Start from one snapshot: a torn tail and old segments are gone from here on.
    await this.#log.compact(this.index.records());
    return loaded;
  }

  /** Queues a record; `batched` writes it within `flushMs`, `every-task` at once. */
  append(record: JournalRecord): void {
    this.#pending.push(record);
    this.#schedule();
  }

  /** Calls `fn` once every record appended so far is written (and fsynced). */
  afterWrite(fn: () => void): void {
    if (this.#pending.length === 0 && !this.#busy) {
      fn();
      return;
    }
    this.#callbacks.push(fn);
    this.#schedule();
  }

  /** Callers waiting for a write. */
  get pendingCallbacks(): number {
    return this.#callbacks.length + this.#inflightCallbacks;
  }

  /** Resolves once every record appended so far is written. */
  written(): Promise<void> {
    return new Promise((resolve) => this.afterWrite(resolve));
  }

  /** Saves the actors' state after the records appended so far (the newest save wins). */
  saveState(state: unknown): void {
    this.#state = state;
    this.#stateDirty = true;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#busy || this.#closed) return;
    // A full buffer goes out at once: under a burst that never yields to timers the loss window
    // stays bounded in records, not only in time.
    if (this.durability === "every-task" || this.#closing || this.#pending.length >= BATCH_RECORDS) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#busy = true;
      queueMicrotask(this.#write);
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#write, this.#tuning.flushMs);
    }
  }

  readonly #write = (): void => {
    this.#timer = undefined;
    this.#busy = true;
    const batch = this.#pending;
    const callbacks = this.#callbacks;
    const state = this.#stateDirty ? this.#state : undefined;
    this.#pending = [];
    this.#callbacks = [];
    this.#inflightCallbacks += callbacks.length;
    this.#stateDirty = false;
    this.#chain = this.#chain.then(async () => {
      try {
        if (batch.length > 0) {
          this.#writing = batch;
          await this.#log.append(batch, true);
          this.#writes++;
          this.#written += batch.length;
          this.#sinceCompact += batch.length;
          for (const r of batch) this.index.apply(r);
          this.#writing = [];
        }
        if (state !== undefined) await this.#log.saveState(state);
        // Compaction rewrites what is kept; doing it only once the log has grown by twice that
        // keeps its cost per record constant however many results are retained.
        if (this.#sinceCompact >= Math.max(this.#tuning.compactEvery, 2 * this.#lastSnapshot)) await this.#compact();
      } catch (error) {
        this.#writing = [];
        // The disk failed: callers are still answered (the task itself went fine), and the
        // failure is reported by `close()` and `failure`.
        this.#failure ??= error;
      }
      this.#inflightCallbacks -= callbacks.length;
      for (const fn of callbacks) fn();
      this.#busy = false;
      if (this.#pending.length > 0 || this.#callbacks.length > 0 || this.#stateDirty) {
        if (this.durability === "every-task" || this.#closed) {
          this.#busy = true;
          queueMicrotask(this.#write);
        } else this.#schedule();
      }
    });
  };

  async #compact(): Promise<void> {
    this.#sinceCompact = 0;
    this.index.prune(this.#now() - this.#tuning.retentionMs, this.#tuning.maxResults);
    // Taken before any later batch is applied: the snapshot is exactly what the sealed segments held.
    const records = [...this.index.records()];
    this.#lastSnapshot = records.length;
    await this.#log.compact(records);
    this.#compactions++;
  }

  /** The first write error, if the disk failed. */
  get failure(): unknown {
    return this.#failure;
  }

  stats(): JournalStats {
    return { durability: this.durability, where: this.#log.where, written: this.#written, writes: this.#writes, compactions: this.#compactions, open: this.#openCount(), ended: this.index.ended.size };
  }

  /**
   * Open tasks once the records on their way to disk are applied: the index alone lags behind
   * what callers have been told by up to a write (`batched`: `flushMs`).
   */
  #openCount(): number {
    let open = this.index.open.size;
    if (this.#writing.length === 0 && this.#pending.length === 0) return open;
    const changed = new Map<string, boolean>();
    const isOpen = (id: string): boolean => changed.get(id) ?? this.index.open.has(id);
    for (const batch of [this.#writing, this.#pending]) {
      for (const r of batch) {
        if (r.o === "s" && !isOpen(r.id)) {
          changed.set(r.id, true);
          open++;
        } else if (r.o === "e" && isOpen(r.id)) {
          changed.set(r.id, false);
          open--;
        }
      }
    }
    return open;
  }

  /** Writes what is queued and closes the log. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    await this.written();
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#chain;
    await this.#log.close();
  }
}
