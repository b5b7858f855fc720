/**
 * The `apiary load` command: parses its flags, runs {@link runLoad} with a progress bar, and
 * prints the terminal table or `--json`, and writes `--html FILE`.
 *
 * ```
 * apiary load [scenario.json] [--levels 10,100,1000,5000] [--tasks-per-level N | --duration-ms N]
 *             [--warmup-ms N] [--max-queued N] [--threads N] [--backend NAME] [--seed N]
 *             [--target T]... [--json] [--html FILE] [--redis URL [--prefix P] [--min-nodes N]]
 * ```
 *
 * @module
 */
import { writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { BACKEND_NAMES, isBackendName } from "../backends/registry.ts";
import { InvalidOptionsError } from "../core/errors.ts";
import { analyseBottleneck } from "../sim/bottleneck.ts";
import { renderHtml } from "../sim/html.ts";
import { allPassed, evaluateRun, parseTargets, type Target } from "../sim/targets.ts";
import type { Scenario } from "../sim/scenario.ts";
import { formatLoadReport } from "../sim/table.ts";
import { unaccounted } from "../sim/totals.ts";
import { DEFAULT_LEVELS, runLoad } from "./load.ts";
import { DEFAULT_LOAD_WORKLOAD, type LoadWorkload } from "./load-workload.ts";
import { scenarioWorkload } from "./load-scenario.ts";
import { readScenario } from "./simulate.ts";
import { MAX_THREADS } from "../hive/schema.ts";
import { intFlag, parseCommandArgs, reportFailure } from "./args.ts";
import { createProgress, type Progress } from "./progress.ts";

/** Help for `apiary load`, shown by `apiary load --help` and on a usage error. */
export const LOAD_USAGE = `Usage: apiary load [scenario.json] [options]

Runs a live load test: for each level, a fresh hive on real worker threads keeps exactly
that many real CPU tasks in flight (closed loop) and reports throughput, latency p50/p95/p99,
success (completed / accepted) and what, if anything, was shed or rejected.

Without a scenario it runs the built-in workload (8 agents, ~1 ms CPU burns and Monte Carlo
tasks). With one (the schema of apiary simulate), its agents, policies and task mix run for
real: each task burns CPU for the duration drawn from its kind; faults, dependencies, the cache
and the arrival process are simulation-only and left out (it says which). A closed-loop
scenario's inFlight is its level unless --levels says otherwise. The scenario may name a
bundled example instead of a file: mm1, mmc, outage, swarm-day, swarm-day-10k, throttled-api.

Options:
  --levels LIST         tasks in flight, comma-separated (default 10,100,1000,5000)
  --tasks-per-level N   submit N tasks per level (every task counts)
  --duration-ms N       measure N ms per level after the warm-up (default 6000)
  --warmup-ms N         left out of the figures at the start of each level (default:
                        1000, or a fifth of --duration-ms when that is less — 400 at
                        --duration-ms 2000; 0 with --tasks-per-level)
  --target T            hold every level to a target such as waitMs.p95<50 or
                        successRate>=99.9% (repeatable); each is shown as PASS or FAIL,
                        and the exit code is 1 when one fails at any level
  --max-queued N        bound the hive's queue: past N waiting tasks it sheds the lowest
                        priority or rejects (default: unbounded in practice)
  --threads N           worker threads (default: one per CPU)
  --backend NAME        piscina | comlink | inline (default: piscina)
  --redis URL           load a hive on the worker nodes of the cluster on this Redis
                        (apiary worker --redis URL ...): each level's hive is their
                        coordinator and the nodes' agents and threads are the swarm (a
                        scenario's agents are left out; its kinds' requires must be met
                        by a node's agent)
  --prefix P            the cluster's key prefix, with --redis (default: apiary)
  --min-nodes N         worker nodes to wait for (up to 30 s), with --redis (default: 1)
  --seed N              seed of the task stream (default: the scenario's, else 42)
  --json                print the report as one JSON object (progress stays on stderr)
  --html FILE           also write a self-contained HTML report with charts to FILE
  -h, --help            show this help
`;

function fail(message: string): number {
  process.stderr.write(`apiary load: ${message}\n\n${LOAD_USAGE}`);
  return 2;
}

function levels(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(",").map((s) => s.trim());
  const out = parts.map(Number);
  if (parts.length === 0 || parts.some((s) => s === "") || out.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RangeError(`"--levels" must be a comma-separated list of positive integers, received ${JSON.stringify(value)}`);
  }
  return out;
}

/**
 * Runs `apiary load` with `argv` (after the command name); resolves to the exit code: 0, 1 when
 * the run failed, a level lost a task or missed a target, 2 on a usage error.
 */
export async function runLoadCommand(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandArgs("load", argv, {
      levels: { type: "string" },
      "tasks-per-level": { type: "string" },
      "duration-ms": { type: "string" },
      "warmup-ms": { type: "string" },
      "max-queued": { type: "string" },
      threads: { type: "string" },
      backend: { type: "string" },
      redis: { type: "string" },
      prefix: { type: "string" },
      "min-nodes": { type: "string" },
      seed: { type: "string" },
      target: { type: "string", multiple: true },
      json: { type: "boolean", default: false },
      html: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(LOAD_USAGE);
    return 0;
  }
  if (positionals.length > 1) return fail(`takes at most one scenario file, received ${JSON.stringify(positionals)}`);
  let progress: Progress | undefined;
  try {
    const backend = values.backend;
    if (backend !== undefined && !isBackendName(backend)) {
      return fail(`"--backend" must be one of ${BACKEND_NAMES.join(", ")}, received ${JSON.stringify(backend)}`);
    }
    if (values["tasks-per-level"] !== undefined && values["duration-ms"] !== undefined) {
      return fail(`give "--tasks-per-level" or "--duration-ms", not both; received ${values["tasks-per-level"]} and ${values["duration-ms"]}`);
    }
    if (values.html !== undefined && values.html.trim() === "") return fail(`"--html" must name a file, received ""`);
    const maxQueued = intFlag("max-queued", values["max-queued"], 1);
    const tasksPerLevel = intFlag("tasks-per-level", values["tasks-per-level"], 1);
    const durationMs = intFlag("duration-ms", values["duration-ms"], 1);
    const threads = intFlag("threads", values.threads, 1, MAX_THREADS);
    const minNodes = intFlag("min-nodes", values["min-nodes"], 1, 10_000);
    const redis = values.redis;
    if (redis === undefined && (values.prefix !== undefined || minNodes !== undefined)) return fail(`"--prefix" and "--min-nodes" go with "--redis", received no "--redis"`);
    if (redis !== undefined && threads !== undefined) return fail(`"--threads" does not go with "--redis" (the worker nodes bring the threads), received ${threads}`);
    if (redis !== undefined && backend !== undefined) return fail(`"--backend" does not go with "--redis" (the hive runs on the worker nodes), received ${JSON.stringify(backend)}`);
    let chosenLevels = levels(values.levels);
    let seed = intFlag("seed", values.seed, 0);
    let workload: LoadWorkload | undefined;
    let scenario: Scenario | undefined;
    const file = positionals[0];
    if (file !== undefined) {
      try {
        scenario = await readScenario(file);
      } catch (error) {
        return fail(error instanceof Error ? error.message : String(error));
      }
      const mapped = scenarioWorkload(scenario);
      workload = mapped.workload;
      seed ??= scenario.seed === undefined ? undefined : scenario.seed >>> 0;
      // A closed-loop scenario names its own level.
      const arrivals = scenario.workload.arrivals;
      if (chosenLevels === undefined && "closed" in arrivals) chosenLevels = [arrivals.closed.inFlight];
      for (const line of mapped.leftOut) process.stderr.write(`apiary load: ${JSON.stringify(scenario.name)} runs live; left out: ${line}\n`);
      if (redis !== undefined) {
        process.stderr.write(`apiary load: ${JSON.stringify(scenario.name)} runs on the worker nodes; left out: its agents (${mapped.workload.agents.length}): the nodes bring theirs\n`);
      }
      const cpus = threads ?? availableParallelism();
      // Over Redis the nodes' threads are not known here: no estimate.
      for (const level of redis !== undefined ? [] : chosenLevels ?? DEFAULT_LEVELS) {
        const tasks = tasksPerLevel ?? level;
        const seconds = (tasks * mapped.meanTaskMs) / cpus / 1_000;
        if (seconds > 60) {
          process.stderr.write(
            `apiary load: at ${level} in flight, ${tasks} tasks of ~${mapped.meanTaskMs.toFixed(1)} ms on ${cpus} threads need ~${Math.round(seconds)} s of CPU${
              tasksPerLevel === undefined ? " just to drain" : ""
            }; --levels or --tasks-per-level make it shorter\n`,
          );
        }
      }
    }
    let targets: Target[];
    try {
      targets = parseTargets(values.target ?? [], "--target", { kinds: (workload ?? DEFAULT_LOAD_WORKLOAD).kinds?.map((k) => k.name) ?? [] });
    } catch (error) {
      if (error instanceof InvalidOptionsError) return fail(error.message);
      throw error;
    }
    const report = await runLoad({
      levels: chosenLevels,
      tasksPerLevel,
      durationMs,
      warmupMs: intFlag("warmup-ms", values["warmup-ms"], 0),
      threads,
      seed,
      workload,
      backend: backend,
      ...(redis !== undefined ? { remote: { redis, prefix: values.prefix, minNodes } } : {}),
      queue: maxQueued === undefined ? undefined : { maxQueued, overflow: "shed-lowest" },
      onProgress: (done, total, detail) => {
        progress ??= createProgress("load", total, true);
        progress.update(done, detail);
      },
    });
    progress?.finish();
    if (targets.length > 0) {
      report.targets = targets.map((t) => t.text);
      for (const level of report.levels) {
        level.bottleneck = analyseBottleneck(level, { targets, ...(scenario !== undefined ? { scenario } : {}) });
        level.targets = evaluateRun(level, targets);
      }
    }
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : formatLoadReport(report));
    if (values.html !== undefined) {
      await writeFile(values.html, renderHtml(report));
      process.stderr.write(`apiary load: wrote the HTML report to ${values.html}\n`);
    }
    return report.levels.every((l) => unaccounted(l.tasks) === 0 && allPassed(l.targets)) ? 0 : 1;
  } catch (error) {
    progress?.finish();
    if (error instanceof RangeError) return fail(error.message);
    reportFailure("load", error);
    return 1;
  }
}
