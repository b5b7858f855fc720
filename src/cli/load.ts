/**
 * `apiary load`: a live load test. For each in-flight level (10, 100, 1,000, 5,000 by default) a
 * fresh hive on real worker threads runs real CPU tasks closed-loop — exactly `level` tasks in
 * flight, a new one submitted as each ends — for a number of tasks or a duration, and a
 * recorder (`createRecorder`) turns what happened into a `RunReport`. Every accepted
 * task is followed to its end, so each level's counts reconcile: nothing is lost, and anything
 * shed or rejected is counted as such.
 *
 * Measurement: with `tasksPerLevel`, every task of the level counts and throughput covers the
 * whole level, its drain included. With `durationMs`, the window runs from the warm-up's end to
 * the deadline (throughput is the steady state's); tasks still in flight then are followed to
 * their end for the counts and latency.
 *
 * @module
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { z } from "zod";
import type { BackendName } from "../backends/registry.ts";
import { AbortedError, InvalidOptionsError, isApiaryError } from "../core/errors.ts";
import { createHive, type HiveOptions } from "../hive/hive.ts";
import { formatNumber } from "../sim/format.ts";
import { analyseBottleneck } from "../sim/bottleneck.ts";
import { createRecorder } from "../sim/recorder.ts";
import type { LoadReport } from "../sim/report.ts";
import { successRate } from "../sim/totals.ts";
import { nonNegativeInt, parseFor, positiveInt } from "../core/validation.ts";
import { DEFAULT_LOAD_WORKLOAD, type LoadWorkload } from "./load-workload.ts";
import { nodeIdSchema, redisUrlSchema } from "../backends/remote/options.ts";
import { hiveAgentId, type NodeDescription } from "../backends/remote/protocol.ts";
import { isEligible } from "../../actors/allocation.ts";

/** The in-flight levels of a default run. */
export const DEFAULT_LEVELS: readonly number[] = [10, 100, 1_000, 5_000];
/** Measured time per level of a default run, ms (plus warm-up and drain). */
export const DEFAULT_DURATION_MS = 6_000;

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Tasks kept in flight, one run per level. @default [10, 100, 1000, 5000] */
  levels?: readonly number[] | undefined;
  /** Tasks submitted per level. Give this or `durationMs`. */
  tasksPerLevel?: number | undefined;
  /** Measured time per level after the warm-up, ms. @default 6000 when `tasksPerLevel` is not given */
  durationMs?: number | undefined;
  /** Time at the start of each level left out of the figures, ms. @default with `durationMs`: 1000, or a fifth of `durationMs` when that is less; 0 with `tasksPerLevel` */
  warmupMs?: number | undefined;
  /** Interval between series points, ms. @default 100 */
  sampleEveryMs?: number | undefined;
  /** Worker threads. @default the number of CPUs */
  threads?: number | undefined;
  /** Execution backend. @default "piscina" */
  backend?: BackendName | undefined;
  /** The hive's ready queue; bounding it makes the hive reject or shed past `maxQueued`. @default the workload's, else unbounded in practice (100000) */
  queue?: HiveOptions["queue"] | undefined;
  /** Seed of the task stream and the hive's tie-breaks. @default 42 */
  seed?: number | undefined;
  /** The swarm and its tasks. @default the built-in workload */
  workload?: LoadWorkload | undefined;
  /** Called as work progresses: `done` of `total` units (tasks, or ms of the levels' time), and a line on where it stands. */
  onProgress?: ((done: number, total: number, detail: string) => void) | undefined;
  /** Stops the test: the level running ends early and {@link runLoad} rejects with ABORTED. */
  signal?: AbortSignal | undefined;
  /**
   * Load a hive on worker nodes (`apiary worker --redis URL`): each level's hive is a coordinator
   * on the `remote` backend, and the nodes' agents (with their threads) are the swarm — the
   * workload's agents, `tasks`, `threads` and `backend` are left out. Every kind the workload
   * asks for must be met by a node's agent, or the test is refused before it starts.
   */
  remote?: LoadRemoteOptions | undefined;
}

/** {@link LoadRemoteOptions} with defaults applied. */
interface ResolvedRemote {
  redis: string;
  prefix: string;
  minNodes: number;
}

/** Where {@link LoadOptions.remote} finds the cluster. */
export interface LoadRemoteOptions {
  /** Redis URL of the cluster. */
  redis: string;
  /** The cluster's key prefix (the nodes' `--prefix`). @default "apiary" */
  prefix?: string | undefined;
  /** Worker nodes each level's hive waits for (up to 30 s). @default 1 */
  minNodes?: number | undefined;
}

const schema = z.object({
  levels: z.array(positiveInt(), { error: "must be an array of positive integers" }).min(1, { error: "must name at least one level" }).optional(),
  tasksPerLevel: positiveInt().optional(),
  durationMs: positiveInt().optional(),
  warmupMs: nonNegativeInt().optional(),
  sampleEveryMs: positiveInt().optional(),
  threads: positiveInt().optional(),
  seed: nonNegativeInt().optional(),
  remote: z.strictObject({ redis: redisUrlSchema, prefix: nodeIdSchema.optional(), minNodes: positiveInt().optional() }, { error: "must be an object { redis, prefix, minNodes }" }).optional(),
});

/**
 * Runs the load test and returns one run report per level.
 *
 * @throws {InvalidOptionsError} when an option is invalid (the message names it and the value), or both `tasksPerLevel` and `durationMs` are given
 * @throws {AbortedError} when `signal` aborts
 *
 * @example
 * ```ts
 * const report = await runLoad({ levels: [10, 100], tasksPerLevel: 500 });
 * for (const l of report.levels) console.log(l.inFlight, l.throughputPerSec, l.latencyMs.p99, l.successRate);
 * ```
 */
export async function runLoad(options: LoadOptions = {}): Promise<LoadReport> {
  const checked = parseFor(schema, options, "run load test");
  if (checked.tasksPerLevel !== undefined && checked.durationMs !== undefined) {
    throw new InvalidOptionsError(`Cannot run load test: "durationMs" must not be given together with "tasksPerLevel" (${checked.tasksPerLevel}), received ${checked.durationMs}`);
  }
  const remote = checked.remote === undefined ? undefined : { redis: checked.remote.redis, prefix: checked.remote.prefix ?? "apiary", minNodes: checked.remote.minNodes ?? 1 };
  if (remote !== undefined && (checked.threads !== undefined || options.backend !== undefined)) {
    throw new InvalidOptionsError(
      `Cannot run load test: "${checked.threads !== undefined ? "threads" : "backend"}" must not be given with "remote" (the worker nodes bring the threads), received ${
        JSON.stringify(checked.threads ?? options.backend)
      }`,
    );
  }
  const levels = checked.levels ?? DEFAULT_LEVELS;
  const tasksPerLevel = checked.tasksPerLevel;
  const durationMs = tasksPerLevel === undefined ? (checked.durationMs ?? DEFAULT_DURATION_MS) : undefined;
  const warmupMs = checked.warmupMs ?? (durationMs === undefined ? 0 : Math.min(1_000, Math.floor(durationMs / 5)));
  // Over Redis the built-in workload's task mix runs on the nodes' agents, not its own eight.
  const workload = options.workload ??
    (checked.remote === undefined ? DEFAULT_LOAD_WORKLOAD : { ...DEFAULT_LOAD_WORKLOAD, name: "built-in: ~1 ms burn (90%) and Monte Carlo (10%) on the worker nodes' agents" });
  const seed = checked.seed ?? 42;
  const perLevel = tasksPerLevel ?? warmupMs + durationMs!;
  const total = perLevel * levels.length;
  const nodes = remote === undefined ? undefined : await remoteSwarm(remote, workload, options.signal);
  const out: LoadReport["levels"] = [];
  for (const [index, inFlight] of levels.entries()) {
    const report = await runLevel({
      inFlight,
      index,
      count: levels.length,
      tasksPerLevel,
      durationMs,
      warmupMs,
      seed,
      workload,
      sampleEveryMs: checked.sampleEveryMs ?? 100,
      threads: checked.threads,
      backend: options.backend,
      queue: options.queue,
      remote,
      nodes,
      signal: options.signal,
      progress: options.onProgress === undefined ? undefined : (done, detail) => options.onProgress!(index * perLevel + Math.min(done, perLevel), total, detail),
    });
    out.push(report);
  }
  return {
    mode: "load",
    scenario: workload.name,
    levels: out,
    ...(nodes !== undefined ? { nodes: nodes.map((n) => ({ id: n.id, threads: n.threads, agents: n.agents.map((a) => hiveAgentId(n.id, a.id)) })) } : {}),
  };
}

/**
 * The worker nodes up on the cluster, once `minNodes` are; refuses a workload with a kind no
 * node's agent can serve (it would end every such task NO_ELIGIBLE_AGENT).
 */
async function remoteSwarm(remote: ResolvedRemote, workload: LoadWorkload, signal: AbortSignal | undefined): Promise<NodeDescription[]> {
  const { clusterNodes } = await import("../backends/remote/roster.ts");
  const nodes = await clusterNodes({ url: remote.redis, prefix: remote.prefix, minNodes: remote.minNodes, timeoutMs: 30_000, action: "run load test over Redis", signal });
  const agents = nodes.flatMap((n) => n.agents.map((a) => ({ id: hiveAgentId(n.id, a.id), capabilities: a.capabilities ?? {} })));
  for (const kind of workload.kinds ?? []) {
    const requires = kind.requires ?? {};
    if (agents.some((a) => isEligible(a.capabilities, requires))) continue;
    throw new InvalidOptionsError(
      `Cannot run load test over Redis: no agent of the worker nodes meets the requires ${JSON.stringify(requires)} of kind ${JSON.stringify(kind.name)}, received agents ${
        agents.map((a) => `${a.id} ${JSON.stringify(a.capabilities)}`).join(", ")
      }`,
    );
  }
  return nodes;
}

interface LevelPlan {
  inFlight: number;
  index: number;
  count: number;
  tasksPerLevel: number | undefined;
  durationMs: number | undefined;
  warmupMs: number;
  sampleEveryMs: number;
  seed: number;
  workload: LoadWorkload;
  threads: number | undefined;
  backend: BackendName | undefined;
  queue: HiveOptions["queue"] | undefined;
  remote: ResolvedRemote | undefined;
  /** The worker nodes, with `remote`: their agents are the swarm. */
  nodes: NodeDescription[] | undefined;
  signal: AbortSignal | undefined;
  /** `done`: tasks ended (tasks mode) or ms elapsed (duration mode). */
  progress: ((done: number, detail: string) => void) | undefined;
}

async function runLevel(p: LevelPlan): Promise<LoadReport["levels"][number]> {
  const policies = p.workload.hive ?? {};
  const queue = p.queue ?? policies.queue;
  const hive = createHive({
    ...policies,
    seed: p.seed,
    defaults: { timeoutMs: 60_000, retries: 1, ...policies.defaults },
    ...(queue !== undefined ? { queue } : {}),
    ...(p.remote !== undefined ? { backend: "remote" as const, remote: { redis: p.remote.redis, prefix: p.remote.prefix, minNodes: p.remote.minNodes }, agents: [] } : {
      agents: p.workload.agents,
      ...(p.workload.tasks !== undefined ? { tasks: p.workload.tasks } : {}),
      ...(p.threads !== undefined ? { threads: p.threads } : {}),
      ...(p.backend !== undefined ? { backend: p.backend } : {}),
    }),
  });
  // The swarm the recorder describes: the nodes' agents on a remote hive.
  const swarm = p.nodes === undefined
    ? p.workload.agents.map((a) => ({ id: a.id, ...(a.capabilities !== undefined ? { capabilities: a.capabilities } : {}) }))
    : p.nodes.flatMap((n) => n.agents.map((a) => ({ id: hiveAgentId(n.id, a.id), ...(a.capabilities !== undefined ? { capabilities: a.capabilities } : {}) })));
  await hive.start(p.signal);
  try {
    const recorder = createRecorder(hive, {
      now: () => performance.now(),
      sampleEveryMs: p.sampleEveryMs,
      warmupMs: p.warmupMs,
      mode: "load",
      scenario: p.workload.name,
      seed: null,
      // Live attempts wait for a thread after placement: the placements tell the two waits apart.
      detail: {
        ...(p.workload.kinds !== undefined ? { kinds: p.workload.kinds } : {}),
        agents: swarm,
        placements: true,
      },
    });
    const kindOf = p.workload.kindOf;
    const next = p.workload.next(p.seed);
    const t0 = performance.now();
    let submitted = 0;
    let open = 0;
    let ended = 0;
    // While the level runs, open + vacant + owed = inFlight. `vacant`: slots to fill now.
    // `owed`: slots whose task the full queue turned away; each task that ends lets one of them
    // try again, so a full queue is probed at the rate tasks end, never in a spin.
    let vacant = p.inFlight;
    let owed = 0;
    let stopped = false;
    let scheduled = false;
    let lastReport = -Infinity;
    const label = `${formatNumber(p.inFlight)} in flight (${p.index + 1}/${p.count})`;
    const reportProgress = (): void => {
      if (p.progress === undefined) return;
      const now = performance.now();
      if (now - lastReport < 100) return;
      lastReport = now;
      const rate = (ended * 1_000) / Math.max(1, now - t0);
      const where = stopped ? `draining ${formatNumber(open)} still in flight` : `${formatNumber(ended)} done  ${formatNumber(rate)}/s`;
      p.progress(p.tasksPerLevel !== undefined ? ended : now - t0, `${label}  ${where}`);
    };
    const deadlineAt = p.durationMs === undefined ? Infinity : t0 + p.warmupMs + p.durationMs;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      recorder.endWindow();
    };
    const deadline = p.durationMs === undefined ? undefined : setTimeout(stop, deadlineAt - performance.now());
    // A backend that settles tasks in microtasks (inline) would let the loop run without ever
    // yielding, starving every timer (deadline, sampling, progress). The heartbeat says when the
    // event loop last turned; past 50 ms the refill waits for the next turn.
    let beat = performance.now();
    const heartbeat = setInterval(() => void (beat = performance.now()), 10);
    const onAbort = (): void => void hive.stop();
    p.signal?.addEventListener("abort", onAbort, { once: true });
    const more = (): boolean => {
      if (performance.now() >= deadlineAt) stop();
      return !stopped && p.signal?.aborted !== true && (p.tasksPerLevel === undefined || submitted < p.tasksPerLevel);
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const refill = (): void => {
          scheduled = false;
          if (open === 0 && vacant === 0 && owed > 0) {
            owed--;
            vacant++;
          }
          for (; vacant > 0; vacant--) {
            if (!more()) {
              vacant = owed = 0;
              break;
            }
            submitted++;
            open++;
            try {
              const task = next();
              const handle = hive.submit(task);
              const kind = kindOf?.(task);
              if (kind !== undefined) recorder.relabel(handle.id, kind);
              handle.result.then(() => settle(), settle);
            } catch (error) {
              // The workload built a task the hive refuses (INVALID_TASK): a bug to report, not load.
              reject(error);
              return;
            }
          }
          if (open === 0 && !scheduled) resolve();
        };
        const refillSoon = (): void => {
          const starved = performance.now() - beat > 50;
          // Nothing running whose end would make room for an owed slot: retry on the next turn.
          const waiting = open === 0 && vacant === 0 && owed > 0;
          if (!starved && !waiting) return refill();
          if (!scheduled) {
            scheduled = true;
            setImmediate(refill);
          }
        };
        const settle = (error?: unknown): void => {
          open--;
          ended++;
          reportProgress();
          if (isApiaryError(error) && error.code === "QUEUE_FULL") {
            owed++;
          } else {
            vacant++;
            if (owed > 0) {
              owed--;
              vacant++;
            }
          }
          refillSoon();
        };
        refill();
      });
    } finally {
      p.signal?.removeEventListener("abort", onAbort);
      clearTimeout(deadline);
      clearInterval(heartbeat);
    }
    if (p.signal?.aborted === true) throw new AbortedError(`Load test aborted at the ${p.inFlight}-in-flight level`, { cause: p.signal.reason });
    await hive.drain();
    // Events reach the recorder through the bus, a microtask after the results: let them land.
    for (let turn = 0; recorder.pending > 0 && turn < 1_000; turn++) await nextTurn();
    const stats = hive.stats();
    const all = stats.tasks;
    const level = recorder.finish({
      inFlight: p.inFlight,
      closedLoop: true,
      threads: stats.pool.threads,
      backend: stats.backend,
      workloadSeed: p.seed,
      // Every task of the level, warm-up included, straight from the hive's own counts.
      allSubmitted: submitted,
      allAccepted: all.accepted,
      allCompleted: all.completed,
      allUnfinished: all.queued + all.running,
    });
    p.progress?.(p.tasksPerLevel ?? p.warmupMs + (p.durationMs ?? 0), `${label}  done`);
    level.bottleneck = analyseBottleneck(level);
    return { ...level, inFlight: p.inFlight, successRate: successRate(level.tasks) };
  } finally {
    await hive.stop();
  }
}
