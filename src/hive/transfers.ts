/**
 * The hive's record of which task inputs move to their thread rather than being copied (a
 * task's `transfer`): the intake notes a task's buffers by its input, and the port hands them to
 * the backend with each attempt of it. Kept by the input's identity, which stays the same from
 * the submit to the thread, so the actors carry nothing more.
 *
 * @module
 */

/** Buffers to move, by the task input they belong to. */
export class TaskTransfers {
  readonly #byInput = new WeakMap<object, readonly ArrayBuffer[]>();
  /** False until a task asks for a transfer: the port then looks nothing up. */
  used = false;

  /** Notes that the buffers of `input` listed in the task's `transfer` move with it. */
  set(input: object, buffers: readonly ArrayBuffer[]): void {
    this.used = true;
    this.#byInput.set(input, buffers);
  }

  /** The buffers that move with `input`, if any. */
  of(input: unknown): readonly ArrayBuffer[] | undefined {
    return this.used && typeof input === "object" && input !== null ? this.#byInput.get(input) : undefined;
  }
}
