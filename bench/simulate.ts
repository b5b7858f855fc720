/**
 * Bench scope `simulate`: simulated tasks per second of wall time for a 100-agent swarm
 * (4 slots each, lognormal 2 s tasks, Poisson arrivals at 80% load) on one core, against two
 * baselines measured in the same run:
 *
 * - raw XState single-actor events per second (a two-state toggle, as in `orchestration`):
 *   `ratio` = simulated tasks/s ÷ raw events/s;
 * - the same machines on a live hive, inline backend, the same 100 agents × 4 slots, trivial
 *   tasks with 400 in flight: the most any run of these machines does with one agent chain per
 *   task; `ratio` = simulated tasks/s ÷ inline tasks/s, i.e. what the virtual-time driver costs
 *   on top of the hive.
 *
 * - the floor: raw XState machines wired like a hive's task path (nine events per task, the same
 *   Agent and Worker states, no work in the actions; `xstate-path.ts`) with 320 tasks in flight
 *   over 100 agents × 4 slots; `ratio` = simulated tasks/s ÷ tasks/s through that bare path,
 *   i.e. how close the simulation runs to what XState itself charges for the route.
 *
 * `extra` gives the target (20,000 tasks/s), how many simulated seconds pass per wall
 * second, and the orchestration scope's inline figure (2 agents × 600 slots, 1,000 in flight,
 * where batches carry hundreds of tasks per event) for scale.
 *
 * Then the swarm grows: 100, 1,000 and 10,000 agents at the same load per agent (4 slots, 80%
 * busy, exponential 2 s tasks; 40,000 tasks at every size, 10,000 with `--quick`), start and
 * stop included. Each line's `ratio` is the cost per task at 100 agents ÷ its own (0.5 = twice
 * as dear), in CPU time, which a busy host disturbs less than wall time; `extra` gives both, the
 * heap an agent and a task in flight take, and simulated seconds per wall second.
 *
 * @module
 */
import { createActor, createMachine } from "xstate";
import { createHive, type ScenarioInput, simulate } from "../src/index.ts";
import { type BenchResult, type BenchScope, compare, opsPerSecond } from "./harness.ts";
import { closedLoop } from "./pool.ts";
import { cpuMs, round1, scaleScenario, SWARM_SIZES, swarmMemory } from "./swarm-scale.ts";
import { createXStatePath } from "./xstate-path.ts";

const AGENTS = 100;
const SLOTS = 4;
const MEDIAN_MS = 2_000;
const SIGMA = 0.5;

/** 100 agents × 4 slots at 80% load: λ = 0.8 · 400 / mean duration. */
function swarm(tasks: number): ScenarioInput {
  const meanS = (MEDIAN_MS * Math.exp((SIGMA * SIGMA) / 2)) / 1_000;
  return {
    name: "bench-swarm",
    agents: [{ name: "agent", count: AGENTS, concurrency: SLOTS, capabilities: { sim: 0.8 } }],
    workload: {
      kinds: [{ name: "job", requires: { sim: 0.5 }, duration: { lognormal: { medianMs: MEDIAN_MS, sigma: SIGMA } } }],
      arrivals: { poisson: { ratePerSec: (0.8 * AGENTS * SLOTS) / meanS } },
    },
    run: { tasks, warmupMs: 0 },
  };
}

const toggle = createMachine({
  initial: "off",
  states: { off: { on: { toggle: "on" } }, on: { on: { toggle: "off" } } },
});

const simulateScope: BenchScope = async ({ quick }) => {
  const tasks = quick ? 10_000 : 40_000;
  const rounds = quick ? 1 : 3;
  let virtualPerWall = 0;
  const simulated = async (): Promise<number> => {
    const t0 = performance.now();
    const report = await simulate(swarm(tasks), { seed: 1 });
    const wall = performance.now() - t0;
    virtualPerWall = Math.max(virtualPerWall, Number(report.extra["simulatedMs"]) / wall);
    return (report.tasks.completed * 1_000) / wall;
  };
  const actor = createActor(toggle).start();
  const event = { type: "toggle" } as const;
  const rawXState = (): Promise<number> =>
    opsPerSecond(
      () => {
        for (let i = 0; i < 1_000; i++) actor.send(event);
      },
      1_000,
      { minMs: quick ? 300 : 1_000 },
    );
  const path = createXStatePath(AGENTS, SLOTS, Math.round(0.8 * AGENTS * SLOTS));
  path.run(10_000); // warm-up
  const bareXStatePath = (): Promise<number> => opsPerSecond(() => path.run(1_000), 1_000, { minMs: quick ? 300 : 1_000 });
  const wide = createHive({ backend: "inline", metrics: false, agents: Array.from({ length: AGENTS }, (_, i) => ({ id: `agent-${i + 1}`, concurrency: SLOTS })) });
  const narrow = createHive({ backend: "inline", metrics: false, agents: [{ id: "a", concurrency: 600 }, { id: "b", concurrency: 600 }] });
  await wide.start();
  await narrow.start();
  try {
    const inline100 = (): Promise<number> => closedLoop(() => wide.run({ kind: "echo", input: 1 }), 400, quick ? 10_000 : 40_000);
    const orchestration = await closedLoop(() => narrow.run({ kind: "echo", input: 1 }), 1_000, quick ? 10_000 : 50_000);
    const vsRaw = await compare(`simulate, ${AGENTS} agents × ${SLOTS} slots, ${tasks.toLocaleString("en")} tasks`, "raw XState single-actor events", simulated, rawXState, rounds);
    const vsInline = await compare(
      `simulate, ${AGENTS} agents × ${SLOTS} slots, ${tasks.toLocaleString("en")} tasks`,
      `live hive, inline backend, ${AGENTS} agents × ${SLOTS} slots, 400 in flight`,
      simulated,
      inline100,
      rounds,
    );
    const vsPath = await compare(
      `simulate, ${AGENTS} agents × ${SLOTS} slots, ${tasks.toLocaleString("en")} tasks`,
      `raw XState, a hive's nine-event task path with empty actions, ${AGENTS} agents × ${SLOTS} slots`,
      simulated,
      bareXStatePath,
      rounds,
    );
    const extra = {
      targetTasksPerSec: 20_000,
      simulatedSecondsPerWallSecond: Math.round(virtualPerWall),
      orchestrationInlineTasksPerSec: Math.round(orchestration),
      xstatePathAgentStateChanges: Math.round(path.stateChanges() * 100) / 100,
    };
    return [
      { ...vsRaw, extra },
      { ...vsInline, extra },
      { ...vsPath, extra },
      ...(await growing(quick ? 10_000 : 40_000)),
    ];
  } finally {
    actor.stop();
    path.stop();
    await wide.stop();
    await narrow.stop();
  }
};

/** The swarm at 100, 1,000 and 10,000 agents: cost per task against the 100-agent swarm's. */
async function growing(tasks: number): Promise<BenchResult[]> {
  const rows: { agents: number; tasksPerSec: number; cpuUsPerTask: number; extra: Record<string, number> }[] = [];
  for (const agents of SWARM_SIZES) {
    const memory = await swarmMemory(agents);
    const c0 = cpuMs();
    const t0 = performance.now();
    const report = await simulate(scaleScenario(agents, tasks), { seed: 1 });
    const wall = performance.now() - t0;
    const cpu = cpuMs() - c0;
    const done = report.tasks.completed;
    rows.push({
      agents,
      tasksPerSec: (done * 1_000) / wall,
      cpuUsPerTask: (cpu * 1_000) / done,
      extra: {
        wallUsPerTask: round1((wall * 1_000) / done),
        cpuUsPerTask: round1((cpu * 1_000) / done),
        simulatedSecondsPerWallSecond: Math.round(Number(report.extra["simulatedMs"]) / wall),
        heapPerAgentKB: memory.perAgentKB,
        heapPerTaskInFlightKB: memory.perTaskInFlightKB,
        wallS: round1(wall / 1_000),
      },
    });
  }
  const base = rows[0]!;
  return rows.map((r) => ({
    name: `simulate, ${r.agents.toLocaleString("en")} agents × 4 slots, exp. 2 s at 80%, ${tasks.toLocaleString("en")} tasks`,
    opsPerSec: Math.round(r.tasksPerSec),
    baseline: `cost per task at ${base.agents} agents (CPU)`,
    baselineOpsPerSec: Math.round(base.tasksPerSec),
    ratio: Math.round((base.cpuUsPerTask / r.cpuUsPerTask) * 1_000) / 1_000,
    extra: r.extra,
  }));
}

export default simulateScope;
