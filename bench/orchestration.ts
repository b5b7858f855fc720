/**
 * Bench scope `orchestration`: the whole path — Queen, Supervisor, Agent, Worker, inline
 * backend — on trivial tasks with 1,000 in flight, against XState's raw single-actor event rate
 * (a two-state toggle, `actor.send` in a loop) measured in the same run. `ratio` is hive
 * tasks/s ÷ raw XState events/s: how many raw events one orchestrated task costs, inverted.
 *
 * Then the swarm grows: 100, 1,000 and 10,000 agents × 4 slots with 80% of the slots in flight
 * (40,000 trivial tasks, or four times the tasks in flight if more; with `--quick` 10,000, or
 * twice those in flight). Each line's `ratio` is the CPU cost per task at
 * 100 agents ÷ its own (0.5 = twice as dear); `extra` gives the wall and CPU cost per task, and
 * how long a hive of that many agents takes to create and start, and to stop.
 *
 * @module
 */
import { createActor, createMachine } from "xstate";
import { createHive } from "../src/index.ts";
import { type BenchResult, type BenchScope, compare, opsPerSecond } from "./harness.ts";
import { closedLoop } from "./pool.ts";
import { cpuMs, round1, SLOTS, startAndStop, SWARM_SIZES, swarmAgents, UTILISATION } from "./swarm-scale.ts";

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
    const grown = await growing(quick);
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
      ...grown,
    ];
  } finally {
    actor.stop();
    await hive.stop();
  }
};

/** Live swarms of 100, 1,000 and 10,000 agents: cost per task against the 100-agent swarm's. */
async function growing(quick: boolean): Promise<BenchResult[]> {
  const rows: { agents: number; tasks: number; tasksPerSec: number; cpuUsPerTask: number; extra: Record<string, number> }[] = [];
  for (const agents of SWARM_SIZES) {
    const times = await startAndStop(agents);
    const inFlight = Math.round(UTILISATION * SLOTS * agents);
    const tasks = quick ? Math.max(10_000, 2 * inFlight) : Math.max(40_000, 4 * inFlight);
    const hive = createHive({ backend: "inline", metrics: false, agents: swarmAgents(agents) });
    await hive.start();
    try {
      const run = (): Promise<unknown> => hive.run({ kind: "echo", input: 1 });
      await closedLoop(run, inFlight, Math.max(inFlight, 5_000)); // warm-up: every agent has run something
      const c0 = cpuMs();
      const tasksPerSec = await closedLoop(run, inFlight, tasks);
      const cpuUsPerTask = ((cpuMs() - c0) * 1_000) / tasks;
      rows.push({
        agents,
        tasks,
        tasksPerSec,
        cpuUsPerTask,
        extra: { inFlight, wallUsPerTask: round1(1e6 / tasksPerSec), cpuUsPerTask: round1(cpuUsPerTask), createAndStartMs: times.startMs, stopMs: times.stopMs },
      });
    } finally {
      await hive.stop();
    }
  }
  const base = rows[0]!;
  return rows.map((r) => ({
    name: `full path, ${r.agents.toLocaleString("en")} agents × 4 slots, 80% in flight, ${r.tasks.toLocaleString("en")} tasks`,
    opsPerSec: Math.round(r.tasksPerSec),
    baseline: `cost per task at ${base.agents} agents (CPU)`,
    baselineOpsPerSec: Math.round(base.tasksPerSec),
    ratio: Math.round((base.cpuUsPerTask / r.cpuUsPerTask) * 1_000) / 1_000,
    extra: r.extra,
  }));
}

export default orchestration;
