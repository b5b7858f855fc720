/**
 * `sweep`: many seeded replicas of a virtual-time simulation, over a grid of parameter values,
 * spread over a Piscina worker pool (each replica is one CPU-heavy job on its own thread), then
 * aggregated into means with 95% confidence intervals.
 *
 * Replica `r` of every grid point runs with seed `seed + r` (common random numbers), so points
 * differ by their parameters, not by their luck; and a replica's figures do not depend on the
 * thread it ran on or on how many threads there were.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { z } from "zod";
import { isDeno } from "../backends/worker-file.ts";
import { AbortedError, InvalidOptionsError } from "../core/errors.ts";
import { parseFor } from "../core/validation.ts";
import { estimate } from "./estimate.ts";
import type { Figures } from "./figures.ts";
import { SIM_YOUNG_GENERATION_MB } from "./gc.ts";
import type { SweepReport } from "./report.ts";
import { parseScenario, type Scenario, type ScenarioInput } from "./scenario.ts";
import type { ReplicaJob } from "./sweep-worker.ts";

/** A value a `vary` key takes. */
export type VaryValue = string | number | boolean;

/** Options of {@link sweep}. */
export interface SweepOptions {
  /** Replicas per grid point. */
  replicas: number;
  /**
   * Parameters to vary: a dotted path into the scenario (array items by index, e.g.
   * `agents.0.count`, `workload.arrivals.poisson.ratePerSec`) → the values it takes. Every
   * combination is a grid point. @default {} (one point: the scenario as is)
   */
  vary?: Record<string, readonly VaryValue[]>;
  /** Worker threads. @default the number of CPUs */
  threads?: number;
  /** Seed of replica 0; replica r uses `seed + r`. @default the scenario's seed, else 1 */
  seed?: number;
  /** Aborting it stops the sweep; it rejects with `ABORTED`. */
  signal?: AbortSignal;
  /** Called as replicas finish: how many, of how many. */
  onProgress?: (done: number, total: number) => void;
}

/** The most replicas per grid point a sweep runs. */
export const MAX_REPLICAS = 10_000;
/** The most worker threads a sweep takes. */
export const MAX_SWEEP_THREADS = 256;

const varyValue = z.union([z.string(), z.number(), z.boolean()], { error: "must be a string, number or boolean" });
const optionsSchema = z.strictObject({
  replicas: z.number({ error: `must be an integer from 1 to ${MAX_REPLICAS}` }).int({ error: `must be an integer from 1 to ${MAX_REPLICAS}` }).min(1, {
    error: `must be an integer from 1 to ${MAX_REPLICAS}`,
  }).max(MAX_REPLICAS, { error: `must be an integer from 1 to ${MAX_REPLICAS}` }),
  vary: z.record(
    z.string().regex(/^[^.]+(\.[^.]+)*$/, { error: "must be a dotted path such as agents.0.count" }),
    z.array(varyValue, { error: "must be an array of values" }).min(1, { error: "must list at least one value" }),
  ).optional(),
  threads: z.number({ error: `must be an integer from 1 to ${MAX_SWEEP_THREADS}` }).int({ error: `must be an integer from 1 to ${MAX_SWEEP_THREADS}` }).min(1, {
    error: `must be an integer from 1 to ${MAX_SWEEP_THREADS}`,
  }).max(MAX_SWEEP_THREADS, { error: `must be an integer from 1 to ${MAX_SWEEP_THREADS}` }).optional(),
  seed: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).optional(),
  signal: z.custom<AbortSignal>((v) => typeof v === "object" && v !== null && typeof (v as AbortSignal).aborted === "boolean", { error: "must be an AbortSignal" }).optional(),
  onProgress: z.custom<(done: number, total: number) => void>((v) => typeof v === "function", { error: "must be a function" }).optional(),
});

/** The replica worker module: the build on a Node that cannot strip types, else the source. */
function workerUrl(): URL {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new URL("./sweep-worker.js", here);
  const strips = isDeno || Boolean((globalThis as { process?: { features?: { typescript?: unknown } } }).process?.features?.typescript);
  return strips ? new URL("./sweep-worker.ts", here) : new URL("../../dist/src/sim/sweep-worker.js", here);
}

/** Every combination of the `vary` values, in key order then value order. */
function grid(vary: Record<string, readonly VaryValue[]>): Record<string, VaryValue>[] {
  let points: Record<string, VaryValue>[] = [{}];
  for (const [key, values] of Object.entries(vary)) points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  return points;
}

/** Sections of a scenario that may be left out (all their fields have defaults): `vary` creates them empty. */
const OPTIONAL_SECTIONS = new Set(["policies", "faults"]);

/**
 * `scenario` with `path` set to `value`; the path's parent must exist, except for an optional
 * section left out (`policies.allocation` varies a scenario without `policies`).
 */
export function setPath(scenario: unknown, path: string, value: VaryValue): unknown {
  const copy = structuredClone(scenario) as Record<string, unknown>;
  const keys = path.split(".");
  if (keys.length > 1 && OPTIONAL_SECTIONS.has(keys[0]!) && copy !== null && typeof copy === "object" && copy[keys[0]!] === undefined) copy[keys[0]!] = {};
  let node: unknown = copy;
  for (let i = 0; i < keys.length - 1; i++) {
    const next = node !== null && typeof node === "object" ? (node as Record<string, unknown>)[keys[i]!] : undefined;
    if (next === null || typeof next !== "object") {
      throw new InvalidOptionsError(
        `Cannot sweep: "vary" key ${JSON.stringify(path)} does not name a field of the scenario ("${keys.slice(0, i + 1).join(".")}" is ${next === undefined ? "missing" : JSON.stringify(next)})`,
      );
    }
    node = next;
  }
  (node as Record<string, unknown>)[keys.at(-1)!] = value;
  return copy;
}

/**
 * Runs `replicas` seeded simulations of `scenario` at every point of the `vary` grid on a
 * worker pool and aggregates each figure (throughput, latency and wait percentiles, outcomes,
 * utilisation, restarts, breaker trips) into a mean with a 95% confidence interval.
 *
 * @example
 * ```ts
 * const report = await sweep(scenario, { replicas: 20, vary: { "agents.0.count": [2, 4, 8] } });
 * report.rows[0].figures.latencyMeanMs; // { n: 20, mean, stddev, ci95: [lo, hi] }
 * ```
 * @throws InvalidOptionsError (rejects) naming the option, the scenario field or the `vary` key and the value received
 * @throws AbortedError (rejects, code `ABORTED`) when `signal` aborts
 */
export async function sweep(scenario: ScenarioInput | Scenario, options: SweepOptions): Promise<SweepReport> {
  const o = parseFor(optionsSchema, options, "sweep");
  const base = parseScenario(scenario);
  const vary = o.vary ?? {};
  const seed = o.seed ?? base.seed ?? 1;
  const threads = o.threads ?? Math.max(1, availableParallelism());
  // Every point is validated before any replica runs: a bad value costs nothing.
  const points = grid(vary).map((params) => {
    let input: unknown = scenario;
    for (const [key, value] of Object.entries(params)) input = setPath(input, key, value);
    try {
      return { params, scenario: parseScenario(input) };
    } catch (error) {
      const at = Object.entries(params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
      throw new InvalidOptionsError(`Cannot sweep at ${at}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  });
  const signal = o.signal;
  if (signal?.aborted) throw new AbortedError("The sweep was aborted before it started", { cause: signal.reason });
  // Imported here: importing the package must not load Piscina for users of another backend.
  const { Piscina } = await import("piscina");
  const t0 = performance.now();
  // A young generation sized for simulations (see gc.ts): replicas allocate fast and scale
  // worse over threads when the collector's helpers compete with them.
  const pool = new Piscina<ReplicaJob, Figures>({
    filename: workerUrl().href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 1_000,
    resourceLimits: { maxYoungGenerationSizeMb: SIM_YOUNG_GENERATION_MB },
  });
  const total = points.length * o.replicas;
  let done = 0;
  try {
    const perPoint = await Promise.all(
      points.map((p) =>
        Promise.all(
          Array.from({ length: o.replicas }, (_, r) =>
            pool.run({ scenario: p.scenario, seed: seed + r } satisfies ReplicaJob, signal !== undefined ? { signal } : {}).then((figures) => {
              o.onProgress?.(++done, total);
              return figures;
            })),
        )
      ),
    );
    const rows = points.map((p, i) => {
      const replicas = perPoint[i]!;
      const names = Object.keys(replicas[0] ?? {});
      const figures: SweepReport["rows"][number]["figures"] = {};
      for (const name of names) figures[name] = estimate(replicas.map((f) => f[name]!));
      return { params: p.params, figures };
    });
    return { mode: "sweep", scenario: base.name, replicas: o.replicas, vary: Object.fromEntries(Object.entries(vary).map(([k, v]) => [k, [...v]])), rows, threads, wallMs: performance.now() - t0 };
  } catch (error) {
    if (signal?.aborted) throw new AbortedError("The sweep was aborted", { cause: signal.reason });
    throw error;
  } finally {
    await pool.destroy();
  }
}
