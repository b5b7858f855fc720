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
  const issue = result.error.issues[0];
  if (issue === undefined) throw new InvalidOptionsError(`Cannot ${action}: invalid options`);
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(", ");
    throw new InvalidOptionsError(`Cannot ${action}: unknown option ${keys}`, { cause: result.error });
  }
  const path = issue.path.map(String).join(".");
  let received: unknown = input;
  for (const segment of issue.path) {
    received = received !== null && typeof received === "object" ? (received as Record<PropertyKey, unknown>)[segment] : undefined;
  }
  const field = path === "" ? "options" : `"${path}"`;
  const message = issue.message.startsWith("must ") ? issue.message : `is invalid (${issue.message})`;
  throw new InvalidOptionsError(`Cannot ${action}: ${field} ${message}, received ${describeValue(received)}`, {
    cause: result.error,
  });
}
