/**
 * Loads a module on a worker thread without the asynchronous ES module loader where the
 * runtime allows it. On Node (>= 20.19) `require()` evaluates an ES module synchronously: the
 * thread then needs none of the loader's asynchronous machinery (`fs/promises` and the modules
 * it pulls in), which makes up most of what a thread spends, beyond Node's own start, before
 * it can answer — and a thread starts again after every exit, crash or out-of-memory.
 *
 * @module
 */

type Require = (id: string) => unknown;

/** Node's `require` and `fileURLToPath`, when `require` can load ES modules; undefined elsewhere (Deno, browsers, older Node). */
const node: { require: Require; fileURLToPath: (url: string) => string } | undefined = (() => {
  if (typeof (globalThis as { Deno?: unknown }).Deno !== "undefined") return undefined;
  const proc = (globalThis as { process?: { features?: { require_module?: boolean }; getBuiltinModule?: (id: string) => unknown } }).process;
  if (proc?.features?.require_module !== true || typeof proc.getBuiltinModule !== "function") return undefined;
  const { createRequire } = proc.getBuiltinModule("node:module") as { createRequire: (from: string) => Require };
  const { fileURLToPath } = proc.getBuiltinModule("node:url") as { fileURLToPath: (url: string) => string };
  return { require: createRequire(import.meta.url), fileURLToPath };
})();

/**
 * The namespace of the ES module at `url`, loaded synchronously — or undefined when this runtime
 * cannot (not Node, not a `file:` URL, a module with top-level `await`, a CommonJS module, a
 * file Node cannot load this way, or any error): the caller then uses `import()`, which reports
 * the module's own errors the usual way and shares the same module instance.
 */
export function loadModuleSync(url: string): { default?: unknown } | undefined {
  if (node === undefined || !url.startsWith("file:")) return undefined;
  try {
    const ns = node.require(node.fileURLToPath(url));
    // A CommonJS module gives its `module.exports`, not the namespace `import()` gives.
    return Object.prototype.toString.call(ns) === "[object Module]" ? (ns as { default?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `loadModuleSync` that a pool closing can wait out. Node 20 aborts the whole process (a V8
 * check, `IsGraphAsync … must be used on an instantiated module`) when a thread is terminated
 * inside `require()` of an ES module; the pool terminates its threads as it closes, one of them
 * perhaps a replacement loading its task module. So a thread counts itself in `LOADING` before
 * it loads, then looks at `CLOSING`: raised, it leaves the load to `import()` (which a
 * termination interrupts safely). The pool raises `CLOSING`, then waits for `LOADING` to reach 0
 * (both sequentially consistent, so no thread is inside a synchronous load once it reads 0).
 */
export function guardedLoad(guard: Int32Array | null): (url: string) => { default?: unknown } | undefined {
  if (guard === null) return loadModuleSync;
  return (url) => {
    Atomics.add(guard, 0, 1);
    try {
      return Atomics.load(guard, 1) === 0 ? loadModuleSync(url) : undefined;
    } finally {
      Atomics.sub(guard, 0, 1);
    }
  };
}
