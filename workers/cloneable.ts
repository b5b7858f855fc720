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

/**
 * Returns null when JSON carries `value` faithfully (plain objects, arrays, strings, finite
 * numbers, booleans, null; `undefined` object fields, which JSON drops, read back the same),
 * otherwise a path and a reason, e.g. `{ path: "input.ids", reason: "a Set" }`. For what is
 * written as JSON: a journal's inputs, a worker node's jobs.
 */
export function findNonJson(value: unknown, path = "input"): { path: string; reason: string } | null {
  return walkJson(value, path, 0, new Set());
}

function walkJson(value: unknown, path: string, depth: number, seen: Set<object>): { path: string; reason: string } | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(value) ? null : { path, reason: String(value) };
    case "bigint":
      return { path, reason: "a BigInt" };
    case "undefined":
      return { path, reason: "undefined" };
    case "object":
      break;
    default:
      return { path, reason: `a ${typeof value}` };
  }
  if (value === null) return null;
  if (seen.has(value)) return { path, reason: "a circular reference" };
  if (depth > MAX_DEPTH) return { path, reason: `nesting deeper than ${MAX_DEPTH}` };
  if (Array.isArray(value)) {
    seen.add(value);
    for (let i = 0; i < value.length; i++) {
      const bad = walkJson(value[i], `${path}[${i}]`, depth + 1, seen);
      if (bad) return bad;
    }
    seen.delete(value);
    return null;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = ArrayBuffer.isView(value) ? "a typed array" : value instanceof ArrayBuffer ? "an ArrayBuffer" : `a ${(value as object).constructor?.name ?? "class instance"}`;
    return { path, reason: name };
  }
  seen.add(value);
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    const bad = walkJson(v, `${path}.${key}`, depth + 1, seen);
    if (bad) return bad;
  }
  seen.delete(value);
  return null;
}
