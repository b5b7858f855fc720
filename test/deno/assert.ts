/**
 * The few assertions the Deno tests use, on `node:assert` so that no registry import is needed.
 *
 * @module
 */
import assert from "node:assert/strict";

export function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  assert.deepStrictEqual(actual, expected, message);
}

export async function assertRejects<E extends Error = Error>(
  body: () => Promise<unknown>,
  type?: new (...args: never[]) => E,
  fragment?: string,
): Promise<E> {
  try {
    await body();
  } catch (error) {
    if (type !== undefined && !(error instanceof type)) throw new Error(`expected ${type.name}, got ${String(error)}`);
    if (fragment !== undefined && !(error as Error).message.includes(fragment)) throw new Error(`expected "${(error as Error).message}" to include "${fragment}"`);
    return error as E;
  }
  throw new Error("expected a rejection");
}

export function assertThrows<E extends Error = Error>(body: () => unknown, type?: new (...args: never[]) => E, fragment?: string): E {
  try {
    body();
  } catch (error) {
    if (type !== undefined && !(error instanceof type)) throw new Error(`expected ${type.name}, got ${String(error)}`);
    if (fragment !== undefined && !(error as Error).message.includes(fragment)) throw new Error(`expected "${(error as Error).message}" to include "${fragment}"`);
    return error as E;
  }
  throw new Error("expected a throw");
}
