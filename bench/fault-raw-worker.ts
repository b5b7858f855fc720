/**
 * The worker module raw Piscina runs in the `faults` bench: the hive's `work` handler from
 * `fault-tasks.ts`, called directly with a context that is never aborted (a raw Piscina user's
 * handler cannot see an abort; Piscina terminates the thread instead).
 *
 * @module
 */
import type { TaskContext } from "../workers/define.ts";
import tasks, { type FaultInput, type FaultOutput } from "./fault-tasks.ts";

const never = new AbortController().signal;

/** Runs one raw task. */
export default function raw(input: FaultInput): FaultOutput {
  const ctx: TaskContext = {
    taskId: `raw-${input.i}`,
    attempt: 1,
    after: [],
    progress: () => {},
    agentId: "raw",
    signal: never,
    dependency: () => {
      throw new Error("no dependencies in the faults bench");
    },
  };
  return tasks.work(input, ctx);
}
