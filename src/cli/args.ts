/**
 * What the `apiary` subcommands share: parsing a subcommand's flags (only its own; an unknown
 * one or a flag without its value is a usage error naming it), integer flags and how a failed
 * run is reported.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { isApiaryError } from "../core/errors.ts";

/** A problem with the command line or a file it names: exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The flags a subcommand accepts, in `node:util` `parseArgs` form. */
export type CommandOptions = NonNullable<ParseArgsConfig["options"]>;

/**
 * What {@link parseCommandArgs} returns for `options`: each string flag's text (`undefined` when
 * absent, a list for `multiple`), each boolean flag's presence (or its default).
 */
export interface CommandArgs<T extends CommandOptions> {
  values: {
    [K in keyof T]: T[K] extends { type: "boolean"; default: boolean } ? boolean
      : T[K] extends { type: "boolean" } ? boolean | undefined
      : T[K] extends { multiple: true } ? string[] | undefined
      : string | undefined;
  };
  positionals: string[];
}

/** A negative number given as a flag's value: `--seed -3` (parseArgs would call it ambiguous). */
const NEGATIVE_NUMBER = /^-(\d|\.\d|Infinity$)/;

/**
 * Parses the arguments of `apiary <command>` with exactly the flags in `options`.
 *
 * A value that starts with a dash is taken when it is a negative number (`--threads -3` reads as
 * `--threads=-3`, which the flag's own check then refuses by value); any other must be written
 * `--flag=-value`.
 *
 * @throws RangeError (a usage error, exit 2) naming the flag: unknown to `command`, missing its
 *   value, or given a value it does not take
 */
export function parseCommandArgs<T extends CommandOptions>(command: string, argv: readonly string[], options: T): CommandArgs<T> {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    args.push(arg);
    if (arg === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    const option = takesValue(options, arg);
    if (option === undefined) continue;
    const next = argv[i + 1];
    if (next === undefined) throw new RangeError(`"${arg}" needs a value, received none`);
    if (!next.startsWith("-")) continue;
    if (!NEGATIVE_NUMBER.test(next)) throw new RangeError(`"${arg}" needs a value, received the option ${JSON.stringify(next)} (write ${arg}=VALUE for a value that starts with "-")`);
    args[args.length - 1] = `--${option}=${next}`;
    i++;
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    // parseArgs types its values by the same rules; its own types cannot be named in a declaration.
    return { values: values as unknown as CommandArgs<T>["values"], positionals };
  } catch (error) {
    throw new RangeError(describeParseError(command, options, error));
  }
}

/** The long name of the string-valued flag `arg` (`--threads`, `-t`), when it is one given without `=`. */
function takesValue(options: CommandOptions, arg: string): string | undefined {
  if (arg.startsWith("--")) {
    const name = arg.slice(2);
    return !name.includes("=") && options[name]?.type === "string" ? name : undefined;
  }
  if (/^-[^-]$/.test(arg)) {
    const entry = Object.entries(options).find(([, o]) => o.short === arg.slice(1));
    return entry?.[1].type === "string" ? entry[0] : undefined;
  }
  return undefined;
}

function describeParseError(command: string, options: CommandOptions, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const flag = /'([^' ]+)/.exec(message)?.[1];
  if (flag === undefined) return message;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const known = Object.keys(options).map((name) => `--${name}`).join(", ");
    return `unknown option ${JSON.stringify(flag)} for "apiary ${command}"; it takes ${known}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && /does not take an argument/.test(message)) return `"${flag}" takes no value`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return `"${flag}" needs a value`;
  return message;
}

/**
 * The integer value of `--name`, or undefined when the flag is absent.
 * @param max - the largest value accepted; when given, the message states the whole range
 * @throws RangeError (a usage error, exit 2) naming the flag and the value received
 */
export function intFlag(name: string, value: string | undefined, min: number, max?: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
    const range = max === undefined ? `>= ${min}` : `from ${min} to ${max}`;
    throw new RangeError(`"--${name}" must be an integer ${range}, received ${JSON.stringify(value)}`);
  }
  return n;
}

/** Reports a failed run of `apiary <command>` on stderr: the error's message and its code. */
export function reportFailure(command: string, error: unknown): void {
  const code = isApiaryError(error) ? ` [${error.code}]` : "";
  process.stderr.write(`apiary ${command}: ${error instanceof Error ? error.message : String(error)}${code}\n`);
}
