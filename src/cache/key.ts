/**
 * Stable cache keys: `cacheKeyFor(kind, input)` is the kind plus a hash of the input's
 * canonical JSON (object keys sorted), so equal inputs give equal keys whatever their key order,
 * on every runtime and across restarts.
 *
 * @module
 */
import { describeValue, InvalidTaskError } from "../core/errors.ts";

/**
 * Canonical JSON of `value`: object keys sorted, `undefined` properties dropped. Refuses what
 * has no stable JSON form (functions, symbols, bigints, non-finite numbers, cycles, class
 * instances other than those with `toJSON`, such as `Date`).
 *
 * @throws {InvalidTaskError} naming the offending property.
 */
export function stableStringify(value: unknown, kind = "value"): string {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): string => {
    if (v !== null && typeof v === "object" && typeof (v as { toJSON?: unknown }).toJSON === "function") {
      v = (v as { toJSON: (key: string) => unknown }).toJSON(path);
    }
    switch (typeof v) {
      case "string":
      case "boolean":
        return JSON.stringify(v);
      case "number":
        if (!Number.isFinite(v)) throw refuse(kind, path, `the non-finite number ${v}`);
        return JSON.stringify(v);
      case "object": {
        if (v === null) return "null";
        if (seen.has(v)) throw refuse(kind, path, "a cycle");
        seen.add(v);
        let out: string;
        if (Array.isArray(v)) {
          out = `[${v.map((item, i) => (item === undefined ? "null" : walk(item, `${path}[${i}]`))).join(",")}]`;
        } else {
          const proto = Object.getPrototypeOf(v) as unknown;
          if (proto !== Object.prototype && proto !== null) throw refuse(kind, path, `an instance of ${(v as object).constructor?.name ?? "a class"}`);
          const record = v as Record<string, unknown>;
          const parts: string[] = [];
          for (const key of Object.keys(record).sort()) {
            const item = record[key];
            if (item === undefined) continue;
            parts.push(`${JSON.stringify(key)}:${walk(item, path === "" ? key : `${path}.${key}`)}`);
          }
          out = `{${parts.join(",")}}`;
        }
        seen.delete(v);
        return out;
      }
      default:
        throw refuse(kind, path, describeValue(v));
    }
  };
  return walk(value, "");
}

function refuse(kind: string, path: string, what: string): InvalidTaskError {
  return new InvalidTaskError(
    `Cannot derive a cache key for ${JSON.stringify(kind)}: ${path === "" ? "the input" : `input ${JSON.stringify(path)}`} is ${what}; inputs must be JSON data`,
  );
}

/** cyrb53: a fast 53-bit string hash (public domain, bryc). */
function cyrb53(text: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * A 106-bit hash of `text` as 28 hex digits (two seeded 53-bit hashes): collisions are out of
 * reach for any cache size, and it needs no `crypto` (browsers, sync).
 */
export function stableHash(text: string): string {
  return cyrb53(text, 0x9e3779b9).toString(16).padStart(14, "0") + cyrb53(text, 0x85ebca6b).toString(16).padStart(14, "0");
}

/**
 * The cache key of a task: `kind:hash`, where hash covers the input's canonical JSON.
 *
 * @example
 * ```ts
 * cacheKeyFor("simulate", { hours: 8760, region: "NL" }) === cacheKeyFor("simulate", { region: "NL", hours: 8760 }); // true
 * ```
 * @throws {InvalidTaskError} when `kind` is empty or `input` is not JSON data.
 */
export function cacheKeyFor(kind: string, input: unknown): string {
  if (typeof kind !== "string" || kind.length === 0) {
    throw new InvalidTaskError(`Cannot derive a cache key: "kind" must be a non-empty string, received ${describeValue(kind)}`);
  }
  // A task without input hashes like `null`.
  return `${kind}:${stableHash(input === undefined ? "null" : stableStringify(input, kind))}`;
}
