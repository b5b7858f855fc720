/**
 * Where the worker-thread modules are. Decided once: Node runs the compiled JavaScript in
 * `dist/workers/`; Deno (and Node with type stripping, >= 22.18) run `workers/*.ts` as is.
 * When this file runs from TypeScript source on a Node that cannot strip types (vitest on
 * Node 20), threads load the build in `dist/` — `npm run build` makes it.
 *
 * @module
 */

/** True on Deno. */
export const isDeno: boolean = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

/** URL of a worker module: `entry` (Piscina) or `web-entry` (comlink). */
export function workerFileUrl(name: "entry" | "web-entry"): URL {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new URL(`../../workers/${name}.js`, here);
  const strips = isDeno || Boolean((globalThis as { process?: { features?: { typescript?: unknown } } }).process?.features?.typescript);
  return strips ? new URL(`../../workers/${name}.ts`, here) : new URL(`../../dist/workers/${name}.js`, here);
}
