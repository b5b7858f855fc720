/**
 * The worker module raw Piscina runs in the `pool` bench: the same work as the hive's built-in
 * handlers, with no apiary code around it.
 *
 * @module
 */
import { burn } from "../workers/burn.ts";

/** Runs one raw task. */
export default function raw(task: { kind: "echo" | "burn"; input: unknown }): unknown {
  return task.kind === "burn" ? burn(task.input as { ms: number }) : task.input;
}
