/**
 * What the `apiary` subcommands share: integer flags and how a failed run is reported.
 *
 * @module
 */
import { isApiaryError } from "../errors.ts";

/**
 * The integer value of `--name`, or undefined when the flag is absent.
 * @throws RangeError (a usage error, exit 2) naming the flag and the value received
 */
export function intFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min) throw new RangeError(`"--${name}" must be an integer >= ${min}, received ${JSON.stringify(value)}`);
  return n;
}

/** Reports a failed run of `apiary <command>` on stderr: the error's message and its code. */
export function reportFailure(command: string, error: unknown): void {
  const code = isApiaryError(error) ? ` [${error.code}]` : "";
  process.stderr.write(`apiary ${command}: ${error instanceof Error ? error.message : String(error)}${code}\n`);
}
