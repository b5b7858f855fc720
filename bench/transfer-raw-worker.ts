/**
 * The worker module raw Piscina runs in the `transfer` bench: gives its input back, copied or
 * moved with `Piscina.move`.
 *
 * @module
 */
import { move } from "piscina";

/** Returns the buffer, moved back when `moveBack` is set. */
export default function raw(task: { buffer: ArrayBuffer; moveBack: boolean }): unknown {
  return task.moveBack ? move(task.buffer) : task.buffer;
}
