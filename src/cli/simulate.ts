/**
 * `apiary simulate scenario.json`: reads a scenario file, runs it in virtual time and prints a
 * summary table, or the run report as JSON (`--json`, without the wall time, so the same seed
 * prints the same bytes); `--html FILE` also writes the HTML report.
 *
 * @module
 */
import { readFile, writeFile } from "node:fs/promises";
import { InvalidOptionsError } from "../core/errors.ts";
import { formatMs, formatNumber } from "../sim/format.ts";
import { renderHtml } from "../sim/html.ts";
import type { RunReport } from "../sim/report.ts";
import { parseScenario, type Scenario } from "../sim/scenario.ts";
import { simulate } from "../sim/simulate.ts";
import { formatRunReport } from "../sim/table.ts";
import { UsageError } from "./args.ts";
import { createProgress, type Progress } from "./progress.ts";
import { examplesHint, scenarioPath } from "./scenario-file.ts";

export { UsageError };

/** Options of {@link runScenarioFile}. */
export interface ScenarioRunOptions {
  file: string;
  seed: number | undefined;
  json: boolean;
  html: string | undefined;
}

/**
 * Reads and validates a scenario file: a path, or the name of a bundled example (`mm1`) when no
 * such file exists.
 * @throws UsageError when it cannot be read, is not JSON, or is not a valid scenario (the message names the field)
 */
export async function readScenario(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(await scenarioPath(file), "utf8");
  } catch (error) {
    throw new UsageError(`cannot read scenario file ${JSON.stringify(file)}: ${error instanceof Error ? error.message : String(error)}${await examplesHint()}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`scenario file ${JSON.stringify(file)} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    return parseScenario(json);
  } catch (error) {
    if (error instanceof InvalidOptionsError) throw new UsageError(`${file}: ${error.message}`);
    throw error;
  }
}

/**
 * The terminal summary of a simulation: the shared run table (tasks by state, throughput,
 * latency and wait percentiles, agents) and what only a simulation reports — means, time
 * averages, faults and the cache.
 */
export function formatReport(r: RunReport): string {
  const x = r.extra;
  const num = (key: string): number => (typeof x[key] === "number" ? (x[key] as number) : 0);
  const lines = [
    `means        latency ${formatMs(r.latencyMs.mean)} ms   wait ${formatMs(r.waitMs.mean)} ms   in system ${formatNumber(num("meanInSystem"), 2)} (running ${
      formatNumber(num("meanRunning"), 2)
    }, waiting ${formatNumber(num("meanQueued"), 2)})   Little's law λW ${formatNumber(num("littleL"), 2)}`,
    `faults       crashes ${formatNumber(num("crashes"))}   restarts ${formatNumber(num("restarts"))}   worker deaths ${formatNumber(num("workerDeaths"))}   agent breaker trips ${
      formatNumber(num("agentBreakerTrips"))
    }   dependency breaker trips ${formatNumber(num("dependencyBreakerTrips"))}` +
    (x["degraded"] === true ? `   DEGRADED at ${formatMs(num("degradedAtMs"))} ms` : "") +
    (x["drainCutoff"] === true ? "   (drain cut off: unfinished tasks cancelled)" : ""),
  ];
  if (num("cacheHits") + num("cacheMisses") > 0) lines.push(`cache        hits ${formatNumber(num("cacheHits"))}   misses ${formatNumber(num("cacheMisses"))}`);
  const table = formatRunReport(r);
  // The simulation's lines go after the shared figures, before the agent table.
  const at = table.indexOf("\n\n", table.indexOf("wait ms"));
  return at < 0 ? `${table}${lines.join("\n")}\n` : `${table.slice(0, at)}\n${lines.join("\n")}${table.slice(at)}`;
}

/**
 * Runs `apiary simulate FILE`; resolves to the exit code.
 * @throws UsageError for a bad scenario file or an option that cannot be honoured
 */
export async function runScenarioFile(options: ScenarioRunOptions, out: (text: string) => void): Promise<number> {
  if (options.html !== undefined && options.html.trim() === "") throw new UsageError('"--html" must name a file, received ""');
  const scenario = await readScenario(options.file);
  const started = performance.now();
  let progress: Progress | undefined;
  const report = await simulate(scenario, {
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    onProgress: (done, total) => {
      // Progress only for runs that take more than a second; it goes to stderr, so --json too.
      if (performance.now() - started < 1_000) return;
      const seconds = scenario.run.tasks === undefined;
      progress ??= createProgress(seconds ? "simulating (s)" : "simulating (tasks)", seconds ? Math.ceil(total / 1_000) : total, true);
      progress.update(seconds ? Math.floor(done / 1_000) : done);
    },
  });
  progress?.finish();
  if (options.html !== undefined) {
    await writeFile(options.html, renderHtml(report));
    process.stderr.write(`apiary simulate: wrote the HTML report to ${options.html}\n`);
  }
  if (options.json) {
    const { wallMs: _wall, ...reproducible } = report;
    out(`${JSON.stringify(reproducible)}\n`);
  } else {
    out(formatReport(report));
  }
  return 0;
}
