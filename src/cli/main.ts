/**
 * The `apiary` command line.
 *
 * ```
 * apiary simulate [--tasks N] [--seed N] [--threads N] [--backend piscina|comlink|inline] [--json]
 * apiary simulate scenario.json [--seed N] [--target FIGURE<VALUE]... [--resimulate] [--json] [--html FILE]
 * apiary load [scenario.json] [--levels 10,100,1000,5000] [--tasks-per-level N | --duration-ms N] [--target ...]... [--json] [--html FILE] [--threads N] [--redis URL]
 * apiary sweep scenario.json --replicas N [--vary key=a,b,c]... [--target ...]... [--threads N] [--seed N] [--json] [--html FILE] [--redis URL]
 * apiary plan scenario.json --vary PATH=LIST... --target FIGURE<VALUE... [--replicas N] [--json] [--html FILE]
 * apiary serve [--port N] [--host H] [--duration-ms N]
 * apiary inspect [--port N] [--host H] [--duration-ms N]
 * apiary replay trace.jsonl [--port N] [--host H] [--duration-ms N] [--speed N|max]
 * apiary worker --redis URL --agents FILE [--tasks MODULE] [--threads N] [--id NODE] [--prefix P] [--lease-ms N]
 * apiary --version
 * ```
 *
 * Each subcommand takes only its own flags: an unknown one, a flag without its value or a value
 * out of range exits 2 with a message naming the flag (and the value received).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { BACKEND_NAMES, isBackendName } from "../backends/registry.ts";
import { isApiaryError } from "../core/errors.ts";
import { MAX_THREADS } from "../hive/schema.ts";
import { type DemoReport, runDemo } from "./demo.ts";
import { runInspect, runReplay } from "./inspect.ts";
import { type CommandOptions, intFlag, parseCommandArgs } from "./args.ts";
import { runLoadCommand } from "./load-command.ts";
import { runPlanCommand } from "./plan-command.ts";
import { runSweepCommand } from "./sweep-command.ts";
import { createProgress } from "./progress.ts";
import { runServe } from "./serve.ts";
import { runWorkerCommand } from "./worker.ts";
import { runScenarioFile, UsageError } from "./simulate.ts";

const USAGE = `Usage: apiary <command> [options]

Commands:
  simulate            run the built-in live demo: a swarm of agents running real
                      simulation tasks on the worker pool, then print a summary
  simulate FILE       run the scenario in FILE (JSON) in virtual time and print its
                      report: throughput, latency, wait, faults, per-agent utilisation;
                      FILE may name a bundled example: mm1, mmc, outage, swarm-day, swarm-day-10k, throttled-api
  load [FILE]         live load test at 10 / 100 / 1,000 / 5,000 tasks in flight on real
                      worker threads, built-in workload or a scenario file; table, --json
                      or --html FILE; --redis URL: on worker nodes (apiary load --help)
  sweep FILE          N seeded replicas of the scenario in FILE over a parameter grid
                      (--replicas N --vary key=a,b,c), in parallel on worker threads
                      (or worker nodes: --redis URL);
                      means with 95% confidence intervals (apiary sweep --help)
  plan FILE           the smallest setting of --vary PATH=LIST that meets every
                      --target FIGURE<VALUE with 95% confidence (apiary plan --help)
  serve               run the demo hive under load and serve its live dashboard (/),
                      /metrics (Prometheus), /health/live and /health/ready until Ctrl-C
  inspect             run the demo hive, serve its dashboard and the Stately inspector
                      relay, and print the URLs to open (Ctrl-C to stop)
  replay FILE         send a trace recorded with inspect: { file } into the inspector
                      relay and print the URL to watch it (Ctrl-C to stop)
  worker              join a coordinator hive through Redis as a worker node: its
                      agents and threads run attempts the coordinator places on them
                      (apiary worker --help)

Options:
  --tasks N           tasks to run (default 300)
  --seed N            seed for the workload and tie-breaks (default 42)
  --threads N         worker threads (default: one per CPU)
  --backend NAME      piscina | comlink | inline (default: piscina)
  --json              print the summary (or a scenario's run report) as one JSON object
  --html FILE         simulate FILE: also write the HTML report to FILE
  --target T          simulate FILE: a target such as waitMs.p95<2000, successRate>=99.5%
                      or byKind.NAME.latencyMs.p99<8000 (repeatable); each is shown as
                      PASS or FAIL, and the exit code is 1 when one fails
  --resimulate        simulate FILE: check the bottleneck analysis's suggested relief by
                      running the scenario again with it, however long the run (by
                      default only runs of at most 20,000 tasks are re-simulated)
  --port N            serve / inspect / replay: port (default 9464 for serve, a free
                      one for inspect and replay; 0 picks a free one)
  --host H            interface to bind (default 127.0.0.1; anything else exposes it)
  --duration-ms N     serve / inspect / replay: stop after N ms instead of on Ctrl-C
  --speed N|max       replay: N times the recorded pace (default 1), max: at once
  -h, --help          show this help
  -v, --version       print the version
`;

const BOOLEAN = { type: "boolean", default: false } as const;
const STRING = { type: "string" } as const;
const HELP = { type: "boolean", short: "h", default: false } as const;
/** The flags of each subcommand parsed here (load and sweep parse their own). */
const SIMULATE_OPTIONS = {
  tasks: STRING,
  seed: STRING,
  threads: STRING,
  backend: STRING,
  json: BOOLEAN,
  html: STRING,
  target: { type: "string", multiple: true },
  resimulate: BOOLEAN,
  help: HELP,
} as const satisfies CommandOptions;
const DEMO_HIVE_OPTIONS = { port: STRING, host: STRING, "duration-ms": STRING, seed: STRING, threads: STRING, backend: STRING, help: HELP } as const satisfies CommandOptions;
const REPLAY_OPTIONS = { port: STRING, host: STRING, "duration-ms": STRING, speed: STRING, help: HELP } as const satisfies CommandOptions;
/** The longest --duration-ms a timer can wait: past 2^31 - 1 ms, setTimeout fires at once. */
const MAX_DURATION_MS = 2_147_483_647;

function fail(message: string): number {
  process.stderr.write(`apiary: ${message}\n\n${USAGE}`);
  return 2;
}

function intOption(name: string, value: string | undefined, fallback: number | undefined, min: number, max?: number): number | undefined {
  return intFlag(name, value, min, max) ?? fallback;
}

function formatSummary(r: DemoReport): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const ms = (x: number): string => x.toFixed(1);
  const lines = [
    `apiary simulate — built-in demo: ${r.tasks.submitted} tasks on ${r.agents.length} agents, ${r.backend} backend, ${r.threads} threads, seed ${r.seed}`,
    "",
    `tasks       completed ${r.tasks.completed}   failed ${r.tasks.failed}   cancelled ${r.tasks.cancelled}   rejected ${r.tasks.rejected}   retried ${r.tasks.retried}`,
    `throughput  ${r.throughputPerSec.toFixed(1)} tasks/s over ${(r.wallMs / 1_000).toFixed(2)} s`,
    `latency ms  p50 ${ms(r.latencyMs.p50)}   p95 ${ms(r.latencyMs.p95)}   p99 ${ms(r.latencyMs.p99)}   max ${ms(r.latencyMs.max)}   (submit to result)`,
    "",
    `${"agent".padEnd(12)} ${"capabilities".padEnd(28)} ${"tasks".padStart(6)} ${"failed".padStart(7)} ${"mean ms".padStart(8)}`,
    ...r.agents.map(
      (a) =>
        `${a.id.padEnd(12)} ${
          Object.entries(a.capabilities)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")
            .padEnd(28)
        } ${String(a.tasks).padStart(6)} ${String(a.failed).padStart(7)} ${ms(a.meanMs).padStart(8)}`,
    ),
    "",
    `energy      ${r.results.energy.runs} year-long dispatch runs, mean self-sufficiency ${pct(r.results.energy.meanSelfSufficiency)}, mean grid import ${
      r.results.energy.meanImportKwh.toFixed(0)
    } kWh`,
    `montecarlo  ${r.results.montecarlo.runs} runs, π ≈ ${r.results.montecarlo.meanEstimate.toFixed(5)} ± ${r.results.montecarlo.pooledStdError.toFixed(5)}`,
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * The version in apiary's package.json: beside `src/` when run from the source, one folder
 * further up from `dist/src/cli/`.
 */
export function packageVersion(): string {
  for (const up of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "apiary" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not there (or not readable): try the next place
    }
  }
  return "unknown";
}

/** Runs the CLI with `argv` (without the runtime and script); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...after] = argv;
  if (command === undefined) return fail("a command is required");
  if (command === "--version" || command === "-v") {
    process.stdout.write(`apiary ${packageVersion()}\n`);
    return 0;
  }
  if (command === "--help" || command === "-h") return help();
  // `load` and `sweep` have flags of their own (--levels, --replicas, ...) and their own help.
  if (command === "load") return runLoadCommand(after);
  if (command === "sweep") return runSweepCommand(after);
  if (command === "plan") return runPlanCommand(after);
  if (command.startsWith("-")) return fail(`unknown option ${JSON.stringify(command)}; the command comes first: apiary <command> [options]`);
  if (command === "serve" || command === "inspect" || command === "replay") return observe(command, after);
  if (command === "worker") return runWorkerCommand(after, (line) => void process.stdout.write(`${line}\n`));
  if (command !== "simulate") return fail(`unknown command ${JSON.stringify(command)}`);
  let parsed;
  try {
    parsed = parseCommandArgs("simulate", after, SIMULATE_OPTIONS);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals: rest } = parsed;
  if (values.help) return help();
  if (rest.length > 1) return fail(`"simulate" takes at most one scenario file, received ${JSON.stringify(rest)}`);
  if (rest.length === 1) {
    for (const demoOnly of ["tasks", "threads", "backend"] as const) {
      if (values[demoOnly] !== undefined) return fail(`"--${demoOnly}" applies to the built-in demo only, not to a scenario file`);
    }
    try {
      const seed = intOption("seed", values.seed, undefined, 0);
      return await runScenarioFile(
        { file: rest[0]!, seed, json: values.json, html: values.html, targets: values.target ?? [], resimulate: values.resimulate },
        (text) => void process.stdout.write(text),
      );
    } catch (error) {
      if (error instanceof RangeError || error instanceof UsageError) return fail(error.message);
      const code = isApiaryError(error) ? ` [${error.code}]` : "";
      process.stderr.write(`apiary: ${error instanceof Error ? error.message : String(error)}${code}\n`);
      return 1;
    }
  }
  if (values.html !== undefined) return fail('"--html" applies to a scenario file: apiary simulate scenario.json --html report.html');
  if (values.target !== undefined) return fail(`"--target" applies to a scenario file: apiary simulate scenario.json --target "waitMs.p95<2000", received ${JSON.stringify(values.target[0])}`);
  try {
    const tasks = intOption("tasks", values.tasks, 300, 1)!;
    const seed = intOption("seed", values.seed, 42, 0)!;
    const threads = intFlag("threads", values.threads, 1, MAX_THREADS);
    const backend = values.backend;
    if (backend !== undefined && !isBackendName(backend)) {
      return fail(`"--backend" must be one of ${BACKEND_NAMES.join(", ")}, received ${JSON.stringify(backend)}`);
    }
    const progress = createProgress("simulating", tasks, true);
    const report = await runDemo({ tasks, seed, threads, backend, onProgress: (done) => progress.update(done) });
    progress.finish();
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : formatSummary(report));
    return report.tasks.failed === 0 ? 0 : 1;
  } catch (error) {
    if (error instanceof RangeError) return fail(error.message);
    const code = isApiaryError(error) ? ` [${error.code}]` : "";
    process.stderr.write(`apiary: ${error instanceof Error ? error.message : String(error)}${code}\n`);
    return 1;
  }
}

/** Runs the long-running observability commands (serve, inspect, replay). */
async function observe(command: "serve" | "inspect" | "replay", argv: readonly string[]): Promise<number> {
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    if (command === "replay") {
      const { values, positionals } = parseCommandArgs(command, argv, REPLAY_OPTIONS);
      if (values.help) return help();
      if (positionals.length !== 1) return fail(`"replay" takes one trace file, received ${positionals.length === 0 ? "none" : JSON.stringify(positionals)}`);
      const speed = values.speed === "max" ? Infinity : values.speed === undefined ? 1 : Number(values.speed);
      if (!(speed > 0) || Number.isNaN(speed)) return fail(`"--speed" must be a positive number or max, received ${JSON.stringify(values.speed)}`);
      return await runReplay({ file: positionals[0]!, ...relayOptions(values, 0), speed }, out);
    }
    const { values, positionals } = parseCommandArgs(command, argv, DEMO_HIVE_OPTIONS);
    if (values.help) return help();
    if (positionals.length > 0) return fail(`"${command}" takes no arguments, received ${JSON.stringify(positionals[0])}`);
    const seed = intOption("seed", values.seed, 42, 0)!;
    const threads = intFlag("threads", values.threads, 1, MAX_THREADS);
    const backend = values.backend;
    if (backend !== undefined && !isBackendName(backend)) {
      return fail(`"--backend" must be one of ${BACKEND_NAMES.join(", ")}, received ${JSON.stringify(backend)}`);
    }
    const options = { ...relayOptions(values, command === "serve" ? 9_464 : 0), seed, threads, backend: backend };
    return command === "serve" ? await runServe(options, out) : await runInspect(options, out);
  } catch (error) {
    if (error instanceof RangeError || error instanceof UsageError) return fail(error.message);
    const code = isApiaryError(error) ? ` [${error.code}]` : "";
    process.stderr.write(`apiary: ${error instanceof Error ? error.message : String(error)}${code}\n`);
    return 1;
  }
}

function help(): number {
  process.stdout.write(USAGE);
  return 0;
}

/** --port, --host and --duration-ms of serve, inspect and replay. */
function relayOptions(values: { port?: string | undefined; host?: string | undefined; "duration-ms"?: string | undefined }, defaultPort: number) {
  return {
    port: intOption("port", values.port, defaultPort, 0, 65_535)!,
    host: values.host,
    durationMs: intFlag("duration-ms", values["duration-ms"], 1, MAX_DURATION_MS),
  };
}

const isEntry = (() => {
  const self = import.meta.url;
  const arg = process.argv[1];
  return (import.meta as { main?: boolean }).main === true || (arg !== undefined && (self.endsWith(arg) || self.endsWith(`${arg}.js`)));
})();
if (isEntry) process.exitCode = await main(process.argv.slice(2));
