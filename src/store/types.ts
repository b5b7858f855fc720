/**
 * The store contract: idb-keyval's shape (`get`, `set`, `del`, `update`, `keys`, `entries`,
 * `clear`, `getMany`, `setMany`), all async, so one contract serves IndexedDB in browsers, the
 * durable file store on Node and Deno, and memory for tests.
 *
 * Keys are strings (see {@link validateKey}); values are JSON data (see {@link encodeValue}):
 * what `get` returns is always a fresh copy, equal to what `JSON.parse(JSON.stringify(value))`
 * gives, never the object that was `set`.
 *
 * @module
 */

/** Options every store method takes as its last argument. */
export interface StoreCallOptions {
  /** Aborts the call: it rejects with `signal.reason` if aborted before its work is done. */
  signal?: AbortSignal;
}

/** A JSON value as a store keeps it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** An async key-value store with idb-keyval's shape. */
export interface Store {
  /** Which backend this is. */
  readonly kind: "memory" | "file" | "idb" | "redis";
  /** The value under `key`, or `undefined` when there is none. @throws {StoreError} `STORE_CORRUPT` when the record is damaged. */
  get<T = unknown>(key: string, options?: StoreCallOptions): Promise<T | undefined>;
  /** Stores `value` under `key`, replacing any previous value. @throws {StoreError} `INVALID_KEY`, `INVALID_VALUE`, `VALUE_TOO_LARGE`. */
  set(key: string, value: unknown, options?: StoreCallOptions): Promise<void>;
  /** Removes `key`; resolves whether or not it existed. */
  del(key: string, options?: StoreCallOptions): Promise<void>;
  /**
   * Replaces the value under `key` with `updater(old)`, atomically with respect to other calls
   * on this store object. `updater` is synchronous (as in idb-keyval). A corrupt record is not
   * passed as `undefined`: the update rejects with `STORE_CORRUPT` and changes nothing.
   */
  update<T = unknown>(key: string, updater: (old: T | undefined) => T, options?: StoreCallOptions): Promise<void>;
  /** Every key, in no guaranteed order. */
  keys(options?: StoreCallOptions): Promise<string[]>;
  /** Every `[key, value]` pair, in no guaranteed order. */
  entries<T = unknown>(options?: StoreCallOptions): Promise<[string, T][]>;
  /** Removes every key. */
  clear(options?: StoreCallOptions): Promise<void>;
  /** The values under `keys`, in the same order (`undefined` where missing). */
  getMany<T = unknown>(keys: readonly string[], options?: StoreCallOptions): Promise<(T | undefined)[]>;
  /** Stores every pair; every key and value is validated before anything is written. */
  setMany(entries: readonly (readonly [string, unknown])[], options?: StoreCallOptions): Promise<void>;
  /** Waits until every write made so far is as durable as the store can make it. */
  flush(options?: StoreCallOptions): Promise<void>;
  /** Flushes pending writes and stops background work (the file store's fsync timer). The store stays usable. */
  close(): Promise<void>;
}

/** Options every store backend takes. */
export interface BaseStoreOptions {
  /**
   * Largest value accepted, in bytes of its UTF-8 JSON text. A larger value is refused with
   * `VALUE_TOO_LARGE`.
   * @default 1_048_576 (1 MiB)
   */
  maxValueBytes?: number;
}

/** Default of {@link BaseStoreOptions.maxValueBytes}: 1 MiB. */
export const DEFAULT_MAX_VALUE_BYTES = 1_048_576;
