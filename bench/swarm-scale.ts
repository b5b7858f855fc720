/**
 * What the `simulate` and `orchestration` scopes need to measure a swarm as it grows: the same
 * load per agent at every size (4 slots each, 80% utilisation, exponential 2 s tasks in a
 * simulation, trivial tasks with 80% of the slots in flight on a live hive), the heap an agent
 * and a task in flight take, and a hive's start and stop time.
 *
 * @module
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createHive, type Hive, type ScenarioInput } from "../src/index.ts";
import { VirtualClock } from "../src/sim/clock.ts";
import { SimulatedBackend } from "../src/sim/simulated-backend.ts";

/** Swarm sizes the scale lines report, smallest (the reference) first. */
export const SWARM_SIZES = [100, 1_000, 10_000] as const;
/** Slots per agent. */
export const SLOTS = 4;
/** Share of the slots in use. */
export const UTILISATION = 0.8;
const MEAN_MS = 2_000;

/** A Poisson stream of exponential 2 s tasks keeping `agents` × 4 slots 80% busy, `tasks` of them. */
export function scaleScenario(agents: number, tasks: number): ScenarioInput {
  return {
    name: `swarm-${agents}`,
    agents: [{ name: "agent", count: agents, concurrency: SLOTS, capabilities: { sim: 0.8 } }],
    workload: {
      kinds: [{ name: "job", requires: { sim: 0.5 }, duration: { exponential: { meanMs: MEAN_MS } } }],
      arrivals: { poisson: { ratePerSec: (UTILISATION * agents * SLOTS) / (MEAN_MS / 1_000) } },
    },
    run: { tasks, warmupMs: 0 },
  };
}

/** The agents of a live swarm of `n`: ids agent-1 … agent-n, 4 slots each. */
export function swarmAgents(n: number): { id: string; concurrency: number }[] {
  return Array.from({ length: n }, (_, i) => ({ id: `agent-${i + 1}`, concurrency: SLOTS }));
}

/** CPU time of this process (all threads, the collector's included), ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1_000;
}

let collect: (() => void) | undefined;

/** The heap in use after a full collection, bytes. */
export function settledHeap(): number {
  if (collect === undefined) {
    // The bench runs without --expose-gc: the flag is turned on here and `gc` taken from a fresh context.
    setFlagsFromString("--expose-gc");
    collect = runInNewContext("gc") as () => void;
  }
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

/**
 * Heap per agent of a started hive of `n` agents that has run something on every agent (each has
 * its Worker), and per task in flight at 80% of its slots, KB. A hive of the same size is made
 * and stopped first, so that compiled code and caches are not counted.
 */
export async function swarmMemory(n: number): Promise<{ perAgentKB: number; perTaskInFlightKB: number }> {
  await (await memoryHive(n)).stop();
  const before = settledHeap();
  const clock = new VirtualClock();
  const hive = await memoryHive(n, clock);
  try {
    // Every agent runs something (its Worker is started on first use), and it all ends.
    for (let i = 0; i < SLOTS * n; i++) hive.submit({ kind: "job" });
    for (let i = 0; i < 8; i++) await null;
    while (clock.fireNext() > 0) for (let i = 0; i < 8; i++) await null;
    const started = settledHeap();
    // A clock that no longer moves: every task placed now stays in flight.
    const inFlight = Math.round(UTILISATION * SLOTS * n);
    for (let i = 0; i < inFlight; i++) hive.submit({ kind: "job" });
    for (let i = 0; i < 8; i++) await null;
    if (hive.stats().tasks.running !== inFlight) throw new Error(`expected ${inFlight} tasks running, found ${hive.stats().tasks.running}`);
    const loaded = settledHeap();
    return { perAgentKB: round1((started - before) / n / 1_024), perTaskInFlightKB: round1((loaded - started) / inFlight / 1_024) };
  } finally {
    await hive.stop();
    clock.clear();
  }
}

/** A started hive of `n` agents on the simulated backend (1 s tasks) and `clock`. */
async function memoryHive(n: number, clock = new VirtualClock()): Promise<Hive> {
  const hive = createHive({
    agents: swarmAgents(n),
    clock,
    metrics: false,
    backend: (context) => new SimulatedBackend({ clock: context.clock, kinds: [{ name: "job", duration: { constant: 1_000 } }], seed: 1 }),
  });
  await hive.start();
  return hive;
}

/** Wall time to create and start a live (inline) hive of `n` agents, and to stop it, ms. */
export async function startAndStop(n: number): Promise<{ startMs: number; stopMs: number }> {
  const t0 = performance.now();
  const hive = createHive({ backend: "inline", metrics: false, agents: swarmAgents(n) });
  await hive.start();
  const t1 = performance.now();
  await hive.stop();
  return { startMs: Math.round(t1 - t0), stopMs: Math.round(performance.now() - t1) };
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
