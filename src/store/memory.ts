/**
 * The memory store: a `Map` of JSON text. For tests and for hives that need no persistence;
 * it keeps the same rules as the durable stores (keys, JSON values, size limit), so code tested
 * against it behaves the same on disk.
 *
 * @module
 */
import { z } from "zod";
import { parseOptions, positiveInt } from "../core/validation.ts";
import { type BaseStoreOptions, DEFAULT_MAX_VALUE_BYTES, type Store, type StoreCallOptions } from "./types.ts";
import { decodeValue, encodeValue, validateKey } from "./value.ts";

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions extends BaseStoreOptions {}

const schema = z.strictObject({ maxValueBytes: positiveInt().optional() });

/**
 * Creates an in-memory store.
 *
 * @throws {InvalidOptionsError} when an option is invalid.
 * @example
 * ```ts
 * const store = createMemoryStore();
 * await store.set("a", { n: 1 });
 * await store.get("a"); // { n: 1 }
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const parsed = parseOptions(schema, options, "memory store");
  return new MemoryStore(parsed.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES);
}

class MemoryStore implements Store {
  readonly kind = "memory";
  // Values are kept as JSON text so that every `get` returns a fresh copy, as on disk.
  readonly #data = new Map<string, string>();
  readonly #maxValueBytes: number;

  constructor(maxValueBytes: number) {
    this.#maxValueBytes = maxValueBytes;
  }

  async get<T>(key: string, options?: StoreCallOptions): Promise<T | undefined> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    const text = this.#data.get(key);
    return text === undefined ? undefined : decodeValue<T>(text);
  }

  async set(key: string, value: unknown, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    this.#data.set(key, encodeValue(key, value, this.#maxValueBytes));
  }

  async del(key: string, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    this.#data.delete(key);
  }

  async update<T>(key: string, updater: (old: T | undefined) => T, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    const text = this.#data.get(key);
    const next = updater(text === undefined ? undefined : decodeValue<T>(text));
    this.#data.set(key, encodeValue(key, next, this.#maxValueBytes));
  }

  async keys(options?: StoreCallOptions): Promise<string[]> {
    options?.signal?.throwIfAborted();
    return [...this.#data.keys()];
  }

  async entries<T>(options?: StoreCallOptions): Promise<[string, T][]> {
    options?.signal?.throwIfAborted();
    return [...this.#data].map(([key, text]) => [key, decodeValue<T>(text)]);
  }

  async clear(options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    this.#data.clear();
  }

  async getMany<T>(keys: readonly string[], options?: StoreCallOptions): Promise<(T | undefined)[]> {
    options?.signal?.throwIfAborted();
    for (const key of keys) validateKey(key);
    return keys.map((key) => {
      const text = this.#data.get(key);
      return text === undefined ? undefined : decodeValue<T>(text);
    });
  }

  async setMany(entries: readonly (readonly [string, unknown])[], options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const encoded = entries.map(([key, value]): [string, string] => {
      validateKey(key);
      return [key, encodeValue(key, value, this.#maxValueBytes)];
    });
    for (const [key, text] of encoded) this.#data.set(key, text);
  }

  async flush(options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
  }

  async close(): Promise<void> {}
}
