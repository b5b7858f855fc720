/**
 * `apiary simulate scenario.json`: reads a scenario file, runs it in virtual time and prints a
 * summary table, or the run report as JSON (`--json`, without the wall time, so the same seed
 * prints the same bytes).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { InvalidOptionsError } from "../errors.ts";
import type { RunReport } from "../sim/report.ts";
import { parseScenario, type Scenario } from "../sim/scenario.ts";
import { simulate } from "../sim/simulate.ts";
import { createProgress, type Progress } from "./progress.ts";

/** Options of {@link runScenarioFile}. */
export interface ScenarioRunOptions {
  file: string;
  seed: number | undefined;
  json: boolean;
  html: string | undefined;
}

/** A problem with the command line or the scenario file: exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Reads and validates a scenario file.
 * @throws UsageError when it cannot be read, is not JSON, or is not a valid scenario (the message names the field)
 */
export async function readScenario(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read scenario file ${JSON.stringify(file)}: ${error instanceof Error ? error.message : String(error)}`);
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

const fixed = (x: number, digits = 1): string => x.toFixed(digits);

/** The terminal summary of a run report. */
export function formatReport(r: RunReport, agentsShown = 20): string {
  const t = r.tasks;
  const x = r.extra;
  const num = (key: string): number => (typeof x[key] === "number" ? (x[key] as number) : 0);
  const lat = (label: string, f: RunReport["latencyMs"], note: string): string =>
    `${label.padEnd(12)}mean ${fixed(f.mean)}   p50 ${fixed(f.p50)}   p95 ${fixed(f.p95)}   p99 ${fixed(f.p99)}   max ${fixed(f.max)}   (${note})`;
  const lines = [
    `apiary simulate — scenario ${JSON.stringify(r.scenario)}: ${r.agents.length} agents, seed ${r.seed}, ${fixed(r.durationMs / 1_000)} s simulated` +
      (r.warmupMs > 0 ? ` after ${fixed(r.warmupMs / 1_000)} s warm-up` : "") +
      (r.wallMs !== undefined ? ` in ${fixed(r.wallMs / 1_000, 2)} s` : ""),
    "",
    `tasks       submitted ${t.submitted}   completed ${t.completed}   failed ${t.failed}   dead-lettered ${t.deadLettered}   cancelled ${t.cancelled}   shed ${t.shed}   rejected ${t.rejected}   retried ${t.retried}`,
    `throughput  ${fixed(r.throughputPerSec, 2)} tasks/s of simulated time`,
    lat("latency ms", r.latencyMs, "submit to completion"),
    lat("wait ms", r.waitMs, "submit to first start"),
    `in system   mean ${fixed(num("meanInSystem"), 2)} tasks (running ${fixed(num("meanRunning"), 2)}, waiting ${fixed(num("meanQueued"), 2)}); Little's law λW = ${fixed(num("littleL"), 2)}`,
    `faults      crashes ${num("crashes")}   restarts ${num("restarts")}   worker deaths ${num("workerDeaths")}   agent breaker trips ${num("agentBreakerTrips")}   dependency breaker trips ${num("dependencyBreakerTrips")}` +
      (x["degraded"] === true ? `   DEGRADED at ${fixed(num("degradedAtMs") / 1_000)} s` : "") +
      (x["drainCutoff"] === true ? "   (drain cut off: unfinished tasks cancelled)" : ""),
  ];
  if (num("cacheHits") + num("cacheMisses") > 0) lines.push(`cache       hits ${num("cacheHits")}   misses ${num("cacheMisses")}`);
  lines.push("", `${"agent".padEnd(16)} ${"completed".padStart(9)} ${"failed".padStart(7)} ${"utilisation".padStart(11)} ${"restarts".padStart(8)} ${"breaker trips".padStart(13)}`);
  for (const a of r.agents.slice(0, agentsShown)) {
    lines.push(`${a.id.padEnd(16)} ${String(a.completed).padStart(9)} ${String(a.failed).padStart(7)} ${`${fixed(a.utilisation * 100)}%`.padStart(11)} ${String(a.restarts).padStart(8)} ${String(a.breakerTrips).padStart(13)}`);
  }
  if (r.agents.length > agentsShown) {
    const u = r.agents.map((a) => a.utilisation);
    const mean = u.reduce((s, v) => s + v, 0) / u.length;
    lines.push(`… ${r.agents.length - agentsShown} more (--json lists every agent); utilisation over all ${r.agents.length}: min ${fixed(Math.min(...u) * 100)}%, mean ${fixed(mean * 100)}%, max ${fixed(Math.max(...u) * 100)}%`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Runs `apiary simulate FILE`; resolves to the exit code.
 * @throws UsageError for a bad scenario file or an option that cannot be honoured
 */
export async function runScenarioFile(options: ScenarioRunOptions, out: (text: string) => void): Promise<number> {
  if (options.html !== undefined) {
    throw new UsageError('"--html" is not available yet: the HTML report (src/sim/html.ts) is not part of this build; use --json for the run report');
  }
  const scenario = await readScenario(options.file);
  const started = performance.now();
  let progress: Progress | undefined;
  const report = await simulate(scenario, {
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    onProgress: (done, total) => {
      // A bar only for runs that take more than a second (and never with --json).
      if (options.json || performance.now() - started < 1_000) return;
      const seconds = scenario.run.tasks === undefined;
      progress ??= createProgress(seconds ? "simulating (s)" : "simulating (tasks)", seconds ? Math.ceil(total / 1_000) : total, true);
      progress.update(seconds ? Math.floor(done / 1_000) : done);
    },
  });
  progress?.finish();
  if (options.json) {
    const { wallMs: _wall, ...reproducible } = report;
    out(`${JSON.stringify(reproducible)}\n`);
  } else {
    out(formatReport(report));
  }
  return 0;
}
