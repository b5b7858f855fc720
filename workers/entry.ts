/**
 * The Piscina worker module (Node and Deno `node:worker_threads`): its default export receives a
 * {@link WorkerRequest} and answers it with the thread's {@link ThreadRuntime}.
 *
 * @module
 */
import { workerData } from "node:worker_threads";
import { loadModuleSync } from "./load-module.ts";
import type { Description, TaskOutcome, WorkerInit, WorkerRequest } from "./protocol.ts";
import { ThreadRuntime } from "./runtime.ts";

const init = workerData as WorkerInit | undefined;
const runtime = new ThreadRuntime(init?.tasksUrl ?? null, init?.abortFlags ?? null, init?.dependencyStates ?? null, init?.startStamps ?? null, loadModuleSync, init?.progressChannel ?? null);
// The task module loads as the thread starts (before its first message, on Node), so a thread
// started to replace a dead one is ready to run when it is first given work. A failure to load
// is reported by `describe` and `run`.
runtime.load().catch(() => {});

/** Handles one message from the pool. */
export default function handle(request: WorkerRequest): TaskOutcome[] | Promise<TaskOutcome[]> | Promise<Description> {
  return request.op === "run" ? runtime.run(request.tasks) : runtime.describe();
}
