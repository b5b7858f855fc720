import "fake-indexeddb/auto";
import { createFileStore, createIdbStore, createMemoryStore } from "../../src/store/index.ts";
import type { BaseStoreOptions } from "../../src/store/index.ts";
import { fileStoreChecks, storeConformance, tempDir } from "../store-conformance.ts";

const register = (name: string, body: () => Promise<void>): void => {
  Deno.test(name, body);
};

let dbCounter = 0;
const dirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const dir of dirs) Deno.removeSync(dir, { recursive: true });
});

storeConformance("memory", (options?: BaseStoreOptions) => createMemoryStore(options), register);
storeConformance(
  "file",
  async (options?: BaseStoreOptions) => {
    // Each case gets its own folder, removed when the process ends.
    const { dir } = await tempDir();
    dirs.push(dir);
    return createFileStore({ dir, fsync: "batched", ...options });
  },
  register,
);
storeConformance("idb", (options?: BaseStoreOptions) => createIdbStore({ dbName: `apiary-test-${++dbCounter}`, ...options }), register);
fileStoreChecks(register);
