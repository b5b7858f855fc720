/**
 * Where journal records go: append-only files ({@link FileJournalLog}) for the file store, or
 * keys of any other store ({@link StoreJournalLog}).
 *
 * @module
 */
import type { Store } from "../store/types.ts";
import type { BadLine, JournalRecord } from "./records.ts";

/** A journal read back: its records in order, the lines it had to skip, the saved actor state. */
export interface LoadedJournal {
  records: JournalRecord[];
  skipped: (BadLine & { file: string })[];
  state: unknown;
}

/** Storage under a journal. Calls are made one at a time (the journal serialises them). */
export interface JournalLog {
  /** Where it lives, for messages. */
  readonly where: string;
  /** Bytes appended since the last compaction. */
  readonly bytes: number;
  /** Reads everything back and readies appends. Called once, first. */
  load(): Promise<LoadedJournal>;
  /** Appends records; with `sync`, resolves once they are on disk. */
  append(records: readonly JournalRecord[], sync: boolean): Promise<void>;
  /** Replaces everything appended so far with `records` (durably), then drops the old data. */
  compact(records: Iterable<JournalRecord>): Promise<void>;
  /** Saves the Queen's and Supervisor's state (replacing the previous one). */
  saveState(state: unknown): Promise<void>;
  close(): Promise<void>;
}

const PREFIX = "journal~";

/**
 * A journal in any store: each append is one key (`journal~g~<n>`, a group of records), a
 * compaction one snapshot key (`journal~snap~<n>`) replacing the groups up to it. Store writes
 * are whole or absent, so nothing is torn here; a group that fails to decode is skipped and
 * reported like a torn line.
 */
export class StoreJournalLog implements JournalLog {
  readonly where: string;
  readonly #store: Store;
  #next = 0;
  #bytes = 0;

  constructor(store: Store) {
    this.#store = store;
    this.where = `${store.kind} store`;
  }

  get bytes(): number {
    return this.#bytes;
  }

  async load(): Promise<LoadedJournal> {
    const keys = (await this.#store.keys()).filter((k) => k.startsWith(PREFIX));
    const num = (k: string): number => Number(k.slice(k.lastIndexOf("~") + 1));
    const snaps = keys.filter((k) => k.startsWith(`${PREFIX}snap~`)).sort((a, b) => num(a) - num(b));
    const groups = keys.filter((k) => k.startsWith(`${PREFIX}g~`)).sort((a, b) => num(a) - num(b));
    const snap = snaps.at(-1);
    const base = snap === undefined ? -1 : num(snap);
    const records: JournalRecord[] = [];
    const skipped: LoadedJournal["skipped"] = [];
    for (const key of [...(snap !== undefined ? [snap] : []), ...groups.filter((k) => num(k) > base)]) {
      try {
        const value = await this.#store.get<JournalRecord[]>(key);
        if (!Array.isArray(value)) throw new Error("not a record group");
        records.push(...value);
      } catch (error) {
        skipped.push({ file: `${this.where}, key ${key}`, offset: 0, bytes: 0, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    this.#next = Math.max(base, ...groups.map(num)) + 1;
    return { records, skipped, state: await this.#store.get(`${PREFIX}state`).catch(() => undefined) };
  }

  async append(records: readonly JournalRecord[], sync: boolean): Promise<void> {
    const key = `${PREFIX}g~${String(this.#next++).padStart(12, "0")}`;
    await this.#store.set(key, records);
    this.#bytes += records.length * 64;
    if (sync) await this.#store.flush();
  }

  async compact(records: Iterable<JournalRecord>): Promise<void> {
    const sealed = this.#next++;
    await this.#store.set(`${PREFIX}snap~${String(sealed).padStart(12, "0")}`, [...records]);
    await this.#store.flush();
    this.#bytes = 0;
    const num = (k: string): number => Number(k.slice(k.lastIndexOf("~") + 1));
    for (const k of await this.#store.keys()) {
      if ((k.startsWith(`${PREFIX}g~`) || k.startsWith(`${PREFIX}snap~`)) && num(k) < sealed) await this.#store.del(k);
    }
  }

  async saveState(state: unknown): Promise<void> {
    await this.#store.set(`${PREFIX}state`, state);
  }

  async close(): Promise<void> {
    await this.#store.flush();
  }
}
