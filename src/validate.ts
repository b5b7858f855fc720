/**
 * Small zod helpers shared by the option parsers of the observability modules: schema builders
 * whose messages say what was expected, and {@link parseOptions}, which turns the first issue
 * into an {@link InvalidOptionsError} naming the field and the value received.
 *
 * @module
 */
import { z } from "zod";
import { describeValue, InvalidOptionsError } from "./errors.ts";

/** An integer ≥ 0. */
export function nonNegativeInt(): z.ZodNumber {
  return z.number({ error: "must be a non-negative integer" }).int({ error: "must be a non-negative integer" }).min(0, {
    error: "must be a non-negative integer",
  });
}

/** An integer ≥ 1. */
export function positiveInt(): z.ZodNumber {
  return z.number({ error: "must be a positive integer" }).int({ error: "must be a positive integer" }).min(1, {
    error: "must be a positive integer",
  });
}

/** A finite number > 0. */
export function positiveNumber(): z.ZodNumber {
  return z.number({ error: "must be a positive finite number" }).positive({ error: "must be a positive finite number" }).finite({
    error: "must be a positive finite number",
  });
}

/** A function (zod 4 has no function schema that stays a plain value, so check by hand). */
export function fn<T extends (...args: never[]) => unknown>(): z.ZodType<T> {
  return z.custom<T>((value) => typeof value === "function", { error: "must be a function" });
}

/**
 * Parses `value` with `schema`; on failure throws {@link InvalidOptionsError} with a message like
 * `Cannot create event bus: "replay" must be a non-negative integer, received -1`.
 *
 * @param what - What was being done, e.g. `"create event bus"`.
 * @throws {InvalidOptionsError} When `value` does not match `schema`.
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new InvalidOptionsError(`Cannot ${what}: invalid options, received ${describeValue(value)}`);
  if (issue.code === "unrecognized_keys") {
    throw new InvalidOptionsError(`Cannot ${what}: unknown option ${issue.keys.map((k) => `"${k}"`).join(", ")}`);
  }
  const field = issue.path.length === 0 ? "options" : `"${issue.path.join(".")}"`;
  const message = issue.message.startsWith("Invalid") ? `is invalid (${issue.message})` : issue.message;
  throw new InvalidOptionsError(`Cannot ${what}: ${field} ${message}, received ${describeValue(issue.input)}`);
}
