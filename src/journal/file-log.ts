/**
 * The journal on disk: append-only segment files of framed lines in one folder, plus snapshot
 * files that replace every segment up to theirs once compaction has written them.
 *
 * ```
 * <dir>/00000003.snap   the index as of the end of segment 3 (written to a temp file, fsynced, renamed)
 * <dir>/00000004.log    appended since
 * <dir>/00000005.log    the active segment
 * <dir>/state.json      the Queen's and Supervisor's saved state (temp file + rename)
 * ```
 *
 * Recovery loads the newest snapshot, then every later segment in order. A line that is torn
 * (the process died mid-write) or fails its checksum is skipped and reported with its file and
 * byte offset; everything else is kept.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type FileHandle, mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { JournalLog, LoadedJournal } from "./log.ts";
import { frame, type JournalRecord, unframe } from "./records.ts";

const SEGMENT = /^(\d{8})\.log$/;
const SNAPSHOT = /^(\d{8})\.snap$/;

function name(n: number, ext: "log" | "snap"): string {
  return `${String(n).padStart(8, "0")}.${ext}`;
}

/** Append-only journal files in `dir`. */
export class FileJournalLog implements JournalLog {
  readonly where: string;
  readonly #dir: string;
  // The active segment: its number and open handle (append mode); undefined before `load`.
  #segment = 0;
  #handle: FileHandle | undefined;
  #bytes = 0;

  constructor(dir: string) {
    this.#dir = dir;
    this.where = dir;
  }

  get bytes(): number {
    return this.#bytes;
  }

  async load(): Promise<LoadedJournal> {
    await mkdir(this.#dir, { recursive: true });
    const names = await readdir(this.#dir);
    const snaps = names.flatMap((n) => (SNAPSHOT.exec(n) ? [Number(SNAPSHOT.exec(n)![1])] : [])).sort((a, b) => a - b);
    const segs = names.flatMap((n) => (SEGMENT.exec(n) ? [Number(SEGMENT.exec(n)![1])] : [])).sort((a, b) => a - b);
    const records: JournalRecord[] = [];
    const skipped: LoadedJournal["skipped"] = [];
    let base = 0;
    const snap = snaps.at(-1);
    if (snap !== undefined) {
      const file = join(this.#dir, name(snap, "snap"));
      const { records: r, bad } = unframe(await readFile(file, "utf8"));
      for (const b of bad) skipped.push({ file, ...b });
      records.push(...r);
      base = snap;
    }
    for (const n of segs) {
      if (n <= base) continue;
      const file = join(this.#dir, name(n, "log"));
      const { records: r, bad } = unframe(await readFile(file, "utf8"));
      for (const b of bad) skipped.push({ file, ...b });
      records.push(...r);
    }
    let state: unknown;
    try {
      state = JSON.parse(await readFile(join(this.#dir, "state.json"), "utf8"));
    } catch {
      state = undefined;
    }
    // New appends go to a fresh segment: a torn tail stays where it is until compaction drops it.
    this.#segment = Math.max(base, segs.at(-1) ?? 0) + 1;
    this.#handle = await open(join(this.#dir, name(this.#segment, "log")), "a");
    this.#bytes = 0;
    return { records, skipped, state };
  }

  async append(records: readonly JournalRecord[], sync: boolean): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) throw new Error("journal not loaded");
    let text = "";
    for (const r of records) text += frame(r);
    const buffer = Buffer.from(text, "utf8");
    let written = 0;
    while (written < buffer.length) written += (await handle.write(buffer, written, buffer.length - written)).bytesWritten;
    this.#bytes += buffer.length;
    if (sync) await handle.datasync();
  }

  async compact(records: Iterable<JournalRecord>): Promise<void> {
    const sealed = this.#segment;
    // Later appends go to the next segment; the snapshot covers every segment up to `sealed`.
    await this.#handle?.close();
    this.#segment = sealed + 1;
    this.#handle = await open(join(this.#dir, name(this.#segment, "log")), "a");
    this.#bytes = 0;
    let text = "";
    for (const r of records) text += frame(r);
    await this.#writeAtomic(name(sealed, "snap"), text);
    for (const n of await readdir(this.#dir)) {
      const seg = SEGMENT.exec(n);
      const snap = SNAPSHOT.exec(n);
      if ((seg && Number(seg[1]) <= sealed) || (snap && Number(snap[1]) < sealed)) await unlink(join(this.#dir, n)).catch(() => {});
    }
  }

  async saveState(state: unknown): Promise<void> {
    await this.#writeAtomic("state.json", JSON.stringify(state));
  }

  /** Temp file, fsync, rename, fsync the folder: the file is whole or absent. */
  async #writeAtomic(file: string, text: string): Promise<void> {
    const tmp = join(this.#dir, `${file}.${process.pid}.tmp`);
    const h = await open(tmp, "w");
    try {
      await h.writeFile(text, "utf8");
      await h.sync();
    } finally {
      await h.close();
    }
    await rename(tmp, join(this.#dir, file));
    await syncDir(this.#dir);
  }

  async close(): Promise<void> {
    const h = this.#handle;
    this.#handle = undefined;
    if (h !== undefined) {
      await h.datasync().catch(() => {});
      await h.close();
    }
  }
}

/** fsync a folder so a rename in it survives a power cut (not possible on every platform). */
async function syncDir(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, "r");
    await h.sync();
  } catch {
    // Windows and some file systems refuse to open or fsync a directory; the rename still happened.
  } finally {
    await h?.close().catch(() => {});
  }
}
