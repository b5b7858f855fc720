/**
 * Task handlers for the `faults` bench: one kind, `work`, whose input says whether the task is
 * good (burns `burnMs` of CPU and returns `{ i, agent, doubled }`) or poison, and how it goes
 * wrong — throws, exits its thread, hangs without ever looking at its signal, or runs out of
 * memory. The same semantics as `test/fixtures/poison.mjs`, with a calibrated good path. The
 * hive loads this module; raw Piscina runs the same handler through `fault-raw-worker.ts`.
 *
 * @module
 */
import { burn } from "../workers/burn.ts";
import { defineTasks } from "../workers/define.ts";

/** How a poison task goes wrong; absent for a good task. */
export type PoisonMode = "throw" | "exit" | "hang" | "oom";

/** Input of the `work` kind. */
export interface FaultInput {
  /** The task's index in its run. */
  i: number;
  /** Poison mode, or absent for a good task. */
  mode?: PoisonMode | undefined;
  /** CPU a good task burns, ms. */
  burnMs: number;
}

/** What a good task returns. */
export interface FaultOutput {
  i: number;
  agent: string;
  doubled: number;
}

function hog(): never {
  const keep: number[][] = [];
  for (;;) keep.push(new Array<number>(1_000_000).fill(keep.length));
}

export default defineTasks({
  work(input: FaultInput, ctx): FaultOutput {
    switch (input.mode) {
      case "throw":
        throw new Error(`poison task ${input.i}`);
      case "exit":
        process.exit(4);
        break;
      case "hang":
        for (;;) {
          // never checks its signal: only terminating the thread stops it
        }
      case "oom":
        hog();
    }
    burn({ ms: input.burnMs });
    return { i: input.i, agent: ctx.agentId, doubled: input.i * 2 };
  },
});
