/**
 * Zero-copy values between threads: what `transfer: [...]` on a task and `transfer(value, list)`
 * from a handler move instead of copying, and the checks both sides make. Imports nothing.
 *
 * @module
 */
import { describeValue, InvalidOptionsError } from "../src/core/errors.ts";

/**
 * What can be moved to another thread: an `ArrayBuffer`, or a typed array / `DataView` (its whole
 * buffer moves). Typed as TypeScript types `.buffer` (`ArrayBufferLike`); a `SharedArrayBuffer`
 * is refused: it is shared already.
 */
export type TransferItem = ArrayBufferLike | ArrayBufferView;

/** Marks a handler's result as {@link transfer}'s (a global symbol: the brand survives two copies of this module). */
const TRANSFERRED: unique symbol = Symbol.for("apiary.transfer") as never;

/** A handler's result that moves `list` back instead of copying it (made by {@link transfer}). */
export interface Transferred<T> {
  readonly [TRANSFERRED]: true;
  readonly value: T;
  readonly list: readonly TransferItem[];
}

/**
 * Returns `value` from a handler so that the buffers in `list` move back to the caller instead of
 * being copied: a 64 MB result then costs a pointer, not a copy. After it, the thread can no
 * longer use those buffers. On the inline backend (same thread) the value passes as it is.
 *
 * @param value the handler's result
 * @param list the `ArrayBuffer`s (or typed arrays / `DataView`s, whose whole buffer moves) inside `value` to move
 * @throws InvalidOptionsError when `list` is not an array of ArrayBuffers and typed arrays (or one is detached)
 * @example
 * ```ts
 * import { defineTasks, transfer } from "apiary/worker";
 * export default defineTasks({
 *   invert: (bytes: Uint8Array) => {
 *     for (let i = 0; i < bytes.length; i++) bytes[i] = 255 - bytes[i]!;
 *     return transfer(bytes, [bytes.buffer]);
 *   },
 * });
 * ```
 */
export function transfer<T>(value: T, list: readonly TransferItem[]): T {
  const bad = invalidTransferItem(list);
  if (bad !== null) throw new InvalidOptionsError(`Cannot transfer a result: "list${bad.at}" ${bad.problem}`);
  return { [TRANSFERRED]: true, value, list } satisfies Transferred<T> as unknown as T;
}

/** True when `value` is what {@link transfer} returned. */
export function isTransferred(value: unknown): value is Transferred<unknown> {
  return value !== null && typeof value === "object" && (value as { [TRANSFERRED]?: unknown })[TRANSFERRED] === true;
}

/**
 * What is wrong with a transfer list, or null when nothing is: `at` is where (`""` for the list
 * itself, `"[2]"` for an item), `problem` a phrase ("must be …, received …").
 */
export function invalidTransferItem(list: unknown): { at: string; problem: string } | null {
  if (!Array.isArray(list)) return { at: "", problem: `must be an array of ArrayBuffers or typed arrays, received ${describeValue(list)}` };
  for (let i = 0; i < list.length; i++) {
    const item: unknown = list[i];
    const at = `[${i}]`;
    if (item instanceof ArrayBuffer || (ArrayBuffer.isView(item) && item.buffer instanceof ArrayBuffer)) {
      if (isDetached(bufferOf(item))) return { at, problem: "must not be detached, received an ArrayBuffer already transferred" };
      continue;
    }
    if (typeof SharedArrayBuffer === "function" && item instanceof SharedArrayBuffer) {
      return { at, problem: 'must be an ArrayBuffer, received a SharedArrayBuffer (shared already: leave it out of "transfer")' };
    }
    if (ArrayBuffer.isView(item)) return { at, problem: 'must be an ArrayBuffer or a typed array over one, received a view of a SharedArrayBuffer (shared already: leave it out of "transfer")' };
    return { at, problem: `must be an ArrayBuffer or a typed array, received ${describeValue(item)}` };
  }
  return null;
}

/** Every `ArrayBuffer` inside `value` (itself, typed arrays' and DataViews' buffers, in arrays, plain objects, Maps and Sets). */
export function buffersInside(value: unknown, into = new Set<ArrayBuffer>(), seen = new Set<object>(), depth = 0): Set<ArrayBuffer> {
  if (value === null || typeof value !== "object" || seen.has(value) || depth > 64) return into;
  if (value instanceof ArrayBuffer) into.add(value);
  else if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer) into.add(value.buffer);
  } else {
    seen.add(value);
    const items = value instanceof Map ? [...value.keys(), ...value.values()] : value instanceof Set ? [...value] : Array.isArray(value) ? value : Object.values(value);
    for (const v of items) buffersInside(v, into, seen, depth + 1);
  }
  return into;
}

/** The buffer an item moves. */
export function bufferOf(item: TransferItem): ArrayBuffer {
  return (ArrayBuffer.isView(item) ? item.buffer : item) as ArrayBuffer;
}

/** The distinct buffers of a list (a buffer listed twice would make the transfer throw). */
export function buffersOf(list: readonly TransferItem[], into: ArrayBuffer[] = []): ArrayBuffer[] {
  for (const item of list) {
    const b = bufferOf(item);
    if (!into.includes(b)) into.push(b);
  }
  return into;
}

/** True when `buffer` was transferred away (detached); a zero-length buffer is not. */
export function isDetached(buffer: ArrayBuffer): boolean {
  const own = (buffer as { detached?: boolean }).detached;
  if (typeof own === "boolean") return own;
  if (buffer.byteLength !== 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}
