/**
 * The built-in live demo behind `apiary simulate` with no scenario: a small swarm of agents
 * with different capabilities runs a few hundred real simulation tasks (energy dispatch and
 * Monte Carlo) on the worker pool, and reports throughput, latency and work per agent.
 *
 * @module
 */
import type { Priority } from "../../actors/types.ts";
import type { EnergyReport } from "../../workers/energy.ts";
import type { MonteCarloReport } from "../../workers/montecarlo.ts";
import type { BackendName } from "../backends/registry.ts";
import { createHive, type HiveStats, type TaskOptions } from "../hive/hive.ts";
import { createRandom } from "../core/random.ts";

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Tasks to run. @default 300 */
  tasks: number;
  seed: number;
  threads?: number | undefined;
  backend?: BackendName | undefined;
  /** Called as tasks finish. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal | undefined;
}

/** What the demo reports. */
export interface DemoReport {
  scenario: "demo";
  seed: number;
  backend: string;
  threads: number;
  wallMs: number;
  throughputPerSec: number;
  tasks: HiveStats["tasks"];
  latencyMs: HiveStats["latencyMs"];
  agents: { id: string; capabilities: Record<string, number>; concurrency: number; tasks: number; failed: number; successRate: number; meanMs: number }[];
  results: {
    energy: { runs: number; meanSelfSufficiency: number; meanImportKwh: number };
    montecarlo: { runs: number; meanEstimate: number; pooledStdError: number };
  };
}

/** The demo swarm: two energy specialists, a Monte Carlo specialist and a generalist. */
export const DEMO_AGENTS: { id: string; capabilities: Record<string, number>; concurrency: number }[] = [
  { id: "solar-1", capabilities: { energy: 0.9, montecarlo: 0.3 }, concurrency: 2 },
  { id: "solar-2", capabilities: { energy: 0.7 }, concurrency: 2 },
  { id: "quant-1", capabilities: { montecarlo: 0.9, energy: 0.2 }, concurrency: 2 },
  { id: "generalist", capabilities: { energy: 0.5, montecarlo: 0.5 }, concurrency: 1 },
];

const PRIORITY_MIX: [Priority, number][] = [["critical", 0.05], ["high", 0.2], ["normal", 0.5], ["low", 0.2], ["background", 0.05]];

/** Builds the demo's task list from a seed. */
export function demoTasks(count: number, seed: number): TaskOptions[] {
  const rng = createRandom(seed);
  const pick = (): Priority => {
    let u = rng.next();
    for (const [p, w] of PRIORITY_MIX) {
      if ((u -= w) < 0) return p;
    }
    return "normal";
  };
  const tasks: TaskOptions[] = [];
  for (let i = 0; i < count; i++) {
    if (rng.next() < 0.6) {
      tasks.push({
        kind: "energy",
        requires: { energy: 0.5 },
        priority: pick(),
        input: {
          solarKwp: 3 + Math.round(rng.next() * 70) / 10,
          demandKwhPerYear: 2_500 + Math.round(rng.next() * 4_000),
          batteryKwh: Math.round(rng.next() * 15),
          batteryKw: 3 + Math.round(rng.next() * 3),
          stepsPerHour: 4,
          seed: Math.floor(rng.next() * 2 ** 31),
        },
      });
    } else {
      tasks.push({ kind: "montecarlo", requires: { montecarlo: 0.4 }, priority: pick(), input: { samples: 300_000, seed: Math.floor(rng.next() * 2 ** 31) } });
    }
  }
  return tasks;
}

/** Runs the demo on a live hive and returns its report. */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const hive = createHive({
    agents: DEMO_AGENTS,
    seed: options.seed,
    defaults: { timeoutMs: 60_000, retries: 1 },
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
  });
  await hive.start(options.signal);
  try {
    const tasks = demoTasks(options.tasks, options.seed);
    let done = 0;
    const t0 = performance.now();
    const outcomes = await Promise.allSettled(
      tasks.map((t) =>
        hive.run(t).finally(() => {
          done++;
          options.onProgress?.(done, tasks.length);
        })
      ),
    );
    const wallMs = performance.now() - t0;
    const stats = hive.stats();
    let energyRuns = 0;
    let selfSufficiency = 0;
    let importKwh = 0;
    let mcRuns = 0;
    let estimate = 0;
    let variance = 0;
    outcomes.forEach((o, i) => {
      if (o.status !== "fulfilled") return;
      if (tasks[i]!.kind === "energy") {
        const r = o.value as EnergyReport;
        energyRuns++;
        selfSufficiency += r.selfSufficiency;
        importKwh += r.importKwh;
      } else {
        const r = o.value as MonteCarloReport;
        mcRuns++;
        estimate += r.estimate;
        variance += r.stdError ** 2;
      }
    });
    return {
      scenario: "demo",
      seed: options.seed,
      backend: stats.backend,
      threads: stats.pool.threads,
      wallMs,
      throughputPerSec: (stats.tasks.completed * 1_000) / wallMs,
      tasks: stats.tasks,
      latencyMs: stats.latencyMs,
      agents: stats.agents.map((a) => ({
        id: a.id,
        capabilities: DEMO_AGENTS.find((x) => x.id === a.id)?.capabilities ?? {},
        concurrency: a.concurrency,
        tasks: a.completed,
        failed: a.failed,
        successRate: a.successRate,
        meanMs: a.latencyMs,
      })),
      results: {
        energy: { runs: energyRuns, meanSelfSufficiency: energyRuns ? selfSufficiency / energyRuns : 0, meanImportKwh: energyRuns ? importKwh / energyRuns : 0 },
        montecarlo: { runs: mcRuns, meanEstimate: mcRuns ? estimate / mcRuns : 0, pooledStdError: mcRuns ? Math.sqrt(variance) / mcRuns : 0 },
      },
    };
  } finally {
    await hive.stop();
  }
}
