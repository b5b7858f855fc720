/**
 * The task module of the `transfer` bench: handlers that give their input back, copied or moved.
 *
 * @module
 */
import { defineTasks, transfer } from "../workers/define.ts";

export default defineTasks({
  /** Returns the buffer; it is copied back. */
  keep: (buffer: ArrayBuffer) => buffer,
  /** Returns the buffer with `transfer`: it moves back. */
  giveBack: (buffer: ArrayBuffer) => transfer(buffer, [buffer]),
});
