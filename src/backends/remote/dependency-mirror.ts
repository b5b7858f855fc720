/**
 * The coordinator's dependency breakers, mirrored to the nodes through Redis: the coordinator
 * writes its shared state buffer (see `DEP_LAYOUT`) to a key whenever it changes, and each node
 * copies it into the buffer its own threads read, so `ctx.dependency(name)` in a node's thread
 * fails fast while the coordinator's circuit is open. The calls' outcomes travel back with the
 * job's outcomes and are recorded by the coordinator's breakers, as on one machine.
 *
 * What the mirror cannot keep across machines: half-open probe tokens are counted per node (each
 * node may send its probe), and a node sees a transition one check period (`remote.checkMs`) and
 * a Redis round trip after it happened.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { DEP_LAYOUT } from "../../../workers/protocol.ts";

/** The part of the buffer that matters (the words, and the names as far as they are written), as base64. */
export function snapshotStates(buffer: SharedArrayBuffer): string {
  const words = new Int32Array(buffer, 0, DEP_LAYOUT.namesAt / 4);
  const length = Atomics.load(words, 1);
  const bytes = new Uint8Array(DEP_LAYOUT.namesAt + length);
  bytes.set(new Uint8Array(buffer, 0, DEP_LAYOUT.namesAt + length));
  return Buffer.from(bytes).toString("base64");
}

/**
 * Copies a {@link snapshotStates} into a node's buffer. Names are rewritten under the seqlock
 * the threads read them by (the version odd while they change).
 */
export function applyStates(buffer: SharedArrayBuffer, snapshot: string): void {
  const bytes = new Uint8Array(Buffer.from(snapshot, "base64"));
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
