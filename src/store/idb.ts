/**
 * The IndexedDB store, over idb-keyval: the store for browsers. Values are kept as JSON text,
 * with the same rules as the other backends, so data and behaviour match everywhere.
 *
 * @module
 */
import * as idb from "idb-keyval";
import { z } from "zod";
import { InvalidOptionsError } from "../core/errors.ts";
import { parseOptions, positiveInt } from "../core/validation.ts";
import { type BaseStoreOptions, DEFAULT_MAX_VALUE_BYTES, type Store, type StoreCallOptions } from "./types.ts";
import { decodeValue, encodeValue, validateKey } from "./value.ts";

/** Options of {@link createIdbStore}. */
export interface IdbStoreOptions extends BaseStoreOptions {
  /**
   * The IndexedDB database name.
   * @default "apiary"
   */
  dbName?: string;
  /**
   * The object store name inside the database.
   * @default "store"
   */
  storeName?: string;
}

const name = z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" });
const schema = z.strictObject({ dbName: name.optional(), storeName: name.optional(), maxValueBytes: positiveInt().optional() });

/**
 * Creates a store in IndexedDB (browsers; Node and Deno have no IndexedDB, but work with
 * `fake-indexeddb/auto` loaded, as the tests do).
 *
 * @throws {InvalidOptionsError} when an option is invalid or the runtime has no `indexedDB`.
 */
export function createIdbStore(options: IdbStoreOptions = {}): Store {
  const parsed = parseOptions(schema, options, "IndexedDB store");
  if ((globalThis as { indexedDB?: unknown }).indexedDB === undefined) {
    throw new InvalidOptionsError(
      "Cannot create IndexedDB store: this runtime has no indexedDB (Node and Deno have none: use createFileStore, or load fake-indexeddb/auto first)",
    );
  }
  return new IdbStore(idb.createStore(parsed.dbName ?? "apiary", parsed.storeName ?? "store"), parsed.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES);
}

class IdbStore implements Store {
  readonly kind = "idb";
  readonly #db: idb.UseStore;
  readonly #maxValueBytes: number;

  constructor(db: idb.UseStore, maxValueBytes: number) {
    this.#db = db;
    this.#maxValueBytes = maxValueBytes;
  }

  async get<T>(key: string, options?: StoreCallOptions): Promise<T | undefined> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    const text = await idb.get<string>(key, this.#db);
    return text === undefined ? undefined : decodeValue<T>(text);
  }

  async set(key: string, value: unknown, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    await idb.set(key, encodeValue(key, value, this.#maxValueBytes), this.#db);
  }

  async del(key: string, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    await idb.del(key, this.#db);
  }

  async update<T>(key: string, updater: (old: T | undefined) => T, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    // idb-keyval runs the updater inside one readwrite transaction: atomic across tabs too.
    await idb.update<string>(key, (old) => encodeValue(key, updater(old === undefined ? undefined : decodeValue<T>(old)), this.#maxValueBytes), this.#db);
  }

  async keys(options?: StoreCallOptions): Promise<string[]> {
    options?.signal?.throwIfAborted();
    return (await idb.keys<string>(this.#db)).filter((key) => typeof key === "string");
  }

  async entries<T>(options?: StoreCallOptions): Promise<[string, T][]> {
    options?.signal?.throwIfAborted();
    const out: [string, T][] = [];
    for (const [key, text] of await idb.entries<string, string>(this.#db)) {
      if (typeof key === "string") out.push([key, decodeValue<T>(text)]);
    }
    return out;
  }

  async clear(options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    await idb.clear(this.#db);
  }

  async getMany<T>(keys: readonly string[], options?: StoreCallOptions): Promise<(T | undefined)[]> {
    options?.signal?.throwIfAborted();
    for (const key of keys) validateKey(key);
    const texts = await idb.getMany<string>([...keys], this.#db);
    return texts.map((text) => (text === undefined ? undefined : decodeValue<T>(text)));
  }

  async setMany(entries: readonly (readonly [string, unknown])[], options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const encoded = entries.map(([key, value]): [string, string] => {
      validateKey(key);
      return [key, encodeValue(key, value, this.#maxValueBytes)];
    });
    // One transaction: all pairs are written or none.
    await idb.setMany(encoded, this.#db);
  }

  async flush(options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
  }

  async close(): Promise<void> {}
}
