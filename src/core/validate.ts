/**
 * Zod helpers of the observability modules: the shared ones from `validation.ts`, plus
 * {@link positiveNumber}. `parseOptions` here takes the whole action ("create event bus").
 *
 * @module
 */
import { z } from "zod";
export { fn, nonNegativeInt, parseFor as parseOptions, positiveInt } from "./validation.ts";

/** A finite number > 0. */
export function positiveNumber(): z.ZodNumber {
  return z.number({ error: "must be a positive finite number" }).positive({ error: "must be a positive finite number" }).finite({
    error: "must be a positive finite number",
  });
}
