/**
 * The built-in task handlers every worker thread offers (a user's module may override a kind).
 * `echo` is here; each of the others lives in a module of its own that a thread loads when it
 * first runs that kind. A thread that never runs one starts without it: every module in a
 * thread's first load adds to its start, and a thread starts again after every exit, crash or
 * out-of-memory.
 *
 * @module
 */
import type { TaskHandler, TaskHandlers } from "./define.ts";

/** A built-in handler in a module of its own. */
export interface LazyBuiltin {
  /** Its module's URL, for a synchronous load. */
  readonly url: string;
  /** Its export's name in that module. */
  readonly name: string;
  /** Imports its module (where it cannot load synchronously). */
  readonly load: () => Promise<Record<string, unknown>>;
}

// ".ts" when running from source (Deno, vitest), ".js" from the build.
const here = import.meta.url;
const ext = /\.ts$/.test(new URL(here).pathname) ? ".ts" : ".js";

function lazy(name: string, load: () => Promise<Record<string, unknown>>): LazyBuiltin {
  return { url: new URL(`./${name}${ext}`, here).href, name, load };
}

/** Built-in handlers loaded with this module: `echo`. */
export const builtins: Readonly<TaskHandlers> = {
  echo: ((input: unknown) => input) as TaskHandler,
};

/** The built-ins loaded on first use, by kind: `energy`, `montecarlo`, `burn`. */
export const lazyBuiltins: Readonly<Record<string, LazyBuiltin>> = {
  energy: lazy("energy", () => import("./energy.ts")),
  montecarlo: lazy("montecarlo", () => import("./montecarlo.ts")),
  burn: lazy("burn", () => import("./burn.ts")),
};
