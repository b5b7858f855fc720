/**
 * What a store accepts: the key rules every backend shares, and JSON encoding of values with
 * a clear refusal of anything JSON cannot carry faithfully.
 *
 * @module
 */
import { describeValue, StoreError } from "../core/errors.ts";

/** Longest key accepted, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 200;

// Separators, NUL and other control characters, and lone surrogates (which no file name can hold).
const FORBIDDEN_KEY = /[/\\\u0000-\u001f\u007f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Checks a store key: a string of 1 to {@link MAX_KEY_LENGTH} characters with no `/`, `\`,
 * `..`, NUL or other control character, and no lone surrogate. The same rules hold on every
 * backend so that data moves between them; they also mean a key can never name a path outside
 * the file store's folder.
 *
 * @throws {StoreError} `INVALID_KEY`, naming the key.
 */
export function validateKey(key: unknown): asserts key is string {
  if (typeof key !== "string") {
    throw new StoreError("INVALID_KEY", `Invalid store key ${describeValue(key)}: a key must be a string`);
  }
  let why: string | undefined;
  if (key.length === 0) why = "a key must not be empty";
  else if (key.length > MAX_KEY_LENGTH) why = `a key must be at most ${MAX_KEY_LENGTH} characters, this one has ${key.length}`;
  else if (key.includes("..")) why = 'a key must not contain ".."';
  else if (FORBIDDEN_KEY.test(key)) why = "a key must not contain a path separator (/ or \\), NUL, a control character or a lone surrogate";
  if (why !== undefined) {
    throw new StoreError("INVALID_KEY", `Invalid store key ${JSON.stringify(key.length > 60 ? `${key.slice(0, 57)}...` : key)}: ${why}`, { key });
  }
}

/** Length of `text` in UTF-8 bytes (lone surrogates count 3, as `TextEncoder` writes U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a surrogate pair: 2 code units, 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

function unstorable(key: string, where: string, what: string): StoreError {
  return new StoreError(
    "INVALID_VALUE",
    `Cannot store ${JSON.stringify(key)}: ${where} is ${what}; values must be JSON data (objects, arrays, strings, finite numbers, booleans, null)`,
    { key },
  );
}

/**
 * Serialises `value` to JSON text, refusing what JSON would silently change or cannot write:
 * `undefined` at the top or in an array, functions, symbols, bigints, non-finite numbers, cycles
 * and class instances (a `Map` would come back as `{}`). Objects with `toJSON` (such as `Date`)
 * are stored as what `toJSON` returns. A property whose value is `undefined` is dropped, as
 * `JSON.stringify` does.
 *
 * @param key the store key, for the error message.
 * @param maxBytes the largest UTF-8 size accepted.
 * @throws {StoreError} `INVALID_VALUE` or `VALUE_TOO_LARGE`.
 */
export function encodeValue(key: string, value: unknown, maxBytes: number): string {
  const text = toJson(key, value);
  // Each UTF-16 code unit is at most 3 UTF-8 bytes, so most values skip the exact count.
  if (text.length * 3 > maxBytes) {
    const bytes = utf8Length(text);
    if (bytes > maxBytes) {
      throw new StoreError(
        "VALUE_TOO_LARGE",
        `Cannot store ${JSON.stringify(key)}: the value is ${bytes} bytes of JSON, over the limit "maxValueBytes" = ${maxBytes}`,
        { key },
      );
    }
  }
  return text;
}

/**
 * Serialises `value` to JSON text with the same refusals as {@link encodeValue}, without a
 * size limit.
 *
 * @throws {StoreError} `INVALID_VALUE`.
 */
export function toJson(key: string, value: unknown): string {
  let text: string | undefined;
  let top = true; // the replacer's first call is for the value itself
  try {
    text = JSON.stringify(value, function (this: unknown, prop: string, v: unknown) {
      const where = top ? "the value" : `property ${JSON.stringify(prop)}`;
      top = false;
      switch (typeof v) {
        case "function":
        case "symbol":
        case "bigint":
          throw unstorable(key, where, describeValue(v));
        case "number":
          if (!Number.isFinite(v)) throw unstorable(key, where, `the non-finite number ${v}`);
          return v;
        case "undefined":
          if (Array.isArray(this) || where === "the value") throw unstorable(key, where, "undefined");
          return v;
        case "object": {
          if (v === null || Array.isArray(v)) return v;
          const proto = Object.getPrototypeOf(v) as unknown;
          if (proto !== Object.prototype && proto !== null) {
            throw unstorable(key, where, `an instance of ${(v as object).constructor?.name ?? "a class"}`);
          }
          return v;
        }
        default:
          return v;
      }
    });
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError("INVALID_VALUE", `Cannot store ${JSON.stringify(key)}: the value cannot be serialised to JSON (${(error as Error).message.split("\n")[0]})`, {
      key,
      cause: error,
    });
  }
  if (text === undefined) throw unstorable(key, "the value", describeValue(value));
  return text;
}

/** Parses JSON text a store wrote. */
export function decodeValue<T>(text: string): T {
  return JSON.parse(text) as T;
}
