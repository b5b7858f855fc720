/**
 * Checks that a value can cross a thread boundary (structured clone) without cloning it: no
 * functions, symbols, or class instances structured clone would reject. Used on task inputs on
 * the main thread and on results in the worker thread.
 *
 * @module
 */

const MAX_DEPTH = 64;

/**
 * Returns null when `value` can cross threads, otherwise a path and a reason, e.g.
 * `{ path: "input.cb", reason: "a function" }`.
 */
export function findUncloneable(value: unknown, path = "input"): { path: string; reason: string } | null {
  return walk(value, path, 0, new Set());
}

function walk(value: unknown, path: string, depth: number, seen: Set<object>): { path: string; reason: string } | null {
  switch (typeof value) {
    case "function":
      return { path, reason: "a function" };
    case "symbol":
      return { path, reason: "a symbol" };
    case "object":
      break;
    default:
      return null;
  }
  if (value === null || seen.has(value)) return null;
  if (depth > MAX_DEPTH) return null;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp) return null;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = walk(value[i], `${path}[${i}]`, depth + 1, seen);
      if (bad) return bad;
    }
    return null;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const bad = walk(k, `${path}.<key>`, depth + 1, seen) ?? walk(v, `${path}.get(${String(k)})`, depth + 1, seen);
      if (bad) return bad;
    }
    return null;
  }
  if (value instanceof Set) {
    for (const v of value) {
      const bad = walk(v, `${path}.<item>`, depth + 1, seen);
      if (bad) return bad;
    }
    return null;
  }
  if (value instanceof Error) return null;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    // Structured clone drops the prototype of class instances; that is legal, so only look inside.
  }
  for (const key of Object.keys(value)) {
    const bad = walk((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1, seen);
    if (bad) return bad;
  }
  return null;
}
