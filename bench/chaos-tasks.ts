/**
 * Task handlers for the `chaos` bench: real work that fails on request — throws, kills its
 * thread, or hangs until its attempt is aborted — a poison kind that fails on every agent, and a
 * kind one agent is broken for.
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
  poison(input: { n: number }): never {
    throw new Error(`poison kind, task ${input.n}`);
  },
  // Fails only on the agent named in the input (an agent broken for this kind), succeeds elsewhere.
  brokenOn(input: { agent: string }, ctx): string {
    if (ctx.agentId === input.agent) throw new Error(`agent ${ctx.agentId} is broken`);
    return ctx.agentId;
  },
});
