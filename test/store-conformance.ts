/**
 * The store contract as one suite, independent of the test runner: vitest (`test/store.test.ts`)
 * and Deno (`test/deno/store.test.ts`) both pass their own `test` function in, and every backend
 * runs the same cases.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { isApiaryError, isStoreError, type StoreErrorCode } from "../src/core/errors.ts";
import type { BaseStoreOptions, Store } from "../src/store/index.ts";
import { createFileStore, type FsyncPolicy } from "../src/store/index.ts";

/** Registers one test with the runner. */
export type RegisterTest = (name: string, body: () => Promise<void>) => void;

/** Makes a fresh, empty store. */
export type StoreFactory = (options?: BaseStoreOptions) => Promise<Store> | Store;

async function rejectsWith(promise: Promise<unknown>, code: StoreErrorCode, fragment: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isStoreError(error, code), `expected StoreError ${code}, got ${String(error)}`);
    assert.ok(error.message.includes(fragment), `expected ${JSON.stringify(error.message)} to include ${JSON.stringify(fragment)}`);
    return true;
  });
}

async function using<T>(factory: StoreFactory, body: (store: Store) => Promise<T>, options?: BaseStoreOptions): Promise<T> {
  const store = await factory(options);
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

/**
 * Registers the conformance cases for one backend.
 *
 * @param label the backend's name, prefixed to each test name.
 * @param factory makes a fresh empty store for each case.
 * @param test the runner's test registration function.
 */
export function storeConformance(label: string, factory: StoreFactory, test: RegisterTest): void {
  const it = (name: string, body: (store: Store) => Promise<void>, options?: BaseStoreOptions): void => test(`${label}: ${name}`, () => using(factory, body, options));

  it("returns undefined for a key never set", async (store) => {
    assert.equal(await store.get("missing"), undefined);
  });

  it("returns what was set, as a copy the caller cannot change afterwards", async (store) => {
    const value = { n: 1, list: [1, "two", null, true], nested: { deep: { x: -0.5 } }, text: "héllo 🐝" };
    await store.set("a", value);
    value.n = 2;
    const got = await store.get<typeof value>("a");
    assert.deepEqual(got, { n: 1, list: [1, "two", null, true], nested: { deep: { x: -0.5 } }, text: "héllo 🐝" });
    assert.notEqual(got, value);
    assert.equal(await store.get("a").then((v) => v !== (got as unknown)), true);
  });

  it("stores every kind of JSON value, top level included", async (store) => {
    for (const [key, value] of [["null", null], ["zero", 0], ["false", false], ["empty", ""], ["arr", []], ["obj", {}]] as const) {
      await store.set(key, value);
      assert.deepEqual(await store.get(key), value);
    }
  });

  it("replaces a value on a second set", async (store) => {
    await store.set("k", "first");
    await store.set("k", "second");
    assert.equal(await store.get("k"), "second");
    assert.deepEqual(await store.keys(), ["k"]);
  });

  it("deletes a key, and deleting a missing key is not an error", async (store) => {
    await store.set("k", 1);
    await store.del("k");
    assert.equal(await store.get("k"), undefined);
    await store.del("never-there");
    assert.deepEqual(await store.keys(), []);
  });

  it("updates from the old value, and concurrent updates all apply", async (store) => {
    await store.update<number>("count", (old) => (old ?? 0) + 1);
    assert.equal(await store.get("count"), 1);
    await Promise.all(Array.from({ length: 20 }, () => store.update<number>("count", (old) => (old ?? 0) + 1)));
    assert.equal(await store.get("count"), 21);
  });

  it("applies writes to one key in call order", async (store) => {
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.set("order", i)));
    assert.equal(await store.get("order"), 9);
  });

  it("lists keys and entries, and clear removes them all", async (store) => {
    await store.set("a", 1);
    await store.set("b", { two: 2 });
    await store.set("c", [3]);
    assert.deepEqual((await store.keys()).sort(), ["a", "b", "c"]);
    const entries = (await store.entries()).sort(([x], [y]) => x.localeCompare(y));
    assert.deepEqual(entries, [["a", 1], ["b", { two: 2 }], ["c", [3]]]);
    await store.clear();
    assert.deepEqual(await store.keys(), []);
    assert.deepEqual(await store.entries(), []);
    assert.equal(await store.get("a"), undefined);
  });

  it("clear removes writes asked for just before it", async (store) => {
    const writes = [store.set("a", 1), store.update<number>("b", () => 2), store.setMany([["c", 3]])];
    await store.clear();
    await Promise.all(writes);
    assert.deepEqual(await store.keys(), []);
  });

  it("getMany returns values in the order asked, undefined where missing", async (store) => {
    await store.setMany([["x", 1], ["y", "two"], ["z", { three: 3 }]]);
    assert.deepEqual(await store.getMany(["z", "nope", "x"]), [{ three: 3 }, undefined, 1]);
    assert.deepEqual(await store.getMany([]), []);
  });

  it("setMany writes nothing when one value is unstorable", async (store) => {
    await rejectsWith(store.setMany([["ok", 1], ["bad", () => 1]]), "INVALID_VALUE", '"bad"');
    assert.equal(await store.get("ok"), undefined);
    await rejectsWith(store.setMany([["ok", 1], ["bad/key", 1]]), "INVALID_KEY", '"bad/key"');
    assert.equal(await store.get("ok"), undefined);
  });

  it("accepts ordinary keys: colons, spaces, dots, unicode, and tells case apart", async (store) => {
    const keys = ["task:1", "Task:1", "TASK:1", "with space", "v1.2.3", ".hidden", "ключ", "蜂-🐝", "a%2Fb", "~tilde", "-", "_"];
    for (const [i, key] of keys.entries()) await store.set(key, i);
    for (const [i, key] of keys.entries()) assert.equal(await store.get(key), i, key);
    assert.deepEqual((await store.keys()).sort(), [...keys].sort());
  });

  it("accepts a key of the maximum length", async (store) => {
    const key = "K".repeat(200);
    await store.set(key, "long");
    assert.equal(await store.get(key), "long");
    assert.deepEqual(await store.keys(), [key]);
  });

  it("rejects keys that are empty, too long, or could escape a folder, naming the key", async (store) => {
    const bad: [unknown, string][] = [
      ["", '""'],
      ["a/b", '"a/b"'],
      ["a\\b", '"a\\\\b"'],
      ["..", '".."'],
      ["../../etc/passwd", "../../etc/passwd"],
      ["/abs", '"/abs"'],
      ["nul\u0000byte", "must not contain"],
      ["line\nbreak", "must not contain"],
      ["x".repeat(201), "at most 200 characters"],
      ["\uD800lonely", "lone surrogate"],
      [42, "42"],
    ];
    for (const [key, fragment] of bad) {
      await rejectsWith(store.set(key as string, 1), "INVALID_KEY", fragment);
      await rejectsWith(store.get(key as string), "INVALID_KEY", fragment);
      await rejectsWith(store.del(key as string), "INVALID_KEY", fragment);
      await rejectsWith(store.update(key as string, () => 1), "INVALID_KEY", fragment);
    }
    assert.deepEqual(await store.keys(), []);
  });

  it("rejects values JSON cannot carry faithfully, saying what and where", async (store) => {
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const bad: [unknown, string][] = [
      [function task() {}, "a function (task)"],
      [Symbol("s"), "Symbol(s)"],
      [10n, "10n"],
      [cyclic, "cannot be serialised"],
      [Number.NaN, "non-finite number NaN"],
      [{ x: Number.POSITIVE_INFINITY }, 'property "x" is the non-finite number Infinity'],
      [undefined, "the value is undefined"],
      [[1, undefined], 'property "1" is undefined'],
      [new Map([[1, 2]]), "an instance of Map"],
      [{ nested: { run: () => 1 } }, 'property "run" is a function'],
      [{ big: 1n }, 'property "big" is 1n'],
    ];
    for (const [value, fragment] of bad) {
      await rejectsWith(store.set("v", value), "INVALID_VALUE", fragment);
    }
    await rejectsWith(store.update("v", () => () => 1), "INVALID_VALUE", "a function");
    assert.equal(await store.get("v"), undefined);
  });

  it("stores a Date as its ISO text and drops undefined properties, as JSON does", async (store) => {
    await store.set("d", { at: new Date(Date.UTC(2026, 0, 2)), gone: undefined, kept: 1 });
    assert.deepEqual(await store.get("d"), { at: "2026-01-02T00:00:00.000Z", kept: 1 });
  });

  it(
    "refuses a value over maxValueBytes, counting UTF-8 bytes, and keeps the old value",
    async (store) => {
      await store.set("k", "a".repeat(62)); // 64 bytes of JSON with the quotes
      await store.set("k2", "é".repeat(31)); // 2 + 62 bytes
      await rejectsWith(store.set("k", "a".repeat(63)), "VALUE_TOO_LARGE", "65 bytes");
      await rejectsWith(store.set("k", "é".repeat(32)), "VALUE_TOO_LARGE", '"maxValueBytes" = 64');
      await rejectsWith(store.update("k", () => "🐝".repeat(20)), "VALUE_TOO_LARGE", "82 bytes");
      assert.equal(await store.get("k"), "a".repeat(62));
    },
    { maxValueBytes: 64 },
  );

  it("rejects an aborted call with the signal's reason and changes nothing", async (store) => {
    const controller = new AbortController();
    controller.abort(new Error("caller gave up"));
    const { signal } = controller;
    await assert.rejects(store.set("k", 1, { signal }), /caller gave up/);
    await assert.rejects(store.setMany([["k", 1]], { signal }), /caller gave up/);
    await assert.rejects(store.update("k", () => 1, { signal }), /caller gave up/);
    await assert.rejects(store.get("k", { signal }), /caller gave up/);
    assert.equal(await store.get("k"), undefined);
  });

  it("rejects invalid options with a message naming the option and value", async () => {
    await assert.rejects(
      async () => factory({ maxValueBytes: 0 }),
      (error: unknown) => {
        assert.ok(isApiaryError(error, "INVALID_OPTIONS"));
        assert.match(error.message, /"maxValueBytes" must be a positive integer, received 0/);
        return true;
      },
    );
  });
}

/** A fresh temporary folder, and a function that removes it. */
export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "apiary-store-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Registers the file store's own cases: durability, corruption, folder confinement. */
export function fileStoreChecks(test: RegisterTest): void {
  const it = (name: string, body: (dir: string) => Promise<void>): void =>
    test(`file: ${name}`, async () => {
      const { dir, remove } = await tempDir();
      try {
        await body(dir);
      } finally {
        await remove();
      }
    });

  for (const fsync of ["always", "batched", "never"] as FsyncPolicy[]) {
    it(`keeps data across reopening the folder (fsync ${fsync})`, async (dir) => {
      const first = createFileStore({ dir, fsync });
      await first.setMany([["a", { n: 1 }], ["B", [2]]]);
      await first.update<number>("c", () => 3);
      await first.del("a");
      await first.close();
      const second = createFileStore({ dir, fsync });
      assert.deepEqual((await second.entries()).sort(([x], [y]) => x.localeCompare(y)), [["B", [2]], ["c", 3]]);
      await second.close();
    });
  }

  it("writes every record inside its folder, whatever the key", async (dir) => {
    const store = createFileStore({ dir: join(dir, "data"), fsync: "never" });
    for (const key of ["..a", "a..", ".x", "a:b", "C", "~", "%2F", "K".repeat(200)]) {
      if (key.includes("..")) await rejectsWith(store.set(key, 1), "INVALID_KEY", "..");
      else await store.set(key, key);
    }
    assert.deepEqual(await readdir(dir), ["data"]);
    const names = await readdir(join(dir, "data"));
    assert.equal(names.length, 6);
    for (const name of names) assert.match(name, /^([a-z0-9._~-]|%[0-9A-F]{2})+\.rec$/);
    await store.close();
  });

  it("ignores left-over temporary files from a crash", async (dir) => {
    const store = createFileStore({ dir, fsync: "never" });
    await store.set("a", 1);
    await writeFile(join(dir, ".a.dead-1.tmp"), "half a reco");
    assert.deepEqual(await store.keys(), ["a"]);
    assert.deepEqual(await store.entries(), [["a", 1]]);
    await store.close();
  });

  it("reports a damaged record naming the file, keeps it, and still serves the others", async (dir) => {
    const store = createFileStore({ dir, fsync: "always" });
    await store.setMany([["good", { ok: true }], ["bad", { payload: "x".repeat(40) }]]);
    const file = join(dir, "bad.rec");
    const original = await readFile(file);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 5] = "y".charCodeAt(0); // flip one byte of the value
    await writeFile(file, damaged);

    await rejectsWith(store.get("bad"), "STORE_CORRUPT", file);
    await rejectsWith(store.get("bad"), "STORE_CORRUPT", "checksum mismatch");
    await assert.rejects(store.get("bad"), (error: unknown) => isStoreError(error) && error.file === file && error.key === "bad");
    await rejectsWith(store.update("bad", () => ({ replaced: true })), "STORE_CORRUPT", file);
    await rejectsWith(store.getMany(["good", "bad"]), "STORE_CORRUPT", file);
    await rejectsWith(store.entries(), "STORE_CORRUPT", file);
    assert.deepEqual(await store.get("good"), { ok: true });
    assert.deepEqual((await store.keys()).sort(), ["bad", "good"]);
    assert.deepEqual(await readFile(file), damaged, "the damaged record must not be overwritten");
    await store.close();

    const reported: string[] = [];
    const lenient = createFileStore({ dir, onCorrupt: (error) => reported.push(error.file ?? "?") });
    assert.deepEqual(await lenient.entries(), [["good", { ok: true }]]);
    assert.deepEqual(reported, [file]);
    await lenient.set("bad", "fixed by an explicit set");
    assert.equal(await lenient.get("bad"), "fixed by an explicit set");
    await lenient.close();
  });

  it("detects a truncated record", async (dir) => {
    const store = createFileStore({ dir, fsync: "never" });
    await store.set("t", { long: "z".repeat(100) });
    const file = join(dir, "t.rec");
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 30));
    await rejectsWith(store.get("t"), "STORE_CORRUPT", "truncated");
    await writeFile(file, bytes.subarray(0, 20));
    await rejectsWith(store.get("t"), "STORE_CORRUPT", file);
    await writeFile(file, "");
    await rejectsWith(store.get("t"), "STORE_CORRUPT", "no header");
    await store.close();
  });

  it("detects a record copied under another key's file name", async (dir) => {
    const store = createFileStore({ dir, fsync: "never" });
    await store.set("one", 1);
    await writeFile(join(dir, "two.rec"), await readFile(join(dir, "one.rec")));
    await rejectsWith(store.get("two"), "STORE_CORRUPT", 'the record is for key "one"');
    await store.close();
  });

  it("reports a long-key record whose header is damaged, and still serves the others", async (dir) => {
    const long = "L".repeat(150); // its file name ends in a hash: keys() reads the key from the header
    const store = createFileStore({ dir, fsync: "never" });
    await store.setMany([[long, 1], ["short", 2]]);
    const [hashed] = (await readdir(dir)).filter((name) => name.includes("~"));
    const file = join(dir, hashed!);
    await writeFile(file, "not a header");
    await rejectsWith(store.keys(), "STORE_CORRUPT", file);
    await rejectsWith(store.get(long), "STORE_CORRUPT", file);
    assert.equal(await store.get("short"), 2);
    const reported: string[] = [];
    const lenient = createFileStore({ dir, onCorrupt: (error) => reported.push(error.file ?? "?") });
    assert.deepEqual(await lenient.keys(), ["short"]);
    assert.deepEqual(reported, [file]);
  });

  it("rejects invalid options naming the option and value", async (dir) => {
    const cases: [unknown, RegExp][] = [
      [{ dir, fsync: "sometimes" }, /Cannot create file store: "fsync" must be "always", "batched" or "never", received "sometimes"/],
      [{ dir: "" }, /"dir" must be a non-empty string, received ""/],
      [{ dir, batchMs: -1 }, /"batchMs" must be a positive integer, received -1/],
      [{ dir, fsnyc: "always" }, /"fsnyc" is not a known option/],
    ];
    for (const [options, pattern] of cases) {
      assert.throws(() => createFileStore(options as never), (error: unknown) => isApiaryError(error, "INVALID_OPTIONS") && pattern.test(error.message));
    }
  });
}
