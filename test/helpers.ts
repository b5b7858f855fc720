import { setImmediate as tick } from "node:timers/promises";
import { InlineBackend } from "../src/backends/inline.ts";

/** URL of the test task module. */
export const fixtureTasks = new URL("./fixtures/tasks.mjs", import.meta.url);

/** Lets queued microtasks and one macrotask turn run (no wall-clock wait). */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await tick();
}

/** A started inline backend over the fixture task module. */
export async function inlineBackend(): Promise<InlineBackend> {
  const backend = new InlineBackend({ tasksUrl: fixtureTasks.href });
  await backend.start();
  return backend;
}

/** A shared flag a handler in any thread can raise; `raised` resolves when it does. */
export function sharedFlag(): { flag: Int32Array; raised: () => Promise<void>; isRaised: () => boolean } {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  return {
    flag,
    isRaised: () => Atomics.load(flag, 0) === 1,
    raised: async () => {
      const waitAsync = (Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number) => { async: boolean; value: Promise<string> | string } }).waitAsync;
      const r = waitAsync(flag, 0, 0);
      if (r.async) await r.value;
    },
  };
}
