/**
 * Stores with idb-keyval's shape: memory (tests), file (Node and Deno), IndexedDB (browsers),
 * Redis (shared by machines; Node).
 *
 * @module
 */
export type { BaseStoreOptions, JsonValue, Store, StoreCallOptions } from "./types.ts";
export { DEFAULT_MAX_VALUE_BYTES } from "./types.ts";
export { MAX_KEY_LENGTH, validateKey } from "./value.ts";
export { createMemoryStore, type MemoryStoreOptions } from "./memory.ts";
export { createFileStore, type FileStoreOptions, type FsyncPolicy } from "./file.ts";
export { createIdbStore, type IdbStoreOptions } from "./idb.ts";
export { createRedisStore, type RedisStoreOptions } from "./redis.ts";
