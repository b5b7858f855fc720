/**
 * Bench scope `transfer`: a 64 MB `ArrayBuffer` sent to a thread and given back, on a one-thread
 * hive (Piscina backend) and on raw Piscina, in one process: copied both ways, and moved both
 * ways (the task's `transfer` and the handler's `transfer(value, list)`; raw Piscina's
 * `transferList` and `Piscina.move`). Reports round trips per second, ms per round trip in
 * `extra`, and what moving saves over copying.
 *
 * @module
 */
import { Piscina } from "piscina";
import { createHive } from "../src/index.ts";
import type { BenchResult, BenchScope } from "./harness.ts";

const BYTES = 64 * 1024 * 1024;

/** Runs `trips` round trips one after another (after three to warm up); returns round trips per second. */
async function roundTrips(trip: (buffer: ArrayBuffer) => Promise<ArrayBuffer>, trips: number): Promise<number> {
  let buffer = new ArrayBuffer(BYTES);
  for (let i = 0; i < 3; i++) buffer = await trip(buffer);
  const t0 = performance.now();
  for (let i = 0; i < trips; i++) buffer = await trip(buffer);
  const elapsed = performance.now() - t0;
  if (buffer.byteLength !== BYTES) throw new Error(`the buffer came back with ${buffer.byteLength} bytes`);
  return (trips * 1_000) / elapsed;
}

/** Best of `rounds` alternating measurements of two ways (ops/s each, unrounded). */
async function alternate(a: () => Promise<number>, b: () => Promise<number>, rounds: number): Promise<[number, number]> {
  let bestA = 0;
  let bestB = 0;
  for (let i = 0; i < rounds; i++) {
    bestB = Math.max(bestB, await b());
    bestA = Math.max(bestA, await a());
  }
  return [bestA, bestB];
}

const ms = (perSec: number): number => Math.round((1_000 / perSec) * 100) / 100;
const ratio = (a: number, b: number): number => Math.round((a / b) * 1_000) / 1_000;

function row(name: string, baseline: string, perSec: number, basePerSec: number, extra: Record<string, number>): BenchResult {
  return { name, opsPerSec: perSec, baseline, baselineOpsPerSec: basePerSec, ratio: ratio(perSec, basePerSec), extra };
}

const transferScope: BenchScope = async ({ quick }) => {
  const raw = new Piscina({ filename: new URL("./transfer-raw-worker.js", import.meta.url).href, minThreads: 1, maxThreads: 1 });
  const hive = createHive({ backend: "piscina", threads: 1, tasks: new URL("./transfer-tasks.js", import.meta.url), agents: [{ id: "a" }] });
  await hive.start();
  const trips = quick ? 3 : 10;
  const rounds = quick ? 1 : 3;
  try {
    const hiveCopy = (b: ArrayBuffer): Promise<ArrayBuffer> => hive.run<ArrayBuffer>({ kind: "keep", input: b });
    const hiveMove = (b: ArrayBuffer): Promise<ArrayBuffer> => hive.run<ArrayBuffer>({ kind: "giveBack", input: b, transfer: [b] });
    const rawCopy = (b: ArrayBuffer): Promise<ArrayBuffer> => raw.run({ buffer: b, moveBack: false }) as Promise<ArrayBuffer>;
    const rawMove = (b: ArrayBuffer): Promise<ArrayBuffer> => raw.run({ buffer: b, moveBack: true }, { transferList: [b] }) as Promise<ArrayBuffer>;
    const [hiveMoved, rawMoved] = await alternate(() => roundTrips(hiveMove, trips), () => roundTrips(rawMove, trips), rounds);
    const [hiveCopied, rawCopied] = await alternate(() => roundTrips(hiveCopy, trips), () => roundTrips(rawCopy, trips), rounds);
    return [
      row("64 MB there and back, moved", "raw piscina transferList + move", hiveMoved, rawMoved, { msPerTrip: ms(hiveMoved), rawMsPerTrip: ms(rawMoved) }),
      row("64 MB there and back, copied", "raw piscina copying", hiveCopied, rawCopied, { msPerTrip: ms(hiveCopied), rawMsPerTrip: ms(rawCopied) }),
      row("64 MB there and back: moved vs copied", "the hive copying", hiveMoved, hiveCopied, { rawMovedVsCopied: ratio(rawMoved, rawCopied) }),
    ];
  } finally {
    await hive.stop();
    await raw.destroy();
  }
};

export default transferScope;
