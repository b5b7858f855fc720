/**
 * Where the worker-thread modules are. Decided once: Node runs the compiled JavaScript in
 * `dist/workers/`; Deno (and Node with type stripping, >= 22.18) run `workers/*.ts` as is.
 * When this file runs from TypeScript source on a Node that cannot strip types (vitest on
 * Node 20), threads load the build in `dist/` — `npm run build` makes it.
 *
 * @module
 */
import { InvalidOptionsError } from "../core/errors.ts";

/** True on Deno. */
export const isDeno: boolean = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

/** URL of a worker module: `entry` (Piscina) or `web-entry` (comlink). */
export function workerFileUrl(name: "entry" | "web-entry"): URL {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new URL(`../../workers/${name}.js`, here);
  const strips = isDeno || Boolean((globalThis as { process?: { features?: { typescript?: unknown } } }).process?.features?.typescript);
  return strips ? new URL(`../../workers/${name}.ts`, here) : new URL(`../../dist/workers/${name}.js`, here);
}

/**
 * The error a thread pool's start gives when Node refused to start a thread: `execArgv` holding
 * flags Node does not take per thread becomes INVALID_OPTIONS naming it; anything else as it is.
 */
export function threadStartError(error: unknown, execArgv: readonly string[] | undefined): unknown {
  if ((error as { code?: unknown } | null)?.code !== "ERR_WORKER_INVALID_EXEC_ARGV") return error;
  return new InvalidOptionsError(
    `Cannot start the hive: "execArgv" must hold flags Node accepts for a worker thread (no V8 flags such as --max-old-space-size: use resourceLimits), received ${JSON.stringify(execArgv)}`,
    { cause: error },
  );
}
