/**
 * The coordinator's dependency breakers, mirrored to the nodes through Redis: the coordinator
 * writes its shared state buffer (see `DEP_LAYOUT`) to a key whenever it changes, and each node
 * copies it into the buffer its own threads read, so `ctx.dependency(name)` in a node's thread
 * fails fast while the coordinator's circuit is open. The calls' outcomes travel back with the
 * job's outcomes and are recorded by the coordinator's breakers, as on one machine.
 *
 * Rate limits travel with the states (each limited slot's `max`, `perMs` and `wait`), and a node
 * marks them counted elsewhere: its threads ask its main thread, which counts each call in the
 * cluster's Redis log (`rate-log.ts`), where the coordinator counts its own.
 *
 * What the mirror cannot keep across machines: half-open probe tokens are counted per node (each
 * node may send its probe), and a node sees a transition one check period (`remote.checkMs`) and
 * a Redis round trip after it happened.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { DEP_LAYOUT, RATE_LAYOUT } from "../../../workers/protocol.ts";
import { COUNTED_ELSEWHERE, RateWindows } from "../../../workers/rate-window.ts";

/** A snapshot as it crosses Redis: the states' bytes (base64) and each limited slot's `[slot, max, perMs, wait]`. */
interface Snapshot {
  states: string;
  rates: [slot: number, max: number, perMs: number, wait: boolean][];
}

/**
 * The part of the buffer that matters (the words, and the names as far as they are written, as
 * base64) and the rate limits, as JSON.
 */
export function snapshotStates(buffer: SharedArrayBuffer): string {
  const words = new Int32Array(buffer, 0, DEP_LAYOUT.namesAt / 4);
  const length = Atomics.load(words, 1);
  const bytes = new Uint8Array(DEP_LAYOUT.namesAt + length);
  bytes.set(new Uint8Array(buffer, 0, DEP_LAYOUT.namesAt + length));
  const rates: Snapshot["rates"] = [];
  if (buffer.byteLength >= RATE_LAYOUT.bytes) {
    const windows = new RateWindows(buffer);
    for (let slot = 0; slot < DEP_LAYOUT.SLOTS; slot++) {
      const limit = windows.limitOf(slot);
      if (limit !== undefined) rates.push([slot, limit.max, limit.perMs, limit.wait]);
    }
  }
  return JSON.stringify({ states: Buffer.from(bytes).toString("base64"), rates } satisfies Snapshot);
}

/**
 * Copies a {@link snapshotStates} into a node's buffer. Rate limits first, marked counted
 * elsewhere (so a thread that finds a new name finds its limit too); names are rewritten under
 * the seqlock the threads read them by (the version odd while they change).
 */
export function applyStates(buffer: SharedArrayBuffer, snapshot: string): void {
  let parsed: Snapshot;
  try {
    parsed = JSON.parse(snapshot) as Snapshot;
  } catch {
    return;
  }
  if (typeof parsed?.states !== "string" || !Array.isArray(parsed.rates)) return;
  if (buffer.byteLength >= RATE_LAYOUT.bytes) {
    const windows = new RateWindows(buffer);
    const limited = new Set<number>();
    for (const [slot, max, perMs, wait] of parsed.rates) {
      if (!Number.isInteger(slot) || slot < 0 || slot >= DEP_LAYOUT.SLOTS) continue;
      limited.add(slot);
      const now = windows.limitOf(slot);
      if (now?.max !== max || now.perMs !== perMs || now.wait !== wait || !now.elsewhere) windows.configure(slot, max, perMs, COUNTED_ELSEWHERE, wait);
    }
    for (let slot = 0; slot < DEP_LAYOUT.SLOTS; slot++) if (!limited.has(slot) && windows.limitOf(slot) !== undefined) windows.clear(slot);
  }
  const bytes = new Uint8Array(Buffer.from(parsed.states, "base64"));
  if (bytes.length < DEP_LAYOUT.namesAt) return;
  const remote = new Int32Array(bytes.buffer, bytes.byteOffset, DEP_LAYOUT.namesAt / 4);
  const words = new Int32Array(buffer, 0, DEP_LAYOUT.namesAt / 4);
  const version = remote[0]! & ~1;
  if (Atomics.load(words, 0) !== version) {
    const length = Math.min(remote[1]!, DEP_LAYOUT.NAME_BYTES, bytes.length - DEP_LAYOUT.namesAt);
    Atomics.store(words, 0, Atomics.load(words, 0) | 1);
    new Uint8Array(buffer, DEP_LAYOUT.namesAt, DEP_LAYOUT.NAME_BYTES).set(bytes.subarray(DEP_LAYOUT.namesAt, DEP_LAYOUT.namesAt + length));
    Atomics.store(words, 1, length);
    copySlots(words, remote);
    Atomics.store(words, 0, version);
    return;
  }
  copySlots(words, remote);
}

function copySlots(words: Int32Array, remote: Int32Array): void {
  for (let i = DEP_LAYOUT.SLOTS_AT; i < remote.length; i++) {
    const v = remote[i]!;
    if (Atomics.load(words, i) !== v) Atomics.store(words, i, v);
  }
}
