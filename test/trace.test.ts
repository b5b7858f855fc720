import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { assign, createActor, createMachine, fromCallback, type InspectionEvent, setup } from "xstate";
import { filterInspect } from "../src/observe/inspect.ts";
import { createTraceWriter, toPlain, type TraceRecord } from "../src/observe/trace.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "apiary-trace-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const toggle = setup({
  types: { context: {} as { count: number; token: string }, events: {} as { type: "toggle" } | { type: "login"; password: string } },
}).createMachine({
  id: "toggle",
  context: { count: 0, token: "s3cret-token" },
  initial: "off",
  states: {
    off: { on: { toggle: { target: "on", actions: assign({ count: ({ context }) => context.count + 1 }) } } },
    on: { on: { toggle: "off", login: "on" } },
  },
});

async function readTrace(file: string): Promise<TraceRecord[]> {
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as TraceRecord);
}

describe("createTraceWriter", () => {
  it("writes a real actor's inspection stream as JSON lines, actor refs as ids only", async () => {
    const file = join(dir, "t.jsonl");
    let t = 1_000;
    const trace = createTraceWriter({ file, now: () => t++ });
    const actor = createActor(toggle, { inspect: trace }).start();
    actor.send({ type: "toggle" });
    actor.send({ type: "toggle" });
    await trace.close();
    const records = await readTrace(file);
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    expect(records[0]?.at).toBe(1_000);
    const actorRecord = records.find((r) => r.type === "@xstate.actor");
    expect(actorRecord?.actor).toEqual({ id: actor.id, sessionId: actor.sessionId });
    expect(JSON.parse(actorRecord?.definition as string)).toMatchObject({ id: "toggle", initial: "off" });
    const events = records.filter((r) => r.type === "@xstate.event").map((r) => r.event?.type);
    expect(events).toEqual(["xstate.init", "toggle", "toggle"]);
    const snapshots = records.filter((r) => r.type === "@xstate.snapshot").map((r) => r.snapshot as { value: string; context: { count: number } });
    expect(snapshots.map((s) => s.value)).toEqual(["off", "on", "off"]);
    expect(snapshots.at(-1)?.context.count).toBe(1);
    expect(trace.written).toBe(records.length);
    // No actor object was written: no machine, no system, no logic.
    expect(JSON.stringify(records)).not.toMatch(/"(machine|system|logic|_parent)"/);
  });

  it("writes child actor refs in snapshots and parents as ids", async () => {
    const file = join(dir, "children.jsonl");
    const trace = createTraceWriter({ file });
    const parent = createMachine({
      id: "parent",
      invoke: { id: "kid", src: fromCallback(() => () => {}) },
    });
    const actor = createActor(parent, { inspect: trace }).start();
    await trace.close();
    actor.stop();
    const records = await readTrace(file);
    const kid = records.find((r) => r.type === "@xstate.actor" && r.actor.id === "kid");
    expect(kid?.parentId).toBe(actor.sessionId);
    const snap = records.find((r) => r.type === "@xstate.snapshot" && r.actor.sessionId === actor.sessionId);
    expect((snap?.snapshot as { children: Record<string, unknown> }).children["kid"]).toEqual({
      id: "kid",
      sessionId: kid?.actor.sessionId,
    });
  });

  it("keeps secrets out with sanitize, and drops records it returns undefined for", async () => {
    const file = join(dir, "s.jsonl");
    const trace = createTraceWriter({
      file,
      sanitize: (r) => {
        if (r.event?.type === "login") return undefined;
        if (r.snapshot !== undefined && typeof r.snapshot === "object" && r.snapshot !== null && "context" in r.snapshot) {
          return { ...r, snapshot: { ...r.snapshot, context: { ...(r.snapshot.context as object), token: "[redacted]" } } };
        }
        return r;
      },
    });
    const actor = createActor(toggle, { inspect: trace }).start();
    actor.send({ type: "toggle" });
    actor.send({ type: "login", password: "hunter2" });
    await trace.close();
    const text = await readFile(file, "utf8");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("s3cret-token");
    expect(text).toContain("[redacted]");
  });

  it("batches writes: nothing reaches the file before batchSize records or flush", async () => {
    const file = join(dir, "b.jsonl");
    const trace = createTraceWriter({ file, batchSize: 1_000, flushIntervalMs: 60_000 });
    const actor = createActor(toggle, { inspect: trace }).start();
    for (let i = 0; i < 10; i++) actor.send({ type: "toggle" });
    await new Promise((resolve) => setImmediate(resolve));
    expect(trace.written).toBe(0);
    await trace.flush();
    expect(trace.written).toBeGreaterThan(30);
    expect((await readTrace(file)).length).toBe(trace.written);
    await trace.close();
    await trace.close();
    actor.send({ type: "toggle" });
    expect((await readTrace(file)).length).toBe(trace.written);
  });

  it("drops records past maxBuffered instead of growing", async () => {
    const file = join(dir, "m.jsonl");
    const trace = createTraceWriter({ file, batchSize: 10_000, maxBuffered: 5 });
    const actor = createActor(toggle, { inspect: trace }).start();
    for (let i = 0; i < 10; i++) actor.send({ type: "toggle" });
    await trace.close();
    expect(trace.written).toBe(5);
    expect(trace.dropped).toBeGreaterThan(0);
  });

  it("rejects close with TRACE_FAILED when the file cannot be written", async () => {
    const trace = createTraceWriter({ file: join(dir, "missing-dir", "x.jsonl") });
    createActor(toggle, { inspect: trace }).start();
    await expect(trace.close()).rejects.toMatchObject({ code: "TRACE_FAILED", message: expect.stringContaining("ENOENT") });
  });

  it("validates its options", () => {
    expect(() => createTraceWriter({ file: "" })).toThrow(/"file" must be a file path or URL/);
    expect(() => createTraceWriter({ file: "x", batchSize: 0 })).toThrow(/"batchSize" must be a positive integer, received 0/);
  });
});

describe("toPlain", () => {
  it("serialises cycles, functions, bigints, errors, maps and sets safely", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic["self"] = cyclic;
    const shared = { x: 1 };
    const plain = toPlain(
      { cyclic, f: function named() {}, big: 10n, err: new RangeError("no"), map: new Map([["k", 1]]), set: new Set([1]), both: [shared, shared], inf: Infinity },
      0,
      new WeakSet(),
    );
    expect(plain).toEqual({
      cyclic: { a: 1, self: "[Circular]" },
      f: { type: "named" },
      big: "10n",
      err: { name: "RangeError", message: "no" },
      map: [["k", 1]],
      set: [1],
      both: [{ x: 1 }, { x: 1 }],
      inf: "Infinity",
    });
  });
});

describe("filterInspect", () => {
  it("passes only the listed types", () => {
    const seen: string[] = [];
    const actor = createActor(toggle, {
      inspect: filterInspect((e) => seen.push(e.type), { types: ["@xstate.event"] }),
    }).start();
    actor.send({ type: "toggle" });
    expect(new Set(seen)).toEqual(new Set(["@xstate.event"]));
    expect(seen).toHaveLength(2);
  });

  it("keeps 1 in N of a sampled type and every event of the others", () => {
    const seen: InspectionEvent[] = [];
    const actor = createActor(toggle, {
      inspect: filterInspect({ next: (e) => seen.push(e) }, { sample: { "@xstate.snapshot": 3 } }),
    }).start();
    for (let i = 0; i < 8; i++) actor.send({ type: "toggle" });
    const snapshots = seen.filter((e) => e.type === "@xstate.snapshot");
    expect(snapshots).toHaveLength(3); // 9 snapshots (init + 8): kept the 1st, 4th, 7th
    expect(snapshots.map((e) => (e as unknown as { snapshot: { context: { count: number } } }).snapshot.context.count)).toEqual([0, 2, 3]);
    expect(seen.filter((e) => e.type === "@xstate.event")).toHaveLength(9);
    expect(seen.filter((e) => e.type === "@xstate.actor")).toHaveLength(1);
  });

  it("validates types and sample rates", () => {
    expect(() => filterInspect(() => {}, { types: ["@xstate.nope" as never] })).toThrow(/"types\[0\]" must be one of/);
    expect(() => filterInspect(() => {}, { sample: { "@xstate.snapshot": 0 } })).toThrow(/must be a positive integer, received 0/);
    expect(() => filterInspect(5 as never)).toThrow(/"observer" must be a function or an observer, received 5/);
  });
});

describe("trace files on disk", () => {
  it("can be written by hand for replay tests", async () => {
    await writeFile(join(dir, "x.jsonl"), "");
    expect(await readTrace(join(dir, "x.jsonl"))).toEqual([]);
  });
});
