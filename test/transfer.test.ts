// Zero-copy data between threads: a task's `transfer` moves its input's buffers to the thread,
// a handler's `transfer(value, list)` moves its result back, and what cannot be moved is refused
// with a clear error — on real Piscina threads, and on the inline backend.
import { afterEach, describe, expect, it } from "vitest";
import { createHive, createMemoryStore, type Hive } from "../src/index.ts";
import { transfer } from "../workers/define.ts";
import { isDetached } from "../workers/transfer.ts";

const tasks = new URL("./fixtures/binary-tasks.mjs", import.meta.url);
const hives: Hive[] = [];

async function startedOn(options: Partial<Parameters<typeof createHive>[0]> = {}): Promise<Hive> {
  const hive = createHive({ backend: "piscina", threads: 1, tasks, agents: [{ id: "a", concurrency: 2 }], ...options });
  hives.push(hive);
  await hive.start();
  return hive;
}

const started = (options: Partial<Parameters<typeof createHive>[0]> = {}): Promise<Hive> => startedOn(options);

afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

function bytes(size: number, first: number, last: number): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = first;
  b[size - 1] = last;
  return b;
}

describe.each(["piscina", "comlink"] as const)("transfer on the %s backend", (backend) => {
  const started = (options: Partial<Parameters<typeof createHive>[0]> = {}): Promise<Hive> => startedOn({ backend, ...options });

  it("moves the input's buffer to the thread: the caller's is detached, the handler sees the data", async () => {
    const hive = await started();
    const input = bytes(1 << 20, 7, 9);
    const handle = hive.submit({ kind: "inspect", input, transfer: [input.buffer] });
    await expect(handle.result).resolves.toEqual({ byteLength: 1 << 20, first: 7, last: 9 });
    expect(input.buffer.byteLength).toBe(0);
    expect(isDetached(input.buffer as ArrayBuffer)).toBe(true);
  });

  it("takes a typed array in the list for its buffer", async () => {
    const hive = await started();
    const input = { name: "frame", pixels: bytes(4096, 1, 2) };
    await expect(hive.run({ kind: "inspect", input: input.pixels, transfer: [input.pixels] })).resolves.toEqual({ byteLength: 4096, first: 1, last: 2 });
    expect(input.pixels.byteLength).toBe(0);
  });

  it("copies without `transfer`: the caller keeps its buffer", async () => {
    const hive = await started();
    const input = bytes(4096, 5, 6);
    await expect(hive.run({ kind: "inspect", input })).resolves.toEqual({ byteLength: 4096, first: 5, last: 6 });
    expect(input.byteLength).toBe(4096);
    expect(input[0]).toBe(5);
  });

  it("brings back a result returned with transfer(value, list) intact, buffers in a batch included", async () => {
    const hive = await started();
    const results = await Promise.all([1, 2, 3].map((fill) => hive.run<{ bytes: Uint8Array }>({ kind: "make", input: { size: 1 << 16, fill } })));
    for (const [i, r] of results.entries()) {
      expect(r.bytes).toBeInstanceOf(Uint8Array);
      expect(r.bytes.byteLength).toBe(1 << 16);
      expect(r.bytes.every((b) => b === i + 1)).toBe(true);
    }
  });

  it("moves a buffer there and back: the caller gets the handler's bytes", async () => {
    const hive = await started();
    const input = Uint8Array.from([0, 1, 254]);
    const out = await hive.run<Uint8Array>({ kind: "invert", input, transfer: [input.buffer] });
    expect([...out]).toEqual([255, 254, 1]);
    expect(input.byteLength).toBe(0);
  });

  it("fails a task whose thread died after its input was moved to it, instead of sending a detached buffer again", async () => {
    const hive = await started();
    const input = bytes(1024, 1, 1);
    const error = await hive.run({ kind: "exit", input, transfer: [input.buffer] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "WORKER_CRASHED" });
    // The pool healed: the next task runs.
    await expect(hive.run({ kind: "inspect", input: bytes(8, 3, 4) })).resolves.toEqual({ byteLength: 8, first: 3, last: 4 });
  });
});

describe("transfer and a crashed agent", () => {
  it("fails, instead of sending a detached buffer, the attempt a crashed agent's task would run again", async () => {
    const hive = await started({ supervision: { backoff: { minMs: 10, maxMs: 10 } } });
    const bytes = new Uint8Array(1024);
    const handle = hive.submit({ kind: "hold", input: { bytes }, transfer: [bytes] });
    // Crash the agent once the input has moved to the thread (polled: the send is the pool's).
    for (let i = 0; i < 250 && bytes.byteLength !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(bytes.byteLength).toBe(0);
    hive.failAgent("a", "test crash");
    await expect(handle.result).rejects.toMatchObject({ code: "INVALID_TASK", message: expect.stringContaining('its input was moved ("transfer") to the thread of an earlier run and is gone') });
  });
});

describe("transfer validation", () => {
  it("refuses a list that is not of buffers, naming the item and the value", async () => {
    const hive = await started();
    const input = { data: new ArrayBuffer(8) };
    expect(() => hive.submit({ kind: "inspect", input, transfer: [input.data, "x" as never] })).toThrow(
      expect.objectContaining({ code: "INVALID_TASK", message: expect.stringContaining('"transfer[1]" must be an ArrayBuffer or a typed array, received "x"') }),
    );
    expect(() => hive.submit({ kind: "inspect", input, transfer: "all" as never })).toThrow(/"transfer" must be an array of ArrayBuffers or typed arrays/);
    expect(input.data.byteLength).toBe(8);
  });

  it("refuses a buffer that is not in the input, and one already detached", async () => {
    const hive = await started();
    const input = new ArrayBuffer(8);
    expect(() => hive.submit({ kind: "inspect", input, transfer: [new ArrayBuffer(8)] })).toThrow(/"transfer\[0\]" must be a buffer inside "input"/);
    structuredClone(input, { transfer: [input] });
    expect(() => hive.submit({ kind: "inspect", input, transfer: [input] })).toThrow(/"transfer\[0\]" must not be detached/);
  });

  it("refuses retries with transfer: the input runs once", async () => {
    const hive = await started({ defaults: { retries: 2 } });
    const input = new ArrayBuffer(8);
    expect(() => hive.submit({ kind: "inspect", input, transfer: [input] })).toThrow(/"retries" must be 0, received 2 \(the hive's "defaults.retries"\)/);
    expect(() => hive.submit({ kind: "inspect", input, transfer: [input], retries: 1 })).toThrow(/"retries" must be 0, received 1$/);
    await expect(hive.run({ kind: "inspect", input, transfer: [input], retries: 0 })).resolves.toMatchObject({ byteLength: 8 });
  });

  it("refuses transfer in a durable hive, whose journal keeps inputs as JSON", async () => {
    const hive = await started({ backend: "inline", store: createMemoryStore(), durability: "batched" });
    const input = new ArrayBuffer(8);
    expect(() => hive.submit({ kind: "inspect", input, transfer: [input] })).toThrow(/"transfer" is not for a durable hive/);
    expect(input.byteLength).toBe(8);
  });

  it("refuses a SharedArrayBuffer view: shared memory needs no move", async () => {
    const hive = await started();
    const input = new Int32Array(new SharedArrayBuffer(8));
    expect(() => hive.submit({ kind: "inspect", input, transfer: [input] })).toThrow(/"transfer\[0\]" must be an ArrayBuffer or a typed array over one, received a view of a SharedArrayBuffer/);
  });

  it("transfer(value, list) refuses a list that is not of buffers", () => {
    expect(() => transfer({}, [1 as never])).toThrow(/"list\[0\]" must be an ArrayBuffer or a typed array, received 1/);
  });
});

describe("transfer on the inline backend", () => {
  it("passes the input by reference (nothing to move on one thread) and unwraps a transferred result", async () => {
    const hive = await started({ backend: "inline" });
    const input = Uint8Array.from([10, 20]);
    const out = await hive.run<Uint8Array>({ kind: "invert", input, transfer: [input.buffer] });
    expect([...out]).toEqual([245, 235]);
    expect(out).toBe(input);
    expect(input.byteLength).toBe(2);
  });
});
