import "fake-indexeddb/auto";
import { afterAll, test } from "vitest";
import { createFileStore, createIdbStore, createMemoryStore } from "../src/store/index.ts";
import type { BaseStoreOptions } from "../src/store/index.ts";
import { fileStoreChecks, storeConformance, tempDir } from "./store-conformance.ts";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(cleanups.map((remove) => remove()));
});

let dbCounter = 0;

storeConformance("memory", (options?: BaseStoreOptions) => createMemoryStore(options), test);
storeConformance(
  "file",
  async (options?: BaseStoreOptions) => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    return createFileStore({ dir, fsync: "batched", ...options });
  },
  test,
);
storeConformance("idb", (options?: BaseStoreOptions) => createIdbStore({ dbName: `apiary-test-${++dbCounter}`, ...options }), test);
fileStoreChecks(test);
