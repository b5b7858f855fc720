/**
 * The file store: one file per key in a folder, on `node:fs/promises` (Node and Deno alike).
 *
 * Durability: every write goes to a temporary file that is renamed over the record, so a
 * reader never sees half a record; each record carries its length and a SHA-256 of its payload,
 * so a record torn by a power cut or damaged on disk is reported as `STORE_CORRUPT` (naming the
 * file) instead of being read back wrong. The `fsync` policy decides when the data reaches the
 * disk. A corrupt record is never rewritten or deleted by the store on its own: `get` and
 * `update` reject, the other records stay readable, and only an explicit `set`, `del` or
 * `clear` replaces it.
 *
 * One process owns a folder at a time; writes to the same key from this store object are
 * applied in call order.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { clearTimeout, setTimeout } from "node:timers";
import { z } from "zod";
import { StoreError } from "../core/errors.ts";
import { parseOptions, positiveInt } from "../core/validation.ts";
import { type BaseStoreOptions, DEFAULT_MAX_VALUE_BYTES, type Store, type StoreCallOptions } from "./types.ts";
import { decodeValue, encodeValue, validateKey } from "./value.ts";

/**
 * When written data is forced to disk:
 * - `always`: before each write resolves (file and folder fsync). Survives a power cut.
 * - `batched`: a write resolves once renamed into place (safe from a process crash); the files
 *   written are fsynced together at most `batchMs` later, and on `flush()` / `close()`.
 * - `never`: left to the operating system.
 */
export type FsyncPolicy = "always" | "batched" | "never";

/** Options of {@link createFileStore}. */
export interface FileStoreOptions extends BaseStoreOptions {
  /** The folder holding the records; created if missing. */
  dir: string;
  /**
   * When data is forced to disk; see {@link FsyncPolicy}.
   * @default "batched"
   */
  fsync?: FsyncPolicy;
  /**
   * With `fsync: "batched"`, the longest time (milliseconds) a write waits before its fsync.
   * @default 1_000
   */
  batchMs?: number;
  /**
   * Called for each corrupt record `entries()` meets; the record is then skipped. Without it,
   * `entries()` rejects with the first `STORE_CORRUPT` error. `get` always rejects.
   */
  onCorrupt?: (error: StoreError) => void;
}

const schema = z.strictObject({
  dir: z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" }),
  fsync: z.enum(["always", "batched", "never"], { error: 'must be "always", "batched" or "never"' }).optional(),
  batchMs: positiveInt().optional(),
  maxValueBytes: positiveInt().optional(),
  onCorrupt: z.custom<(error: StoreError) => void>((v) => typeof v === "function", { error: "must be a function" }).optional(),
});

/**
 * Creates a durable store in the folder `dir`: the default store on Node and Deno.
 *
 * @throws {InvalidOptionsError} when an option is invalid.
 * @example
 * ```ts
 * const store = createFileStore({ dir: "./.apiary", fsync: "always" });
 * await store.set("journal", { last: 41 });
 * await store.close();
 * ```
 */
export function createFileStore(options: FileStoreOptions): Store {
  const parsed = parseOptions(schema, options, "file store");
  return new FileStore(parsed.dir, parsed.fsync ?? "batched", parsed.batchMs ?? 1_000, parsed.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES, parsed.onCorrupt);
}

const RECORD = ".rec";
const TEMP = ".tmp";
const FORMAT = "apiary-store/1";
// Longest encoded name kept readable; longer ones end in a hash of the key (see fileName).
const MAX_NAME = 180;
// How many files entries(), setMany() and clear() touch at once (keeps file descriptors bounded).
const PARALLEL = 32;

interface Header {
  format: string;
  key: string;
  bytes: number;
  sha256: string;
}

/**
 * The file name of a key: characters outside `[a-z0-9._-]` (capitals included, so that
 * case-insensitive disks cannot merge two keys) are written as `%XX` UTF-8 escapes. Names too
 * long for a disk keep a readable start and end in `~` and a hash of the key.
 */
function fileName(key: string): string {
  let name = "";
  for (const char of key) {
    if (/^[a-z0-9._-]$/.test(char)) name += char;
    else if (char.length === 1 && char.charCodeAt(0) < 0x80) name += `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;
    else name += encodeURIComponent(char);
  }
  if (name.length <= MAX_NAME) return name;
  return `${name.slice(0, 120).replace(/%[0-9A-F]?$/, "")}~${createHash("sha256").update(key).digest("hex").slice(0, 40)}`;
}

function sha256(payload: Uint8Array): string {
  return createHash("sha256").update(payload).digest("hex");
}

function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : undefined;
}

class FileStore implements Store {
  readonly kind = "file";
  /** The folder holding the records (the hive's journal goes in its `journal` subfolder). */
  get dir(): string {
    return this.#dir;
  }
  readonly #dir: string;
  readonly #fsync: FsyncPolicy;
  readonly #batchMs: number;
  readonly #maxValueBytes: number;
  readonly #onCorrupt: ((error: StoreError) => void) | undefined;
  // Distinguishes this object's temporary files from another's.
  readonly #instance = randomBytes(4).toString("hex");
  #tempCounter = 0;
  // Resolves once the folder exists; undefined until first needed.
  #ready: Promise<void> | undefined;
  // Per key, the tail of the queue of operations on it: one runs at a time, in call order.
  readonly #locks = new Map<string, Promise<unknown>>();
  // Record files renamed into place but not yet fsynced (batched policy only).
  #unsynced = new Set<string>();
  // A rename or unlink in the folder awaits the batched folder fsync.
  #dirUnsynced = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  // The fsync batch under way, if any; flush() waits for it.
  #syncing: Promise<void> | undefined;

  constructor(dir: string, fsync: FsyncPolicy, batchMs: number, maxValueBytes: number, onCorrupt: ((error: StoreError) => void) | undefined) {
    this.#dir = dir;
    this.#fsync = fsync;
    this.#batchMs = batchMs;
    this.#maxValueBytes = maxValueBytes;
    this.#onCorrupt = onCorrupt;
  }

  async get<T>(key: string, options?: StoreCallOptions): Promise<T | undefined> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    return this.#read<T>(key, options?.signal);
  }

  async set(key: string, value: unknown, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    const text = encodeValue(key, value, this.#maxValueBytes);
    await this.#exclusive(key, () => this.#write(key, text, options?.signal));
  }

  async del(key: string, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    await this.#exclusive(key, async () => {
      await this.#remove(join(this.#dir, fileName(key) + RECORD));
      if (this.#fsync === "always") await this.#syncDir();
      else if (this.#fsync === "batched") this.#scheduleSync(undefined);
    });
  }

  async update<T>(key: string, updater: (old: T | undefined) => T, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    await this.#exclusive(key, async () => {
      const old = await this.#read<T>(key, options?.signal);
      const text = encodeValue(key, updater(old), this.#maxValueBytes);
      await this.#write(key, text, options?.signal);
    });
  }

  async keys(options?: StoreCallOptions): Promise<string[]> {
    options?.signal?.throwIfAborted();
    const names = await this.#recordNames();
    const keys: string[] = [];
    await this.#each(names, async (name) => {
      const key = await this.#keyOf(name);
      if (key !== undefined) keys.push(key);
    });
    return keys;
  }

  async entries<T>(options?: StoreCallOptions): Promise<[string, T][]> {
    options?.signal?.throwIfAborted();
    const keys = await this.keys(options);
    const out: [string, T][] = [];
    await this.#each(keys, async (key) => {
      options?.signal?.throwIfAborted();
      try {
        const value = await this.#read<T>(key, options?.signal);
        if (value !== undefined) out.push([key, value]);
      } catch (error) {
        if (error instanceof StoreError && error.code === "STORE_CORRUPT" && this.#onCorrupt !== undefined) {
          try {
            this.#onCorrupt(error);
          } catch {
            // a throwing callback must not stop the other records from loading
          }
          return;
        }
        throw error;
      }
    });
    return out;
  }

  async clear(options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    // Writes already asked for land first, so that clear() removes them too.
    await Promise.all([...this.#locks.values()]);
    const names = await this.#recordNames();
    await this.#each(names, (name) => this.#remove(join(this.#dir, name)));
    if (this.#fsync === "always") await this.#syncDir();
    else if (this.#fsync === "batched") this.#scheduleSync(undefined);
  }

  async getMany<T>(keys: readonly string[], options?: StoreCallOptions): Promise<(T | undefined)[]> {
    options?.signal?.throwIfAborted();
    for (const key of keys) validateKey(key);
    const out = new Array<T | undefined>(keys.length);
    await this.#each(keys.map((key, index) => ({ key, index })), async ({ key, index }) => {
      out[index] = await this.#read<T>(key, options?.signal);
    });
    return out;
  }

  async setMany(entries: readonly (readonly [string, unknown])[], options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const encoded = entries.map(([key, value]) => {
      validateKey(key);
      return { key, text: encodeValue(key, value, this.#maxValueBytes) };
    });
    await this.#each(encoded, ({ key, text }) => this.#exclusive(key, () => this.#write(key, text, options?.signal)));
  }

  async flush(options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    await Promise.all([...this.#locks.values()]);
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#syncing !== undefined) await this.#syncing;
    if (this.#unsynced.size > 0 || this.#dirUnsynced) await this.#syncBatch();
  }

  async close(): Promise<void> {
    await this.flush();
  }

  /** Runs `work` after every earlier operation on `key` has settled. */
  #exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const run = previous.then(work);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#locks.set(key, tail);
    void tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return run;
  }

  /** Runs `work` over `items`, at most {@link PARALLEL} at a time. */
  async #each<I>(items: readonly I[], work: (item: I) => Promise<void>): Promise<void> {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < items.length) await work(items[next++] as I);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, lane));
  }

  #ensureDir(): Promise<void> {
    this.#ready ??= mkdir(this.#dir, { recursive: true }).then(
      () => undefined,
      (error: unknown) => {
        this.#ready = undefined;
        throw error;
      },
    );
    return this.#ready;
  }

  async #recordNames(): Promise<string[]> {
    try {
      return (await readdir(this.#dir)).filter((name) => name.endsWith(RECORD));
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw error;
    }
  }

  /** The key a record file holds: from its name, or from its header when the name is hashed. */
  async #keyOf(name: string): Promise<string | undefined> {
    const base = name.slice(0, -RECORD.length);
    if (!base.includes("~")) {
      let key: string;
      try {
        key = decodeURIComponent(base);
      } catch {
        return undefined; // not a name this store writes
      }
      return fileName(key) === base ? key : undefined;
    }
    const file = join(this.#dir, name);
    try {
      const bytes = await readFile(file);
      const newline = bytes.indexOf(0x0a);
      const header = JSON.parse(bytes.subarray(0, newline < 0 ? bytes.length : newline).toString("utf8")) as Partial<Header>;
      if (typeof header.key === "string" && fileName(header.key) === base) return header.key;
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
    }
    // A record whose name cannot be mapped back to a key is reported rather than hidden.
    const error = new StoreError("STORE_CORRUPT", `Corrupt store record ${file}: its header does not name the key its file name stands for`, { file });
    if (this.#onCorrupt === undefined) throw error;
    this.#onCorrupt(error);
    return undefined;
  }

  async #read<T>(key: string, signal: AbortSignal | undefined): Promise<T | undefined> {
    const file = join(this.#dir, fileName(key) + RECORD);
    let bytes: Buffer;
    try {
      bytes = await readFile(file, signal === undefined ? undefined : { signal });
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
      throw error;
    }
    const corrupt = (why: string): StoreError => new StoreError("STORE_CORRUPT", `Corrupt store record ${file} (key ${JSON.stringify(key)}): ${why}`, { key, file });
    const newline = bytes.indexOf(0x0a);
    if (newline < 0) throw corrupt(`no header line (${bytes.length} bytes; truncated?)`);
    let header: Partial<Header>;
    try {
      header = JSON.parse(bytes.subarray(0, newline).toString("utf8")) as Partial<Header>;
    } catch {
      throw corrupt("the header is not valid JSON");
    }
    if (header.format !== FORMAT) throw corrupt(`unknown format ${JSON.stringify(header.format)}, expected ${JSON.stringify(FORMAT)}`);
    if (header.key !== key) throw corrupt(`the record is for key ${JSON.stringify(header.key)}`);
    const payload = bytes.subarray(newline + 1);
    if (payload.length !== header.bytes) throw corrupt(`expected ${header.bytes} bytes of value, found ${payload.length} (truncated?)`);
    if (sha256(payload) !== header.sha256) throw corrupt("checksum mismatch (the value was damaged on disk)");
    try {
      return decodeValue<T>(payload.toString("utf8"));
    } catch {
      throw corrupt("the value is not valid JSON");
    }
  }

  async #write(key: string, text: string, signal: AbortSignal | undefined): Promise<void> {
    await this.#ensureDir();
    const name = fileName(key);
    const file = join(this.#dir, name + RECORD);
    const temp = join(this.#dir, `.${name}.${this.#instance}-${++this.#tempCounter}${TEMP}`);
    const payload = Buffer.from(text, "utf8");
    const header: Header = { format: FORMAT, key, bytes: payload.length, sha256: sha256(payload) };
    const record = Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, "utf8"), payload]);
    try {
      const handle = await open(temp, "w");
      try {
        await handle.writeFile(record);
        if (this.#fsync === "always") await handle.sync();
      } finally {
        await handle.close();
      }
      signal?.throwIfAborted();
      await rename(temp, file);
    } catch (error) {
      await this.#remove(temp);
      throw error;
    }
    if (this.#fsync === "always") await this.#syncDir();
    else if (this.#fsync === "batched") this.#scheduleSync(file);
  }

  async #remove(file: string): Promise<void> {
    try {
      await unlink(file);
    } catch (error) {
      if (errorCode(error) !== "ENOENT") throw error;
    }
  }

  /** Queues `file` (and in any case the folder, for renames and unlinks) for the next batched fsync. */
  #scheduleSync(file: string | undefined): void {
    if (file !== undefined) this.#unsynced.add(file);
    this.#dirUnsynced = true;
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#syncBatch().catch(() => {
        // retried by the next flush(); an fsync error here has no caller to reach
      });
    }, this.#batchMs);
    this.#timer.unref();
  }

  async #syncBatch(): Promise<void> {
    const files = this.#unsynced;
    this.#unsynced = new Set();
    this.#dirUnsynced = false;
    const run = (async () => {
      await this.#each([...files], (file) => this.#syncFile(file));
      await this.#syncDir();
    })();
    this.#syncing = run;
    try {
      await run;
    } catch (error) {
      for (const file of files) this.#unsynced.add(file);
      this.#dirUnsynced = true;
      throw error;
    } finally {
      if (this.#syncing === run) this.#syncing = undefined;
    }
  }

  async #syncFile(file: string): Promise<void> {
    let handle;
    try {
      handle = await open(file, "r");
    } catch (error) {
      if (errorCode(error) === "ENOENT") return; // deleted since: nothing to sync
      throw error;
    }
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Makes renames and unlinks in the folder durable; a no-op where folders cannot be opened (Windows). */
  async #syncDir(): Promise<void> {
    let handle;
    try {
      handle = await open(this.#dir, "r");
    } catch (error) {
      if (errorCode(error) === "ENOENT") return;
      if (["EISDIR", "EPERM", "EACCES"].includes(errorCode(error) ?? "")) return;
      throw error;
    }
    try {
      await handle.sync();
    } catch (error) {
      if (!["EINVAL", "EBADF", "EPERM", "ENOTSUP"].includes(errorCode(error) ?? "")) throw error;
    } finally {
      await handle.close();
    }
  }
}
