/**
 * The built-in task handlers every worker thread offers (a user's module may override a kind).
 *
 * @module
 */
import { burn } from "./burn.ts";
import type { TaskHandlers } from "./define.ts";
import { energy } from "./energy.ts";
import { montecarlo } from "./montecarlo.ts";

/** Built-in handlers by kind: `energy`, `montecarlo`, `burn`, `echo`. */
export const builtins: TaskHandlers = {
  energy,
  montecarlo,
  burn,
  echo: (input: unknown) => input,
};
