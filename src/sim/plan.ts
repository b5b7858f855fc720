/**
 * `plan`: the smallest setting of a scenario that meets every target with 95% confidence. The
 * settings are the `vary` grid in the order given (the first path varies slowest); each one
 * tried runs `replicas` seeded replicas on the worker pool (as `sweep` does) and meets a target
 * only when the figure's whole 95% interval is on the right side of it.
 *
 * Where the last path's values are numbers in order (a count of agents, a concurrency), more is
 * assumed to be better and that path is bisected: the largest value is tried first (if it
 * misses, nothing on that line meets), then the midpoints, so a line of n values costs about
 * log2(n) + 1 settings instead of n. Otherwise every setting is tried in order until one meets.
 * A setting whose mean meets a target but whose interval does not is run again with twice the
 * replicas before it is judged.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { z } from "zod";
import { AbortedError, InvalidOptionsError } from "../core/errors.ts";
import { parseFor } from "../core/validation.ts";
import { describeFigure, formatFigureValue } from "./figure-names.ts";
import { formatNumber } from "./format.ts";
import type { RemoteReplicaOptions, ReplicaNode } from "./remote-replica-pool.ts";
import type { Bottleneck, Estimate, TargetResult } from "./report.ts";
import { parseScenario, type Scenario, type ScenarioInput } from "./scenario.ts";
import { aggregate, MAX_REPLICAS, MAX_SWEEP_THREADS, openReplicaPool, refuseThreadsWithRemote, remoteReplicasSchema, setPath, type VaryValue } from "./sweep.ts";
import type { ReplicaResult } from "./sweep-worker.ts";
import { evaluateEstimate, parseTargets, type Target, type TargetInput } from "./targets.ts";

/** Options of {@link plan}. */
export interface PlanOptions {
  /** Dotted scenario path → the values to try, smallest (most preferred) first. Every combination is a setting. */
  vary: Record<string, readonly VaryValue[]>;
  /** What every setting is held to (`"waitMs.p95<2000"`, `"successRate>=99.5%"`, or `{ figure, op, value }`). At least one. */
  targets: readonly TargetInput[];
  /** Replicas per setting tried. @default 10 */
  replicas?: number;
  /** Worker threads. @default the number of CPUs */
  threads?: number;
  /**
   * Run the replicas on the worker nodes of a cluster (`apiary worker --redis URL`) instead of
   * local threads, as `sweep` does: the same seeds give the same figures, so the same choice. Not
   * with `threads` (the nodes bring them).
   */
  remote?: RemoteReplicaOptions;
  /** Seed of replica 0; replica r uses `seed + r`. @default the scenario's seed, else 1 */
  seed?: number;
  /** `bisection` (assume more of the last path is better), `linear` (try in order), or `auto`: bisection where the last path's values are numbers in order. @default "auto" */
  search?: "auto" | "bisection" | "linear";
  /** Aborting it stops the plan; it rejects with `ABORTED`. */
  signal?: AbortSignal;
  /** Called as replicas finish: how many so far, and a line on where the search stands. */
  onProgress?: (done: number, detail: string) => void;
}

/** One setting of the grid and how it did. */
export interface PlanCandidate {
  params: Record<string, VaryValue>;
  /** `meets` every target, `misses` one, `unsure` (a mean meets a target but its interval does not), or `skipped` (not simulated). */
  verdict: "meets" | "misses" | "unsure" | "skipped";
  /** When it was tried (1 first), or null. */
  tried: number | null;
  /** Replicas it ran. */
  replicas: number;
  targets: TargetResult[];
  /** Every figure over its replicas (empty when skipped). */
  figures: Record<string, Estimate>;
  /** Why it was skipped, or what else to know. */
  note?: string;
  /** Its first replica's bottleneck analysis. */
  bottleneck?: Bottleneck;
}

/** What {@link plan} found. */
export interface PlanReport {
  mode: "plan";
  scenario: string;
  vary: Record<string, VaryValue[]>;
  targets: string[];
  replicas: number;
  seed: number;
  threads: number;
  /** With `remote`: the nodes that ran replicas, with their counts. */
  nodes?: ReplicaNode[];
  search: "bisection" | "linear";
  /** The smallest setting that meets every target (path → value), or null when none does. */
  choice: Record<string, VaryValue> | null;
  /** Why: the choice's results and those of the setting before it, if one was tried. */
  evidence: { choice: { params: Record<string, VaryValue>; targets: TargetResult[] } | null; previous: { params: Record<string, VaryValue>; targets: TargetResult[] } | null };
  /** The finding in a sentence. */
  statement: string;
  /** Settings simulated, of the grid's. */
  tried: number;
  gridSize: number;
  /** Every setting of the grid, in order. */
  candidates: PlanCandidate[];
  wallMs?: number;
}

const varyValue = z.union([z.string(), z.number(), z.boolean()], { error: "must be a string, number or boolean" });
const optionsSchema = z.strictObject({
  vary: z.record(
    z.string().regex(/^[^.]+(\.[^.]+)*$/, { error: "must be a dotted path such as agents.0.count" }),
    z.array(varyValue, { error: "must be an array of values" }).min(1, { error: "must list at least one value" }),
    { error: "must be an object of dotted path to values" },
  )
    .refine((v) => Object.keys(v).length > 0, { error: "must name at least one path to vary" }),
  targets: z.array(z.custom<TargetInput>(() => true), { error: 'must be an array of targets such as "waitMs.p95<2000"' }).min(1, { error: "must name at least one target" }),
  replicas: z.number({ error: `must be an integer from 2 to ${MAX_REPLICAS}` }).int({ error: `must be an integer from 2 to ${MAX_REPLICAS}` }).min(2, {
    error: `must be an integer from 2 to ${MAX_REPLICAS}`,
  }).max(MAX_REPLICAS, { error: `must be an integer from 2 to ${MAX_REPLICAS}` }).optional(),
  threads: z.number({ error: `must be an integer from 1 to ${MAX_SWEEP_THREADS}` }).int({ error: `must be an integer from 1 to ${MAX_SWEEP_THREADS}` }).min(1, {
    error: `must be an integer from 1 to ${MAX_SWEEP_THREADS}`,
  }).max(MAX_SWEEP_THREADS, { error: `must be an integer from 1 to ${MAX_SWEEP_THREADS}` }).optional(),
  seed: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).optional(),
  search: z.enum(["auto", "bisection", "linear"], { error: "must be one of auto, bisection, linear" }).optional(),
  signal: z.custom<AbortSignal>((v) => typeof v === "object" && v !== null && typeof (v as AbortSignal).aborted === "boolean", { error: "must be an AbortSignal" }).optional(),
  onProgress: z.custom<(done: number, detail: string) => void>((v) => typeof v === "function", { error: "must be a function" }).optional(),
  remote: remoteReplicasSchema.optional(),
});

/** The default replicas per setting. */
export const DEFAULT_PLAN_REPLICAS = 10;

function describeParams(params: Record<string, VaryValue>): string {
  return Object.entries(params).map(([k, v]) => `${k} = ${String(v)}`).join(", ");
}

/** True when `values` are numbers in ascending or descending order. */
function ordered(values: readonly VaryValue[]): boolean {
  if (!values.every((v) => typeof v === "number")) return false;
  const n = values as readonly number[];
  const up = n.every((v, i) => i === 0 || v > n[i - 1]!);
  const down = n.every((v, i) => i === 0 || v < n[i - 1]!);
  return up || down;
}

/**
 * Finds the smallest setting of `vary` (in the order given) at which `scenario` meets every
 * target with 95% confidence.
 *
 * @example
 * ```ts
 * const p = await plan(scenario, { vary: { "agents.0.count": [2, 3, 4, 5, 6, 7, 8] }, targets: ["waitMs.p95<500"], replicas: 10 });
 * p.choice; // { "agents.0.count": 5 }, or null when no setting meets the targets
 * ```
 * @throws InvalidOptionsError (rejects) naming the option, the target, the `vary` path or the scenario field and the value received
 * @throws AbortedError (rejects, code `ABORTED`) when `signal` aborts
 */
export async function plan(scenario: ScenarioInput | Scenario, options: PlanOptions): Promise<PlanReport> {
  const o = parseFor(optionsSchema, options, "plan");
  refuseThreadsWithRemote(o, "plan");
  const base = parseScenario(scenario);
  const targets = parseTargets(o.targets, "targets", { kinds: base.workload.kinds.map((k) => k.name) }, true, "plan");
  const replicas = o.replicas ?? DEFAULT_PLAN_REPLICAS;
  const seed = o.seed ?? base.seed ?? 1;
  const threads = o.threads ?? Math.max(1, availableParallelism());
  const paths = Object.keys(o.vary);
  const last = paths[paths.length - 1]!;
  const lastValues = o.vary[last]!;
  const search: PlanReport["search"] = o.search === "linear" || (o.search !== "bisection" && !ordered(lastValues)) ? "linear" : "bisection";

  // Every setting is validated before anything runs: a bad value costs nothing.
  let settings: Record<string, VaryValue>[] = [{}];
  for (const path of paths) settings = settings.flatMap((p) => o.vary[path]!.map((v) => ({ ...p, [path]: v })));
  const scenarios = settings.map((params) => {
    let input: unknown = scenario;
    for (const [key, value] of Object.entries(params)) input = setPath(input, key, value);
    try {
      return parseScenario(input);
    } catch (error) {
      throw new InvalidOptionsError(`Cannot plan at ${describeParams(params)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  });
  const candidates: PlanCandidate[] = settings.map((params) => ({ params, verdict: "skipped", tried: null, replicas: 0, targets: [], figures: {} }));
  const signal = o.signal;
  if (signal?.aborted) throw new AbortedError("The plan was aborted before it started", { cause: signal.reason });

  const t0 = performance.now();
  const { pool, remote } = await openReplicaPool(o.remote, threads, signal);
  let done = 0;
  let tried = 0;
  try {
    const runReplicas = (i: number, from: number, count: number): Promise<ReplicaResult[]> =>
      Promise.all(Array.from({ length: count }, (_, r) =>
        pool.run(scenarios[i]!, seed + from + r, { signal, analyse: from + r === 0 }).then((result) => {
          done++;
          o.onProgress?.(done, `setting ${tried}: ${describeParams(settings[i]!)}`);
          return result;
        })));
    /** Runs setting `i` (once) and judges it. */
    const judge = async (i: number): Promise<boolean> => {
      const c = candidates[i]!;
      if (c.tried !== null) return c.verdict === "meets";
      c.tried = ++tried;
      let results = await runReplicas(i, 0, replicas);
      let judged = judgeAll(aggregate(results.map((r) => r.figures)), targets);
      if (judged.some((t) => t.unsure === true) && judged.every((t) => t.passed || t.unsure === true)) {
        // Close to the line: twice the replicas before deciding.
        results = [...results, ...(await runReplicas(i, replicas, replicas))];
        judged = judgeAll(aggregate(results.map((r) => r.figures)), targets);
        c.note = `run again with ${replicas * 2} replicas: with ${replicas} a target was met by the mean but not by its whole 95% interval`;
      }
      c.replicas = results.length;
      c.figures = aggregate(results.map((r) => r.figures));
      c.targets = judged.map(({ unsure: _unsure, ...t }) => t);
      const bottleneck = results[0]?.bottleneck;
      if (bottleneck !== undefined) c.bottleneck = bottleneck;
      c.verdict = judged.every((t) => t.passed) ? "meets" : judged.some((t) => !t.passed && t.unsure !== true) ? "misses" : "unsure";
      return c.verdict === "meets";
    };

    let chosen = -1;
    const lineLength = lastValues.length;
    for (let start = 0; start < settings.length && chosen < 0; start += lineLength) {
      if (search === "linear") {
        for (let i = start; i < start + lineLength; i++) {
          if (await judge(i)) {
            chosen = i;
            break;
          }
        }
        continue;
      }
      // Bisection over the line: its last setting first, then halve the interval [lo, hi] whose hi meets.
      let lo = start;
      let hi = start + lineLength - 1;
      if (!(await judge(hi))) continue;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        if (await judge(mid)) hi = mid;
        else lo = mid + 1;
      }
      chosen = hi;
    }
    if (search === "bisection") {
      for (const c of candidates) {
        if (c.tried !== null) continue;
        const i = candidates.indexOf(c);
        const line = Math.floor(i / lineLength) * lineLength;
        const meetsBefore = candidates.slice(line, i).some((x) => x.verdict === "meets");
        c.note = meetsBefore
          ? "not simulated: a smaller value on its line already meets every target"
          : chosen >= 0 && i > chosen
          ? "not simulated: a smaller setting meets every target"
          : "not simulated: a larger value on its line misses a target (bisection assumes more is better)";
      }
    } else {
      for (const c of candidates) if (c.tried === null) c.note = "not simulated: an earlier setting meets every target";
    }

    const choice = chosen >= 0 ? candidates[chosen]! : null;
    const previous = chosen > 0 && candidates[chosen - 1]!.tried !== null && Math.floor((chosen - 1) / lineLength) === Math.floor(chosen / lineLength) ? candidates[chosen - 1]! : null;
    const statement = planStatement(choice, previous, targets, replicas, tried, settings.length, search);
    return {
      mode: "plan",
      scenario: base.name,
      vary: Object.fromEntries(paths.map((p) => [p, [...o.vary[p]!]])),
      targets: targets.map((t) => t.text),
      replicas,
      seed,
      threads: remote?.threads ?? threads,
      ...(remote !== undefined ? { nodes: remote.nodes() } : {}),
      search,
      choice: choice === null ? null : { ...choice.params },
      evidence: {
        choice: choice === null ? null : { params: choice.params, targets: choice.targets },
        previous: previous === null ? null : { params: previous.params, targets: previous.targets },
      },
      statement,
      tried,
      gridSize: settings.length,
      candidates,
      wallMs: performance.now() - t0,
    };
  } catch (error) {
    if (signal?.aborted) throw new AbortedError("The plan was aborted", { cause: signal.reason });
    throw error;
  } finally {
    await pool.destroy();
  }
}

function judgeAll(figures: Record<string, Estimate>, targets: readonly Target[]) {
  return targets.map((t) => evaluateEstimate(figures[t.figure], t));
}

function resultText(r: TargetResult): string {
  const label = describeFigure(r.figure)?.label ?? r.figure;
  if (r.actual === null) return `${r.target}: no such figure`;
  const ci = r.ci95 === undefined ? "" : ` [${formatFigureValue(r.figure, r.ci95[0])}, ${formatFigureValue(r.figure, r.ci95[1])}]`;
  return `${label} ${formatFigureValue(r.figure, r.actual)}${ci} against ${r.target}`;
}

function planStatement(choice: PlanCandidate | null, previous: PlanCandidate | null, targets: readonly Target[], replicas: number, tried: number, grid: number, search: PlanReport["search"]): string {
  const how = `${formatNumber(tried)} of ${formatNumber(grid)} settings simulated (${search === "bisection" ? "bisection" : "in order"}), ${formatNumber(replicas)} replicas each`;
  if (choice === null) return `No setting meets every target (${targets.map((t) => t.text).join(", ")}) with 95% confidence; ${how}.`;
  const why = choice.targets.map(resultText).join("; ");
  const before = previous === null ? "" : ` The setting before it, ${describeParams(previous.params)}, does not: ${previous.targets.filter((t) => !t.passed).map(resultText).join("; ")}.`;
  return `${describeParams(choice.params)} is the smallest setting that meets every target with 95% confidence: ${why}.${before} ${how}.`;
}
