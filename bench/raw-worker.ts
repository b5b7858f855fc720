/**
 * The worker module raw Piscina runs in the `pool` and `load` benches: the same work as the hive's built-in
 * handlers, with no apiary code around it.
 *
 * @module
 */
import { burn } from "../workers/burn.ts";
import { montecarlo, type MonteCarloInput } from "../workers/montecarlo.ts";

/** Runs one raw task. */
export default function raw(task: { kind: "echo" | "burn" | "montecarlo"; input: unknown }): unknown {
  if (task.kind === "burn") return burn(task.input as { ms: number });
  if (task.kind === "montecarlo") return montecarlo(task.input as MonteCarloInput);
  return task.input;
}
