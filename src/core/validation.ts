/**
 * Options validation at the edge: zod schemas whose issue messages say what a field must be,
 * turned into one {@link InvalidOptionsError} naming the field and the value received, e.g.
 * `Cannot create circuit breaker: "resetTimeoutMs" must be a positive integer, received 0`.
 *
 * @module
 */
import { z } from "zod";
import { describeValue, InvalidOptionsError } from "./errors.ts";

/** A positive integer (`> 0`), with a message fit for {@link parseOptions}. */
export function positiveInt(): z.ZodNumber {
  const error = "must be a positive integer";
  return z.number({ error }).int({ error }).positive({ error });
}

/** A non-negative integer (`>= 0`), with a message fit for {@link parseOptions}. */
export function nonNegativeInt(): z.ZodNumber {
  const error = "must be a non-negative integer";
  return z.number({ error }).int({ error }).nonnegative({ error });
}

/** A finite number in `[min, max]`, with a message fit for {@link parseOptions}. */
export function numberIn(min: number, max: number): z.ZodNumber {
  const error = `must be a number from ${min} to ${max}`;
  return z.number({ error }).min(min, { error }).max(max, { error });
}

/** A function (not checked further), with a message fit for {@link parseOptions}. */
export function fn<T>(): z.ZodType<T> {
  return z.custom<T>((value) => typeof value === "function", { error: "must be a function" });
}

/**
 * Parses `input` with `schema`; on failure throws an {@link InvalidOptionsError} whose message
 * names what was being created, the first offending field and the value it received.
 *
 * @throws {InvalidOptionsError} when `input` does not match `schema`.
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  return parseFor(schema, input, `create ${what}`);
}

/**
 * Like {@link parseOptions}, with the whole action named: `Cannot ${action}: "field" must …,
 * received …`.
 *
 * @throws {InvalidOptionsError} when `input` does not match `schema`.
 */
export function parseFor<S extends z.ZodType>(schema: S, input: unknown, action: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new InvalidOptionsError(issueMessage(action, result.error.issues[0], input, [], "options"), { cause: result.error });
}

/** One zod issue as the house words it: the field's path, what it must be, and what it received. */
export interface IssueText {
  /** Path of the offending field inside the parsed value. */
  path: PropertyKey[];
  /** `must be …` (or `"a", "b" are not known options` for unknown keys, with `path` the object's). */
  phrase: string;
  /** The value received, already described; undefined to describe the value at `path`. */
  received?: string;
}

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** A zod issue path as users write it: `agents[0].concurrency`. */
export function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * The message of the first failure of a parse: `Cannot ${action}: "field" must …, received …`,
 * or `Cannot ${action}: "field" is not a known option`. Schemas' own `must …` messages are used as
 * they are; any other issue (zod's default wording) is rephrased from its code, so no schema can
 * leak zod's English.
 *
 * @param prefix path of `root` inside what the caller was given (`["cache"]` for the hive's `cache` option)
 * @param subject how to name `root` itself when the issue is about it; unnamed by default
 */
export function issueMessage(action: string, issue: z.core.$ZodIssue | undefined, root: unknown, prefix: readonly PropertyKey[] = [], subject?: string): string {
  if (issue === undefined) return `Cannot ${action}: ${subject ?? "the value"} is invalid, received ${describeValue(root)}`;
  if (issue.code === "unrecognized_keys") {
    const where = pathText([...prefix, ...issue.path]);
    const keys = issue.keys;
    return `Cannot ${action}: ${keys.map((k) => JSON.stringify(where ? `${where}.${k}` : k)).join(", ")} ${keys.length === 1 ? "is not a known option" : "are not known options"}`;
  }
  const text = describeIssue(issue);
  const field = pathText([...prefix, ...text.path]);
  const name = field !== "" ? `"${field}" ` : subject !== undefined ? `${subject} ` : "";
  return `Cannot ${action}: ${name}${text.phrase}, received ${text.received ?? describeValue(valueAt(root, text.path))}`;
}

/** Rephrases a zod issue in the house form (`must be …`); a schema's own `must …` message is kept. */
export function describeIssue(issue: z.core.$ZodIssue): IssueText {
  const path = [...issue.path];
  // A record's or a set's own message is about its type: a bad key or element says more.
  if (issue.message.startsWith("must ") && issue.code !== "invalid_key" && issue.code !== "invalid_element") return { path, phrase: issue.message };
  switch (issue.code) {
    case "invalid_type":
      return { path, phrase: issue.expected === "never" ? "must not be set" : `must be ${typeName(issue.expected)}` };
    case "too_small":
      return { path, phrase: boundPhrase(issue.origin, issue.minimum, issue.inclusive !== false, issue.exact === true, "min") };
    case "too_big":
      return { path, phrase: boundPhrase(issue.origin, issue.maximum, issue.inclusive !== false, issue.exact === true, "max") };
    case "not_multiple_of":
      return { path, phrase: `must be a multiple of ${issue.divisor}` };
    case "invalid_value":
      return { path, phrase: oneOf(issue.values) };
    case "invalid_format":
      return { path, phrase: formatPhrase(issue as z.core.$ZodIssueInvalidStringFormat & { prefix?: string; suffix?: string; includes?: string }) };
    case "invalid_union": {
      if (issue.errors.length === 0) return { path, phrase: issue.inclusive === false ? "must match exactly one of its accepted forms" : oneOf((issue as { options?: unknown[] }).options ?? []) };
      // A branch that failed deeper (its type matched) says the most: report its issue.
      for (const branch of issue.errors) {
        const first = branch[0];
        if (first !== undefined && first.path.length > 0 && first.code !== "unrecognized_keys") {
          const inner = describeIssue(first);
          return { ...inner, path: [...path, ...inner.path] };
        }
      }
      const forms = [...new Set(issue.errors.map((b) => (b[0] === undefined ? "valid" : describeIssue(b[0]).phrase.replace(/^must be /, ""))))];
      return { path, phrase: `must be ${forms.join(" or ")}` };
    }
    case "invalid_key": {
      const inner = issue.issues[0] === undefined ? "must be valid" : describeIssue(issue.issues[0]).phrase;
      const key = path.at(-1);
      return {
        path: issue.origin === "record" ? path.slice(0, -1) : path,
        phrase: `must have valid keys (a key ${inner})`,
        ...(issue.origin === "record" && key !== undefined ? { received: `the key ${describeValue(String(key))}` } : {}),
      };
    }
    case "invalid_element": {
      const inner = issue.issues[0] === undefined ? "must be valid" : describeIssue(issue.issues[0]).phrase;
      return { path, phrase: `must have valid elements (an element ${inner})` };
    }
    case "custom":
      // Our own refinements say what is wrong in words of their own.
      return { path, phrase: issue.message === "" || issue.message === "Invalid input" ? "must be valid" : issue.message };
    default:
      return { path, phrase: "must be valid" };
  }
}

const TYPE_NAMES: Record<string, string> = {
  int: "an integer",
  array: "an array",
  object: "an object",
  record: "an object",
  tuple: "an array",
  undefined: "undefined",
  null: "null",
  nan: "NaN",
  void: "undefined",
  date: "a Date",
  map: "a Map",
  set: "a Set",
  file: "a File",
  nonoptional: "set",
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? `a ${expected}`;
}

function boundPhrase(origin: string, bound: number | bigint, inclusive: boolean, exact: boolean, side: "min" | "max"): string {
  const n = typeof bound === "bigint" ? `${bound}` : bound;
  switch (origin) {
    case "string":
      if (exact) return `must be exactly ${n} character${n === 1 ? "" : "s"}`;
      if (side === "min" && inclusive && n === 1) return "must be a non-empty string";
      return side === "min" ? `must be a string of at least ${n} characters` : `must be at most ${n} characters`;
    case "array":
    case "set":
      if (exact) return `must have exactly ${n} item${n === 1 ? "" : "s"}`;
      if (side === "min" && inclusive && n === 1) return "must not be empty";
      return `must have ${side === "min" ? "at least" : "at most"} ${n} items`;
    case "date":
      return `must be a date ${side === "min" ? "on or after" : "on or before"} ${new Date(Number(bound)).toISOString()}`;
    case "file":
      return `must be ${side === "min" ? "at least" : "at most"} ${n} bytes`;
    default: {
      const what = origin === "int" || origin === "bigint" ? "an integer" : "a number";
      if (exact) return `must be ${n}`;
      if (side === "min" && !inclusive && n === 0) return `must be a positive ${origin === "int" || origin === "bigint" ? "integer" : "number"}`;
      return `must be ${what} ${side === "min" ? (inclusive ? ">=" : ">") : inclusive ? "<=" : "<"} ${n}`;
    }
  }
}

function oneOf(values: readonly unknown[]): string {
  const shown = values.map((v) => (typeof v === "string" ? v : typeof v === "bigint" ? `${v}n` : String(v)));
  if (shown.length === 1) return `must be ${shown[0]}`;
  return `must be one of ${shown.join(", ")}`;
}

function formatPhrase(issue: z.core.$ZodIssueInvalidStringFormat & { prefix?: string; suffix?: string; includes?: string }): string {
  switch (issue.format) {
    case "starts_with":
      return `must start with ${JSON.stringify(issue.prefix ?? "")}`;
    case "ends_with":
      return `must end with ${JSON.stringify(issue.suffix ?? "")}`;
    case "includes":
      return `must include ${JSON.stringify(issue.includes ?? "")}`;
    case "regex":
      return `must match ${issue.pattern ?? "its pattern"}`;
    default:
      return `must be a valid ${issue.format}`;
  }
}
