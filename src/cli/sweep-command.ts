/**
 * The `apiary sweep` command: many seeded replicas of a scenario over a parameter grid, on the
 * worker pool, with means and 95% confidence intervals.
 *
 * ```
 * apiary sweep scenario.json --replicas N [--vary key=a,b,c]... [--target T]... [--threads N]
 *              [--seed N] [--json] [--html FILE] [--redis URL [--prefix P] [--min-nodes N]]
 * ```
 *
 * @module
 */
import { readFile, writeFile } from "node:fs/promises";
import { InvalidOptionsError, isApiaryError } from "../core/errors.ts";
import { renderHtml } from "../sim/html.ts";
import { parseScenario } from "../sim/scenario.ts";
import { allPassed, parseTargets, type Target } from "../sim/targets.ts";
import type { RemoteReplicaOptions } from "../sim/remote-replica-pool.ts";
import { MAX_REPLICAS, MAX_SWEEP_THREADS, sweep, type VaryValue } from "../sim/sweep.ts";
import { formatSweepReport } from "../sim/table.ts";
import { intFlag, parseCommandArgs, reportFailure } from "./args.ts";
import { createProgress, type Progress } from "./progress.ts";
import { examplesHint, scenarioPath } from "./scenario-file.ts";

/** The flags of `sweep` and `plan` that run the replicas on worker nodes over Redis. */
export const REMOTE_FLAGS = { redis: { type: "string" }, prefix: { type: "string" }, "min-nodes": { type: "string" } } as const;

/** Their help lines. */
export const REMOTE_USAGE = `  --redis URL           run the replicas on the worker nodes of the cluster on this Redis
                        (apiary worker --redis URL ...) instead of local threads: each
                        replica is a job a node runs on one of its threads; same seeds,
                        same figures
  --prefix P            the cluster's key prefix, with --redis (default: apiary)
  --min-nodes N         worker nodes to wait for (up to 30 s), with --redis (default: 1)
`;

/** Help for `apiary sweep`. */
export const SWEEP_USAGE = `Usage: apiary sweep SCENARIO.json --replicas N [options]

Runs N seeded replicas of a virtual-time simulation at every point of a parameter grid, in
parallel on worker threads (one replica per job), and reports each figure's mean with a 95%
confidence interval. Replica r of every point uses seed + r. SCENARIO.json may name a
bundled example instead of a file: mm1, mmc, outage, swarm-day, swarm-day-10k, throttled-api.

Options:
  --replicas N          replicas per grid point (required)
  --vary KEY=A,B,C      vary a scenario field (dotted path, array items by index, e.g.
                        agents.0.count=2,4,8 or workload.arrivals.poisson.ratePerSec=5,10);
                        repeat for a grid. Values are JSON where they parse (numbers, true,
                        false), else strings; A..B is every integer from A to B
  --target T            hold every combination to a target such as waitMs.p95<2000 or
                        successRate>=99.5% (repeatable): met only when the figure's whole
                        95% interval is; exit code 1 when a combination misses one
  --threads N           worker threads (default: one per CPU)
${REMOTE_USAGE}  --seed N              seed of replica 0 (default: the scenario's, else 1)
  --json                print the report as one JSON object (progress stays on stderr)
  --html FILE           also write a self-contained HTML report to FILE
  -h, --help            show this help
`;

function fail(message: string): number {
  process.stderr.write(`apiary sweep: ${message}\n\n${SWEEP_USAGE}`);
  return 2;
}

/** The most values one `--vary` may list (ranges included). */
export const MAX_VARY_VALUES = 10_000;

/**
 * `key=a,b,c` → [key, values]. Items are JSON where they parse (numbers, true, false), else
 * strings; an item `A..B` of two integers is every integer from A to B (descending when B < A),
 * so `agents.0.count=8..16` is nine values.
 * @throws RangeError naming the flag and the value received
 */
export function parseVary(spec: string, flag = "--vary"): [string, VaryValue[]] {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1) throw new RangeError(`"${flag}" must look like key=a,b,c or key=8..16, received ${JSON.stringify(spec)}`);
  const values: VaryValue[] = [];
  for (const raw of spec.slice(eq + 1).split(",")) {
    const text = raw.trim();
    const range = /^(-?\d+)\.\.(-?\d+)$/.exec(text);
    if (range !== null) {
      const from = Number(range[1]);
      const to = Number(range[2]);
      if (Math.abs(to - from) + 1 + values.length > MAX_VARY_VALUES) throw new RangeError(`"${flag}" may list at most ${MAX_VARY_VALUES} values, received ${JSON.stringify(spec)}`);
      const step = to >= from ? 1 : -1;
      for (let v = from; step > 0 ? v <= to : v >= to; v += step) values.push(v);
      continue;
    }
    if (text === "" || text.includes("..")) throw new RangeError(`"${flag}" must list values a,b,c or a range of integers A..B, received ${JSON.stringify(spec)}`);
    values.push(jsonValue(text));
  }
  return [spec.slice(0, eq).trim(), values];
}

function jsonValue(text: string): VaryValue {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === "number" || typeof v === "boolean" || typeof v === "string") return v;
  } catch {
    // not JSON: a plain string
  }
  return text;
}

/**
 * The `remote` option those flags give (undefined without `--redis`), or the usage error they
 * make: `--prefix`/`--min-nodes` without `--redis`, `--threads` with it.
 * @throws RangeError when `--min-nodes` is out of range
 */
export function remoteFlags(
  values: { redis?: string | undefined; prefix?: string | undefined; "min-nodes"?: string | undefined },
  threads: number | undefined,
): RemoteReplicaOptions | undefined | string {
  const minNodes = intFlag("min-nodes", values["min-nodes"], 1, 10_000);
  if (values.redis === undefined && (values.prefix !== undefined || minNodes !== undefined)) return `"--prefix" and "--min-nodes" go with "--redis", received no "--redis"`;
  if (values.redis !== undefined && threads !== undefined) return `"--threads" does not go with "--redis" (the worker nodes bring the threads), received ${threads}`;
  return values.redis === undefined ? undefined : { redis: values.redis, prefix: values.prefix, minNodes };
}

/** Runs `apiary sweep` with `argv` (after the command name); resolves to the exit code. */
export async function runSweepCommand(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandArgs("sweep", argv, {
      replicas: { type: "string" },
      vary: { type: "string", multiple: true },
      threads: { type: "string" },
      ...REMOTE_FLAGS,
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
    process.stdout.write(SWEEP_USAGE);
    return 0;
  }
  if (positionals.length !== 1) return fail(`takes one scenario file, received ${positionals.length === 0 ? "none" : JSON.stringify(positionals)}`);
  let progress: Progress | undefined;
  try {
    const replicas = intFlag("replicas", values.replicas, 1, MAX_REPLICAS);
    if (replicas === undefined) return fail(`"--replicas" is required`);
    if (values.html !== undefined && values.html.trim() === "") return fail(`"--html" must name a file, received ""`);
    const vary = Object.fromEntries((values.vary ?? []).map((v) => parseVary(v)));
    const threads = intFlag("threads", values.threads, 1, MAX_SWEEP_THREADS);
    const seed = intFlag("seed", values.seed, 0);
    const remote = remoteFlags(values, threads);
    if (typeof remote === "string") return fail(remote);
    const file = positionals[0]!;
    let scenario: unknown;
    try {
      scenario = JSON.parse(await readFile(await scenarioPath(file), "utf8"));
    } catch (error) {
      process.stderr.write(`apiary sweep: cannot read the scenario ${JSON.stringify(file)}: ${error instanceof Error ? error.message : String(error)}${await examplesHint()}\n`);
      return 2;
    }
    let targets: Target[] = [];
    try {
      const parsed = parseScenario(scenario);
      targets = parseTargets(values.target ?? [], "--target", { kinds: parsed.workload.kinds.map((k) => k.name) });
    } catch (error) {
      if (error instanceof InvalidOptionsError) return fail(error.message);
      throw error;
    }
    const report = await sweep(scenario as never, {
      replicas,
      vary,
      targets: targets.map((t) => t.text),
      ...(threads !== undefined ? { threads } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(remote !== undefined ? { remote } : {}),
      onProgress: (done, total) => {
        progress ??= createProgress("sweep", total, true);
        progress.update(done);
      },
    });
    progress?.finish();
    if (values.json) {
      const { wallMs: _wall, ...stable } = report; // reproducible output: no wall time
      process.stdout.write(`${JSON.stringify(stable)}\n`);
    } else process.stdout.write(formatSweepReport(report));
    if (values.html !== undefined) {
      await writeFile(values.html, renderHtml(report));
      process.stderr.write(`apiary sweep: wrote the HTML report to ${values.html}\n`);
    }
    return report.rows.every((row) => allPassed(row.targets)) ? 0 : 1;
  } catch (error) {
    progress?.finish();
    if (error instanceof RangeError) return fail(error.message);
    reportFailure("sweep", error);
    return isApiaryError(error, "INVALID_OPTIONS") ? 2 : 1;
  }
}
