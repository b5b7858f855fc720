/**
 * The public-surface walk shared by the Node and Deno suites: every exported function and class
 * of the package, and every public method of a `Hive` (found by reflection, so a new one is
 * walked without being listed), is called with `undefined`, `null` and values of the wrong type
 * in each parameter. Each call must either succeed or fail with an {@link ApiaryError} carrying a
 * `code` — thrown or rejected — never a bare `TypeError`.
 *
 * @module
 */
import { createHive, type Hive, isApiaryError } from "../src/index.ts";

/** Values no parameter of the public surface takes as valid: each must be refused cleanly. */
export const BAD_VALUES: readonly (readonly [label: string, value: unknown])[] = [
  ["undefined", undefined],
  ["null", null],
  ["a number", 42],
  ["a string", "not-an-option"],
  ["an object", { bogus: true }],
];

/** One call that answered wrong: what was called, with what, and what came out. */
export interface WrongAnswer {
  call: string;
  error: unknown;
}

/** The parameters a callable is probed in: its declared ones and one more (a trailing optional one). */
function arity(fn: (...args: never[]) => unknown): number {
  return Math.min(Math.max(fn.length, 0) + 1, 4);
}

function isClass(fn: unknown): boolean {
  return typeof fn === "function" && /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

/** Releases what a successful call returned: servers, stores, buses, hives, breakers. */
async function release(value: unknown): Promise<void> {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return;
  const v = value as { [Symbol.asyncDispose]?: () => Promise<void>; [Symbol.dispose]?: () => void; close?: () => unknown; stop?: () => unknown };
  try {
    if (typeof v[Symbol.asyncDispose] === "function") await v[Symbol.asyncDispose]!();
    else if (typeof v.close === "function") await v.close();
    else if (typeof v.stop === "function") await v.stop();
    else if (typeof v[Symbol.dispose] === "function") v[Symbol.dispose]!();
  } catch {
    // releasing is best effort; what is checked is the call itself
  }
}

function describeArgs(args: readonly unknown[], labels: readonly string[]): string {
  return args.map((_, i) => labels[i] ?? "good").join(", ");
}

/**
 * Calls `invoke(args)` for every bad value in every parameter position (earlier parameters take
 * `good[i]` when given, else `undefined`) and returns the calls that answered with anything but
 * success or an ApiaryError with a code. `between` runs after each call, before its promise (if
 * any) is awaited, so a call that waits for an event can see one. With `pending`, promises are
 * not awaited but collected there (a hive not started has no events: its waits end when it stops).
 */
export async function probe(
  name: string,
  fn: (...args: never[]) => unknown,
  invoke: (args: unknown[]) => unknown,
  good: readonly unknown[] = [],
  between?: () => Promise<void>,
  pending?: Promise<unknown>[],
): Promise<WrongAnswer[]> {
  const wrong: WrongAnswer[] = [];
  const n = Math.max(arity(fn), good.length + 1);
  for (let position = 0; position < n; position++) {
    for (const [label, bad] of BAD_VALUES) {
      const args: unknown[] = [...good.slice(0, position), bad];
      const labels = [...good.slice(0, position).map(() => "good"), label];
      const call = `${name}(${describeArgs(args, labels)})`;
      let result: unknown;
      try {
        result = invoke(args);
      } catch (error) {
        if (!(isApiaryError(error) && typeof error.code === "string")) wrong.push({ call, error });
        continue;
      }
      let settled: Promise<unknown> | undefined;
      if (result instanceof Promise) {
        settled = result.then(release, (error: unknown) => {
          if (!(isApiaryError(error) && typeof error.code === "string")) wrong.push({ call: `${call} (rejected)`, error });
        });
      } else await release(result);
      await between?.();
      if (pending !== undefined && settled !== undefined) pending.push(settled);
      else await settled;
    }
  }
  return wrong;
}

/** Walks every exported function and class of `module` (constructing classes with `new`). */
export async function walkModule(module: Record<string, unknown>, skip: ReadonlySet<string> = new Set()): Promise<WrongAnswer[]> {
  const wrong: WrongAnswer[] = [];
  for (const [name, value] of Object.entries(module)) {
    if (typeof value !== "function" || skip.has(name)) continue;
    const fn = value as (...args: never[]) => unknown;
    const construct = isClass(value);
    const invoke = construct ? (args: unknown[]) => Reflect.construct(fn, args) : (args: unknown[]) => Reflect.apply(fn, undefined, args);
    wrong.push(...(await probe(construct ? `new ${name}` : name, fn, invoke)));
  }
  return wrong;
}

/** Public methods of a hive, by reflection on `Hive.prototype` (symbol-keyed ones are internal or `asyncDispose`). */
export function hiveMethods(hive: Hive): string[] {
  const proto = Object.getPrototypeOf(hive) as object;
  return Object.getOwnPropertyNames(proto).filter((name) => {
    if (name === "constructor") return false;
    const d = Object.getOwnPropertyDescriptor(proto, name);
    return d !== undefined && typeof d.value === "function";
  });
}

/**
 * Good leading arguments for methods whose later parameters are worth probing: with these in
 * front, the bad value reaches the second (or third) parameter. Calls must be harmless: nothing
 * here can crash an agent, remove one, or stop the hive.
 */
export const GOOD_ARGS: Readonly<Record<string, readonly unknown[]>> = {
  on: ["task.completed", () => {}],
  waitFor: ["task.completed"],
  map: ["echo", [1]],
  dependency: ["surface-dependency", () => 1],
  submit: [],
  run: [],
};

/** Methods that end the hive: walked last, on a hive of their own. */
export const ENDING_METHODS: ReadonlySet<string> = new Set(["stop"]);

/** A hive on the inline backend with one agent (fast, no threads). */
export function inlineHive(): Hive {
  return createHive({ backend: "inline", agents: [{ id: "a", concurrency: 2 }] });
}

/**
 * Walks every public method of `hive` except `start` and the ending ones (the hive's state is the
 * caller's: created, started or stopped), running `after` between calls. Without `after`, the
 * calls' promises settle once the walk is over and `finish` (e.g. `hive.stop()`) has run.
 */
export async function walkHive(hive: Hive, after?: () => Promise<void>, finish?: () => Promise<void>): Promise<WrongAnswer[]> {
  const wrong: WrongAnswer[] = [];
  const pending: Promise<unknown>[] | undefined = after === undefined ? [] : undefined;
  const record = hive as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of hiveMethods(hive)) {
    if (name === "start" || ENDING_METHODS.has(name)) continue;
    const method = record[name]!;
    wrong.push(...(await probe(`hive.${name}`, method as (...args: never[]) => unknown, (args) => method.apply(hive, args), GOOD_ARGS[name] ?? [], after, pending)));
  }
  await finish?.();
  await Promise.all(pending ?? []);
  return wrong;
}

/** Renders wrong answers for an assertion message. */
export function report(wrong: readonly WrongAnswer[]): string {
  return wrong.map((w) => `${w.call} -> ${w.error instanceof Error ? `${w.error.name}: ${w.error.message}` : String(w.error)}`).join("\n");
}
