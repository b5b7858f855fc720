/**
 * The `apiary` command line.
 *
 * ```
 * apiary simulate [--tasks N] [--seed N] [--threads N] [--backend piscina|comlink|inline] [--json]
 * apiary simulate scenario.json [--seed N] [--json] [--html FILE]
 * apiary load [scenario.json] [--levels 10,100,1000,5000] [--tasks-per-level N | --duration-ms N] [--json] [--html FILE] [--threads N]
 * apiary sweep scenario.json --replicas N [--vary key=a,b,c]... [--threads N] [--seed N] [--json] [--html FILE]
 * apiary serve [--port N] [--host H] [--duration-ms N]
 * apiary inspect [--port N] [--host H] [--duration-ms N]
 * apiary replay trace.jsonl [--port N] [--host H] [--duration-ms N]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { BackendName } from "../backends/types.ts";
import { isApiaryError } from "../errors.ts";
import { type DemoReport, runDemo } from "./demo.ts";
import { runInspect, runReplay } from "./inspect.ts";
import { intFlag } from "./args.ts";
import { runLoadCommand } from "./load-command.ts";
import { runSweepCommand } from "./sweep-command.ts";
import { createProgress } from "./progress.ts";
import { runServe } from "./serve.ts";
import { runScenarioFile, UsageError } from "./simulate.ts";

const USAGE = `Usage: apiary <command> [options]

Commands:
  simulate            run the built-in live demo: a swarm of agents running real
                      simulation tasks on the worker pool, then print a summary
  simulate FILE       run the scenario in FILE (JSON) in virtual time and print its
                      report: throughput, latency, wait, faults, per-agent utilisation
  load [FILE]         live load test at 10 / 100 / 1,000 / 5,000 tasks in flight on real
                      worker threads, built-in workload or a scenario file; table, --json
                      or --html FILE (apiary load --help)
  sweep FILE          N seeded replicas of the scenario in FILE over a parameter grid
                      (--replicas N --vary key=a,b,c), in parallel on worker threads;
                      means with 95% confidence intervals (apiary sweep --help)
  serve               run the demo hive under load and serve /metrics (Prometheus),
                      /health/live and /health/ready until Ctrl-C
  inspect             start the Stately inspector relay, run the demo hive connected
                      to it, and print the URL to open (Ctrl-C to stop)
  replay FILE         send a trace recorded with inspect: { file } into the inspector
                      relay and print the URL to watch it (Ctrl-C to stop)

Options:
  --tasks N           tasks to run (default 300)
  --seed N            seed for the workload and tie-breaks (default 42)
  --threads N         worker threads (default: one per CPU)
  --backend NAME      piscina | comlink | inline (default: piscina)
  --json              print the summary (or a scenario's run report) as one JSON object
  --html FILE         simulate FILE: also write the HTML report to FILE
  --port N            serve / inspect / replay: port (default 9464 for serve, a free
                      one for inspect and replay; 0 picks a free one)
  --host H            interface to bind (default 127.0.0.1; anything else exposes it)
  --duration-ms N     serve / inspect / replay: stop after N ms instead of on Ctrl-C
  -h, --help          show this help
`;

function fail(message: string): number {
  process.stderr.write(`apiary: ${message}\n\n${USAGE}`);
  return 2;
}

function intOption(name: string, value: string | undefined, fallback: number | undefined, min: number): number | undefined {
  return intFlag(name, value, min) ?? fallback;
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
        `${a.id.padEnd(12)} ${Object.entries(a.capabilities)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")
          .padEnd(28)} ${String(a.tasks).padStart(6)} ${String(a.failed).padStart(7)} ${ms(a.meanMs).padStart(8)}`,
    ),
    "",
    `energy      ${r.results.energy.runs} year-long dispatch runs, mean self-sufficiency ${pct(r.results.energy.meanSelfSufficiency)}, mean grid import ${r.results.energy.meanImportKwh.toFixed(0)} kWh`,
    `montecarlo  ${r.results.montecarlo.runs} runs, π ≈ ${r.results.montecarlo.meanEstimate.toFixed(5)} ± ${r.results.montecarlo.pooledStdError.toFixed(5)}`,
  ];
  return `${lines.join("\n")}\n`;
}

/** Runs the CLI with `argv` (without the runtime and script); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // `load` has flags of its own (--levels, --html, ...): it parses its arguments itself.
  if (argv[0] === "load") return runLoadCommand(argv.slice(1));
  if (argv[0] === "sweep") return runSweepCommand(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        tasks: { type: "string" },
        seed: { type: "string" },
        threads: { type: "string" },
        backend: { type: "string" },
        json: { type: "boolean", default: false },
        html: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        "duration-ms": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command === undefined) return fail("a command is required");
  if (command === "load") return runLoadCommand(argv.filter((_, i) => i !== argv.indexOf("load")));
  if (command === "sweep") return runSweepCommand(argv.filter((_, i) => i !== argv.indexOf("sweep")));
  if (command === "serve" || command === "inspect" || command === "replay") return observe(command, rest, values);
  if (command !== "simulate") return fail(`unknown command ${JSON.stringify(command)}`);
  if (rest.length > 1) return fail(`"simulate" takes at most one scenario file, received ${JSON.stringify(rest)}`);
  if (rest.length === 1) {
    for (const demoOnly of ["tasks", "threads", "backend"] as const) {
      if (values[demoOnly] !== undefined) return fail(`"--${demoOnly}" applies to the built-in demo only, not to a scenario file`);
    }
    try {
      const seed = intOption("seed", values.seed, undefined, 0);
      return await runScenarioFile({ file: rest[0]!, seed, json: values.json, html: values.html }, (text) => void process.stdout.write(text));
    } catch (error) {
      if (error instanceof RangeError || error instanceof UsageError) return fail(error.message);
      const code = isApiaryError(error) ? ` [${error.code}]` : "";
      process.stderr.write(`apiary: ${error instanceof Error ? error.message : String(error)}${code}\n`);
      return 1;
    }
  }
  if (values.html !== undefined) return fail('"--html" applies to a scenario file: apiary simulate scenario.json --html report.html');
  try {
    const tasks = intOption("tasks", values.tasks, 300, 1)!;
    const seed = intOption("seed", values.seed, 42, 0)!;
    const threads = intOption("threads", values.threads, undefined, 1);
    const backend = values.backend;
    if (backend !== undefined && backend !== "piscina" && backend !== "comlink" && backend !== "inline") {
      return fail(`"--backend" must be one of piscina, comlink, inline, received ${JSON.stringify(backend)}`);
    }
    const progress = createProgress("simulating", tasks, !values.json);
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
async function observe(
  command: "serve" | "inspect" | "replay",
  rest: readonly string[],
  values: { seed?: string | undefined; threads?: string | undefined; backend?: string | undefined; port?: string | undefined; host?: string | undefined; "duration-ms"?: string | undefined },
): Promise<number> {
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    if (command === "replay" && rest.length !== 1) return fail(`"replay" takes one trace file, received ${rest.length === 0 ? "none" : JSON.stringify(rest)}`);
    if (command !== "replay" && rest.length > 0) return fail(`"${command}" takes no arguments, received ${JSON.stringify(rest[0])}`);
    const port = intOption("port", values.port, command === "serve" ? 9_464 : 0, 0)!;
    if (port > 65_535) return fail(`"--port" must be an integer from 0 to 65535, received ${JSON.stringify(values.port)}`);
    const durationMs = intOption("duration-ms", values["duration-ms"], undefined, 1);
    const host = values.host;
    if (command === "replay") return await runReplay({ file: rest[0]!, port, host, durationMs }, out);
    const seed = intOption("seed", values.seed, 42, 0)!;
    const threads = intOption("threads", values.threads, undefined, 1);
    const backend = values.backend;
    if (backend !== undefined && backend !== "piscina" && backend !== "comlink" && backend !== "inline") {
      return fail(`"--backend" must be one of piscina, comlink, inline, received ${JSON.stringify(backend)}`);
    }
    const options = { port, host, seed, threads, backend: backend as BackendName | undefined, durationMs };
    return command === "serve" ? await runServe(options, out) : await runInspect(options, out);
  } catch (error) {
    if (error instanceof RangeError) return fail(error.message);
    const code = isApiaryError(error) ? ` [${error.code}]` : "";
    process.stderr.write(`apiary: ${error instanceof Error ? error.message : String(error)}${code}\n`);
    return 1;
  }
}

const isEntry = (() => {
  const self = import.meta.url;
  const arg = process.argv[1];
  return (import.meta as { main?: boolean }).main === true || (arg !== undefined && (self.endsWith(arg) || self.endsWith(`${arg}.js`)));
})();
if (isEntry) process.exitCode = await main(process.argv.slice(2));
