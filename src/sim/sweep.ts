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
import { AbortedError, InvalidOptionsError } from "../core/errors.ts";
import { parseFor } from "../core/validation.ts";
import { estimate } from "./estimate.ts";
import type { Figures } from "./figures.ts";
import { describeFigure, HISTOGRAM_RESOLUTION } from "./figure-names.ts";
import type { Estimate, SweepReport } from "./report.ts";
import { parseScenario, type Scenario, type ScenarioInput } from "./scenario.ts";
import { nodeIdSchema, redisUrlSchema } from "../backends/remote/options.ts";
import type { RemoteReplicaOptions, RemoteReplicaPool } from "./remote-replica-pool.ts";
import { createReplicaPool, type ReplicaPool } from "./replica-pool.ts";
import { evaluateEstimate, parseTargets, type TargetInput } from "./targets.ts";

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
  /** Targets each row is held to (`"waitMs.p95<2000"`): met when the figure's whole 95% interval is. @default [] */
  targets?: readonly TargetInput[];
  /**
   * Run the replicas on the worker nodes of a cluster (`apiary worker --redis URL`) instead of
   * local threads: each replica is a BullMQ job that a node runs on one of its threads. The
   * figures are those of a local sweep with the same seed. Not with `threads` (the nodes bring them).
   */
  remote?: RemoteReplicaOptions;
}

/** The most replicas per grid point a sweep runs. */
export const MAX_REPLICAS = 10_000;
/** The most worker threads a sweep takes. */
export const MAX_SWEEP_THREADS = 256;

/** `remote` of a sweep or a plan: the cluster whose worker nodes run the replicas. */
export const remoteReplicasSchema = z.strictObject({
  redis: redisUrlSchema,
  prefix: nodeIdSchema.optional(),
  minNodes: z.number({ error: "must be an integer from 1 to 10000" }).int({ error: "must be an integer from 1 to 10000" }).min(1, { error: "must be an integer from 1 to 10000" }).max(10_000, {
    error: "must be an integer from 1 to 10000",
  }).optional(),
  waitMs: z.number({ error: "must be a positive integer" }).int({ error: "must be a positive integer" }).min(1, { error: "must be a positive integer" }).optional(),
}, { error: "must be an object { redis, prefix, minNodes, waitMs }" });

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
  targets: z.array(z.custom<TargetInput>(() => true), { error: 'must be an array of targets such as "waitMs.p95<2000"' }).optional(),
  remote: remoteReplicasSchema.optional(),
});

/** `threads` and `remote` of a sweep or a plan do not go together: the worker nodes bring the threads. */
export function refuseThreadsWithRemote(o: { threads?: number | undefined; remote?: unknown }, action: "sweep" | "plan"): void {
  if (o.remote !== undefined && o.threads !== undefined) {
    throw new InvalidOptionsError(`Cannot ${action}: "threads" must not be given with "remote" (the worker nodes bring the threads), received ${o.threads}`);
  }
}

/**
 * The pool a sweep or a plan runs its replicas on: the cluster's worker nodes with `remote`
 * (`remote` is then that pool, for its nodes and threads), else `threads` local threads.
 */
export async function openReplicaPool(
  options: RemoteReplicaOptions | undefined,
  threads: number,
  signal: AbortSignal | undefined,
): Promise<{ pool: ReplicaPool; remote: RemoteReplicaPool | undefined }> {
  if (options === undefined) return { pool: await createReplicaPool(threads), remote: undefined };
  const { createRemoteReplicaPool } = await import("./remote-replica-pool.ts");
  const remote = await createRemoteReplicaPool(options, signal);
  return { pool: remote, remote };
}

/** Every combination of the `vary` values, in key order then value order. */
function grid(vary: Record<string, readonly VaryValue[]>): Record<string, VaryValue>[] {
  let points: Record<string, VaryValue>[] = [{}];
  for (const [key, values] of Object.entries(vary)) points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  return points;
}

/**
 * Each figure over the replicas as a mean and 95% interval. A figure some replicas lack (a
 * priority no task of theirs had) is estimated over those that have it; percentiles read from a
 * histogram get intervals at least as wide as its resolution; intervals stop at 0 (and shares at
 * 1), which no figure passes.
 */
export function aggregate(replicas: readonly Figures[]): Record<string, Estimate> {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const f of replicas) {
    for (const name of Object.keys(f)) {
      if (seen.has(name)) continue;
      seen.add(name);
      names.push(name);
    }
  }
  const out: Record<string, Estimate> = {};
  for (const name of names) {
    const values = replicas.flatMap((f) => (f[name] === undefined ? [] : [f[name]!]));
    const info = describeFigure(name);
    // Every figure of a report is a count, a time, a rate or a share: none is negative, a share is at most 1.
    const bounds: [number, number] = info === undefined ? [-Infinity, Infinity] : [0, info.unit === "fraction" ? 1 : Infinity];
    out[name] = estimate(values, info?.histogram === true ? HISTOGRAM_RESOLUTION : 0, bounds);
  }
  return out;
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
 * report.rows[0].figures["latencyMs.mean"]; // { n: 20, mean, stddev, ci95: [lo, hi] }
 * ```
 * @throws InvalidOptionsError (rejects) naming the option, the scenario field or the `vary` key and the value received
 * @throws AbortedError (rejects, code `ABORTED`) when `signal` aborts
 */
export async function sweep(scenario: ScenarioInput | Scenario, options: SweepOptions): Promise<SweepReport> {
  const o = parseFor(optionsSchema, options, "sweep");
  refuseThreadsWithRemote(o, "sweep");
  const base = parseScenario(scenario);
  const vary = o.vary ?? {};
  const seed = o.seed ?? base.seed ?? 1;
  const threads = o.threads ?? Math.max(1, availableParallelism());
  const targets = parseTargets(o.targets ?? [], "targets", { kinds: base.workload.kinds.map((k) => k.name) }, true, "sweep");
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
  const t0 = performance.now();
  const { pool, remote } = await openReplicaPool(o.remote, threads, signal);
  const total = points.length * o.replicas;
  let done = 0;
  try {
    const perPoint = await Promise.all(
      points.map((p) =>
        Promise.all(
          Array.from({ length: o.replicas }, (_, r) =>
            pool.run(p.scenario, seed + r, { signal, analyse: r === 0 }).then((result) => {
              o.onProgress?.(++done, total);
              return result;
            })),
        )
      ),
    );
    const rows: SweepReport["rows"] = points.map((p, i) => {
      const replicas = perPoint[i]!;
      const figures = aggregate(replicas.map((x) => x.figures));
      const bottleneck = replicas[0]?.bottleneck;
      return {
        params: p.params,
        figures,
        ...(targets.length > 0 ? { targets: targets.map((t) => evaluateEstimate(figures[t.figure], t)).map(({ unsure: _unsure, ...result }) => result) } : {}),
        ...(bottleneck !== undefined ? { bottleneck } : {}),
      };
    });
    return {
      mode: "sweep",
      scenario: base.name,
      replicas: o.replicas,
      vary: Object.fromEntries(Object.entries(vary).map(([k, v]) => [k, [...v]])),
      rows,
      threads: remote?.threads ?? threads,
      ...(remote !== undefined ? { nodes: remote.nodes() } : {}),
      wallMs: performance.now() - t0,
      ...(targets.length > 0 ? { targets: targets.map((t) => t.text) } : {}),
    };
  } catch (error) {
    if (signal?.aborted) throw new AbortedError("The sweep was aborted", { cause: signal.reason });
    throw error;
  } finally {
    await pool.destroy();
  }
}
