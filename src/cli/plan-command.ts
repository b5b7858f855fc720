/**
 * The `apiary plan` command: the smallest setting of a scenario that meets every target with
 * 95% confidence, found by sweeps on the worker pool (bisection where the values are ordered).
 *
 * ```
 * apiary plan scenario.json --vary PATH=LIST... --target FIGURE<VALUE... [--replicas N]
 *             [--threads N | --redis URL [--prefix P] [--min-nodes N]] [--seed N] [--linear]
 *             [--json] [--html FILE]
 * ```
 *
 * @module
 */
import { readFile, writeFile } from "node:fs/promises";
import { InvalidOptionsError, isApiaryError } from "../core/errors.ts";
import { renderHtml } from "../sim/html.ts";
import { DEFAULT_PLAN_REPLICAS, plan } from "../sim/plan.ts";
import { parseScenario } from "../sim/scenario.ts";
import { MAX_REPLICAS, MAX_SWEEP_THREADS } from "../sim/sweep.ts";
import { formatPlanReport } from "../sim/table.ts";
import { parseTargets } from "../sim/targets.ts";
import { intFlag, parseCommandArgs, reportFailure } from "./args.ts";
import { createProgress, type Progress } from "./progress.ts";
import { examplesHint, scenarioPath } from "./scenario-file.ts";
import { parseVary, REMOTE_FLAGS, REMOTE_USAGE, remoteFlags } from "./sweep-command.ts";

/** Help for `apiary plan`. */
export const PLAN_USAGE = `Usage: apiary plan SCENARIO.json --vary PATH=LIST --target FIGURE<VALUE [options]

Finds the smallest setting of the scenario that meets every target with 95% confidence: each
setting tried runs N seeded replicas on worker threads (as apiary sweep does), and meets a
target only when the figure's whole 95% confidence interval is on the right side of it. The
settings are tried in the order given. Where the last --vary lists numbers in order (a count,
a concurrency), more is taken to be better and it is bisected (about log2(n) + 1 settings of
n); otherwise settings are tried in order until one meets every target. A setting whose mean
meets a target but whose interval does not runs again with twice the replicas. SCENARIO.json
may name a bundled example: mm1, mmc, outage, swarm-day.

Options:
  --vary PATH=LIST      a scenario field (dotted path, e.g. agents.0.count) and the values
                        to try, smallest first: a,b,c or a range of integers 8..16;
                        repeat for a grid (the first --vary varies slowest)
  --target T            FIGURE<VALUE, <=, > or >= (repeatable, at least one): waitMs.p95<2000,
                        successRate>=99.5%, byKind.NAME.latencyMs.p99<8000, byPriority.high.…
  --replicas N          replicas per setting (default ${DEFAULT_PLAN_REPLICAS}, at least 2)
  --threads N           worker threads (default: one per CPU)
${REMOTE_USAGE}  --seed N              seed of replica 0 (default: the scenario's, else 1)
  --linear              try every setting in order instead of bisecting
  --json                print the plan as one JSON object: "choice" (path → value, or null)
                        and the evidence for it
  --html FILE           also write a self-contained HTML report of every setting to FILE
  -h, --help            show this help

Exit codes: 0 a setting meets every target; 1 none does; 2 a usage error.
`;

function fail(message: string): number {
  process.stderr.write(`apiary plan: ${message}\n\n${PLAN_USAGE}`);
  return 2;
}

/** About how many replicas the plan runs at most: every line bisected (or walked) to its end. */
function expectedReplicas(vary: Record<string, readonly unknown[]>, replicas: number, linear: boolean): number {
  const lists = Object.values(vary);
  const last = lists[lists.length - 1] ?? [];
  const lines = lists.slice(0, -1).reduce((n, l) => n * l.length, 1);
  const perLine = linear || !last.every((v) => typeof v === "number") ? last.length : Math.ceil(Math.log2(Math.max(1, last.length))) + 1;
  return Math.max(1, lines * perLine * replicas);
}

/** Runs `apiary plan` with `argv` (after the command name); resolves to the exit code. */
export async function runPlanCommand(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandArgs("plan", argv, {
      vary: { type: "string", multiple: true },
      target: { type: "string", multiple: true },
      replicas: { type: "string" },
      threads: { type: "string" },
      ...REMOTE_FLAGS,
      seed: { type: "string" },
      linear: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      html: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(PLAN_USAGE);
    return 0;
  }
  if (positionals.length !== 1) return fail(`takes one scenario file, received ${positionals.length === 0 ? "none" : JSON.stringify(positionals)}`);
  let progress: Progress | undefined;
  try {
    if ((values.vary ?? []).length === 0) return fail(`"--vary" is required: the scenario field to size, e.g. --vary agents.0.count=2..16`);
    if ((values.target ?? []).length === 0) return fail(`"--target" is required: what every setting must meet, e.g. --target "waitMs.p95<2000"`);
    if (values.html !== undefined && values.html.trim() === "") return fail(`"--html" must name a file, received ""`);
    const vary = Object.fromEntries((values.vary ?? []).map((v) => parseVary(v)));
    const replicas = intFlag("replicas", values.replicas, 2, MAX_REPLICAS) ?? DEFAULT_PLAN_REPLICAS;
    const threads = intFlag("threads", values.threads, 1, MAX_SWEEP_THREADS);
    const seed = intFlag("seed", values.seed, 0);
    const remote = remoteFlags(values, threads);
    if (typeof remote === "string") return fail(remote);
    const file = positionals[0]!;
    let input: unknown;
    try {
      input = JSON.parse(await readFile(await scenarioPath(file), "utf8"));
    } catch (error) {
      return fail(`cannot read the scenario ${JSON.stringify(file)}: ${error instanceof Error ? error.message : String(error)}${await examplesHint()}`);
    }
    let targets: string[];
    try {
      const scenario = parseScenario(input);
      targets = parseTargets(values.target ?? [], "--target", { kinds: scenario.workload.kinds.map((k) => k.name) }).map((t) => t.text);
    } catch (error) {
      if (error instanceof InvalidOptionsError) return fail(error.message);
      throw error;
    }
    const report = await plan(input as never, {
      vary,
      targets,
      replicas,
      ...(threads !== undefined ? { threads } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(remote !== undefined ? { remote } : {}),
      ...(values.linear ? { search: "linear" as const } : {}),
      onProgress: (done, detail) => {
        progress ??= createProgress("plan (replicas)", expectedReplicas(vary, replicas, values.linear), true);
        progress.update(done, detail);
      },
    });
    progress?.finish();
    if (values.json) {
      const { wallMs: _wall, ...stable } = report; // reproducible output: no wall time
      process.stdout.write(`${JSON.stringify(stable)}\n`);
    } else process.stdout.write(formatPlanReport(report));
    if (values.html !== undefined) {
      await writeFile(values.html, renderHtml(report));
      process.stderr.write(`apiary plan: wrote the HTML report to ${values.html}\n`);
    }
    return report.choice === null ? 1 : 0;
  } catch (error) {
    progress?.finish();
    if (error instanceof RangeError) return fail(error.message);
    reportFailure("plan", error);
    return isApiaryError(error, "INVALID_OPTIONS") ? 2 : 1;
  }
}
