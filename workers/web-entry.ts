/**
 * The comlink worker module: a module Web Worker on Deno and in browsers, or a
 * `node:worker_threads` worker on Node. Exposes `init`, `run` and `describe`.
 *
 * @module
 */
import * as Comlink from "comlink";
import { announceExits } from "./exit-notice.ts";
import { nodeEndpoint, type NodePort } from "./node-endpoint.ts";
import type { Description, TaskMessage, TaskOutcome, WorkerInit } from "./protocol.ts";
import { ThreadRuntime } from "./runtime.ts";

let runtime: ThreadRuntime | undefined;

/** The API a comlink-wrapped worker offers. */
export const api = {
  init(init: WorkerInit): void {
    runtime = new ThreadRuntime(
      init.tasksUrl,
      init.abortFlags,
      init.dependencyStates ?? null,
      init.startStamps ?? null,
      undefined,
      init.progressChannel ?? null,
      init.userData,
      init.rateChannel ?? null,
    );
  },
  run(tasks: TaskMessage[]): TaskOutcome[] | Promise<TaskOutcome[]> {
    if (runtime === undefined) throw new Error("worker used before init");
    // The buffers of results returned with `transfer(value, list)` move back instead of being copied.
    const transfers: ArrayBuffer[] = [];
    const moving = (outcomes: TaskOutcome[]): TaskOutcome[] => (transfers.length === 0 ? outcomes : Comlink.transfer(outcomes, transfers));
    const out = runtime.run(tasks, transfers);
    return Array.isArray(out) ? moving(out) : out.then(moving);
  },
  describe(): Promise<Description> {
    if (runtime === undefined) throw new Error("worker used before init");
    return runtime.describe();
  },
};

/** The type the main thread wraps. */
export type WebWorkerApi = typeof api;

const scope = globalThis as { postMessage?: unknown; addEventListener?: unknown };
if (typeof scope.postMessage === "function" && typeof scope.addEventListener === "function") {
  const post = scope.postMessage as (message: unknown) => void;
  announceExits((notice) => post(notice));
  Comlink.expose(api);
} else {
  const { parentPort } = await import("node:worker_threads");
  if (parentPort === null) throw new Error("web-entry must run in a worker");
  Comlink.expose(api, nodeEndpoint(parentPort as unknown as NodePort));
}
