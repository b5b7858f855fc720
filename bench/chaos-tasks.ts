/**
 * Task handlers for the `chaos` bench: real work that fails on request — throws, kills its
 * thread, or hangs until its attempt is aborted.
 *
 * @module
 */
import { defineTasks } from "../workers/define.ts";

export default defineTasks({
  work(input: { n: number; fault: "none" | "throw" | "exit" | "hang" }, ctx) {
    if (input.fault === "throw") throw new Error(`injected failure in task ${ctx.taskId}`);
    if (input.fault === "exit") process.exit(7);
    if (input.fault === "hang") {
      while (!ctx.signal.aborted) {
        // spins until the attempt times out
      }
      throw ctx.signal.reason;
    }
    let x = input.n;
    for (let i = 0; i < 200; i++) x = (x * 31 + i) % 1_000_003;
    return x;
  },
});
