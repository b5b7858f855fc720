/**
 * The Redis store: the store contract on one Redis hash (field = key, value = JSON text), for a
 * result cache or journal shared by machines — the result cache's second level across a
 * cluster's coordinators. ioredis is imported on the first call, not with the module. Node only.
 *
 * Writes made through one store object are applied in call order (one chain); `update` reads,
 * applies the updater and writes on that chain, so it is atomic with respect to the other calls
 * on the same object — not against another process writing the same key at the same moment.
 * Durability is the server's: with `appendonly yes` a write survives a Redis crash within its
 * `appendfsync` window.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import { StoreError } from "../core/errors.ts";
import { parseFor, positiveInt, redisUrl } from "../core/validation.ts";
import { type BaseStoreOptions, DEFAULT_MAX_VALUE_BYTES, type Store, type StoreCallOptions } from "./types.ts";
import { encodeValue, validateKey } from "./value.ts";

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions extends BaseStoreOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. */
  redis: string;
  /** The hash every key lives in; stores with different names share a Redis without meeting. @default "apiary:store" */
  name?: string;
}

const schema = z.strictObject(
  {
    redis: redisUrl(),
    name: z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" }).max(200, { error: "must be at most 200 characters" }).optional(),
    maxValueBytes: positiveInt().optional(),
  },
  { error: "must be an object { redis, name, maxValueBytes }" },
);

/**
 * Creates a store on Redis. Nothing connects until the first call.
 *
 * @throws {InvalidOptionsError} when an option is invalid.
 * @example
 * ```ts
 * const store = createRedisStore({ redis: "redis://127.0.0.1:6379" });
 * const hive = createHive({ agents: [{ id: "a" }], store, cache: { persist: true } });
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): Store {
  const parsed = parseFor(schema, options, "create redis store");
  return new RedisStore(parsed.redis, parsed.name ?? "apiary:store", parsed.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES);
}

class RedisStore implements Store {
  readonly kind = "redis";
  readonly #url: string;
  readonly #hash: string;
  readonly #maxValueBytes: number;
  // The connection, made on first use.
  #client: Promise<Redis> | undefined;
  // Every write waits for the one before: writes apply in call order and `update` is atomic here.
  #tail: Promise<unknown> = Promise.resolve();

  constructor(url: string, hash: string, maxValueBytes: number) {
    this.#url = url;
    this.#hash = hash;
    this.#maxValueBytes = maxValueBytes;
  }

  #redis(): Promise<Redis> {
    this.#client ??= import("ioredis").then(({ Redis }) => {
      const client = new Redis(this.#url, { maxRetriesPerRequest: null, connectionName: "apiary-store" });
      client.on("error", () => {}); // reconnection is ioredis's job
      return client;
    });
    return this.#client;
  }

  /** Runs `write` after every write asked for before it. */
  #write<T>(write: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(write, write);
    this.#tail = run.catch(() => {});
    return run;
  }

  #decode<T>(key: string, text: string | null): T | undefined {
    if (text === null) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new StoreError("STORE_CORRUPT", `Store record ${JSON.stringify(key)} in Redis hash ${JSON.stringify(this.#hash)} is not JSON: ${(error as Error).message}`, { key, cause: error });
    }
  }

  async get<T>(key: string, options?: StoreCallOptions): Promise<T | undefined> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    return this.#decode<T>(key, await (await this.#redis()).hget(this.#hash, key));
  }

  async set(key: string, value: unknown, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    const text = encodeValue(key, value, this.#maxValueBytes);
    await this.#write(async () => void (await (await this.#redis()).hset(this.#hash, key, text)));
  }

  async del(key: string, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    await this.#write(async () => void (await (await this.#redis()).hdel(this.#hash, key)));
  }

  async update<T>(key: string, updater: (old: T | undefined) => T, options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    validateKey(key);
    await this.#write(async () => {
      const redis = await this.#redis();
      const next = updater(this.#decode<T>(key, await redis.hget(this.#hash, key)));
      await redis.hset(this.#hash, key, encodeValue(key, next, this.#maxValueBytes));
    });
  }

  async keys(options?: StoreCallOptions): Promise<string[]> {
    options?.signal?.throwIfAborted();
    await this.#tail;
    return (await this.#redis()).hkeys(this.#hash);
  }

  async entries<T>(options?: StoreCallOptions): Promise<[string, T][]> {
    options?.signal?.throwIfAborted();
    await this.#tail;
    const all = await (await this.#redis()).hgetall(this.#hash);
    return Object.entries(all).map(([key, text]) => [key, this.#decode<T>(key, text) as T]);
  }

  async clear(options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    await this.#write(async () => void (await (await this.#redis()).del(this.#hash)));
  }

  async getMany<T>(keys: readonly string[], options?: StoreCallOptions): Promise<(T | undefined)[]> {
    options?.signal?.throwIfAborted();
    for (const key of keys) validateKey(key);
    if (keys.length === 0) return [];
    const texts = await (await this.#redis()).hmget(this.#hash, ...keys);
    return keys.map((key, i) => this.#decode<T>(key, texts[i] ?? null));
  }

  async setMany(entries: readonly (readonly [string, unknown])[], options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const fields: string[] = [];
    for (const [key, value] of entries) {
      validateKey(key);
      fields.push(key, encodeValue(key, value, this.#maxValueBytes));
    }
    if (fields.length === 0) return;
    await this.#write(async () => void (await (await this.#redis()).hset(this.#hash, ...fields)));
  }

  async flush(options?: StoreCallOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    await this.#tail;
  }

  async close(): Promise<void> {
    await this.#tail;
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) (await client).disconnect();
  }
}
