/**
 * The Piscina worker module (Node and Deno `node:worker_threads`): its default export receives a
 * {@link WorkerRequest} and answers it with the thread's {@link ThreadRuntime}.
 *
 * @module
 */
import { workerData } from "node:worker_threads";
import { move, transferableSymbol, valueSymbol } from "piscina";
import { guardedLoad } from "./load-module.ts";
import type { Description, TaskOutcome, WorkerInit, WorkerRequest } from "./protocol.ts";
import { ThreadRuntime } from "./runtime.ts";

const init = workerData as WorkerInit | undefined;
const runtime = new ThreadRuntime(
  init?.tasksUrl ?? null,
  init?.abortFlags ?? null,
  init?.dependencyStates ?? null,
  init?.startStamps ?? null,
  guardedLoad(init?.loadGuard ? new Int32Array(init.loadGuard) : null),
  init?.progressChannel ?? null,
  init?.userData,
  init?.rateChannel ?? null,
);
// The task module loads as the thread starts (before its first message, on Node), so a thread
// started to replace a dead one is ready to run when it is first given work. A failure to load
// is reported by `describe` and `run`.
runtime.load().catch(() => {});

/**
 * Piscina loads this module with `require()` (Node's require of an ES module). For a module with a
 * default export, Node 20 then builds a facade module to add `__esModule`, and a thread terminated
 * while it does so aborts the whole process (a V8 fatal error, met once in a full test run: a pool
 * stopped while a fresh thread loaded this file). Exporting `__esModule` skips the facade.
 */
export const __esModule = true;

/** Handles one message from the pool. */
export default function handle(request: WorkerRequest): Promise<Description> | unknown {
  if (request.op !== "run") return runtime.describe();
  const transfers: ArrayBuffer[] = [];
  const out = runtime.run(request.tasks, transfers);
  return Array.isArray(out) ? moving(out, transfers) : out.then((outcomes) => moving(outcomes, transfers));
}

/** The reply, moving the buffers of results returned with `transfer(value, list)` (Piscina's transfer list) instead of copying them. */
function moving(outcomes: TaskOutcome[], transfers: ArrayBuffer[]): unknown {
  if (transfers.length === 0) return outcomes;
  return move({ [transferableSymbol]: transfers, [valueSymbol]: outcomes } as never);
}
