/**
 * Bench scope `orchestration`: the whole path — Queen, Supervisor, Agent, Worker, inline
 * backend — on trivial tasks with 1,000 in flight, against XState's raw single-actor event rate
 * (a two-state toggle, `actor.send` in a loop) measured in the same run. `ratio` is hive
 * tasks/s ÷ raw XState events/s: how many raw events one orchestrated task costs, inverted.
 *
 * @module
 */
import { createActor, createMachine } from "xstate";
import { createHive } from "../src/index.ts";
import { type BenchScope, compare, opsPerSecond } from "./harness.ts";
import { closedLoop } from "./pool.ts";

const toggle = createMachine({
  initial: "off",
  states: { off: { on: { toggle: "on" } }, on: { on: { toggle: "off" } } },
});

const orchestration: BenchScope = async ({ quick }) => {
  const hive = createHive({ backend: "inline", agents: [{ id: "a", concurrency: 600 }, { id: "b", concurrency: 600 }] });
  await hive.start();
  const actor = createActor(toggle).start();
  const event = { type: "toggle" } as const;
  try {
    const total = quick ? 10_000 : 50_000;
    return [
      await compare(
        "full path, inline backend, 1,000 in flight",
        "raw XState single-actor events",
        () => closedLoop(() => hive.run({ kind: "echo", input: 1 }), 1_000, total),
        () =>
          opsPerSecond(
            () => {
              for (let i = 0; i < 1_000; i++) actor.send(event);
            },
            1_000,
            { minMs: quick ? 300 : 1_000 },
          ),
        quick ? 1 : 3,
      ),
    ];
  } finally {
    actor.stop();
    await hive.stop();
  }
};

export default orchestration;
