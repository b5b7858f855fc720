import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { setImmediate as tick } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createActor, setup, type SimulatedClock } from "xstate";
import { agentMachine } from "../actors/agent.ts";
import { queenMachine } from "../actors/queen.ts";
import { supervisorMachine } from "../actors/supervisor.ts";
import { workerMachine } from "../actors/worker.ts";
import { InlineBackend } from "../src/backends/inline.ts";
import type { ExecutionBackend } from "../src/backends/types.ts";
import { createPort } from "../src/hive/port.ts";

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

/** The machine tree wired to `backend`, as the hive wires it. */
export function tree(backend: ExecutionBackend, clock: SimulatedClock) {
  const worker = workerMachine.provide({ actors: { port: createPort(backend, clock) } });
  const agent = agentMachine.provide({ actors: { worker } });
  const supervisor = supervisorMachine.provide({ actors: { agent } });
  const queen = queenMachine.provide({ actors: { supervisor } });
  return { worker, agent, supervisor, queen };
}

/** A parent that invokes `child` and records every event the child sends it. */
export function harness(child: unknown, input: unknown, clock: SimulatedClock) {
  const received: { type: string }[] = [];
  const parent = setup({ actors: { child } as never }).createMachine({
    invoke: { id: "child", src: "child", input } as never,
    on: { "*": { actions: ({ event }) => void received.push(event) } },
  });
  const actor = createActor(parent, { clock }).start();
  const children = actor.getSnapshot().children as Record<string, unknown>;
  const ref = children["child"] as { send(e: unknown): void; getSnapshot(): { value: unknown; context: unknown } };
  return { actor, ref, received };
}

const runFile = promisify(execFile);
const bin = fileURLToPath(new URL("../bin/apiary.js", import.meta.url));

/** Runs the built `apiary` command as a child process; resolves to its exit code and output. */
export async function apiary(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return apiaryWith({}, ...args);
}

/** {@link apiary} with extra environment variables and Node flags before the script. */
export async function apiaryWith(options: { env?: Record<string, string>; nodeArgs?: string[] }, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const env = options.env === undefined ? undefined : { ...process.env, ...options.env };
    const { stdout, stderr } = await runFile(process.execPath, [...(options.nodeArgs ?? []), bin, ...args], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024, ...(env !== undefined ? { env } : {}) });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The path of program `name` on the PATH, or undefined. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const path = join(dir, name);
    if (dir !== "" && existsSync(path)) return path;
  }
  return undefined;
}

/** The most calls any window of `perMs` holds (times sorted). */
export function busiestWindow(times: number[], perMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= perMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}
