/**
 * Terminal summaries of reports: plain text in aligned columns, no colours, what `apiary load`,
 * `simulate` and `sweep` print when not asked for `--json`. Names from scenarios are printed
 * with their control characters replaced, so a report cannot drive the terminal.
 *
 * @module
 */
import { describeValue, InvalidOptionsError } from "../core/errors.ts";
import { formatDuration, formatFigure, formatMs, formatNumber, formatPercent, plainText, truncate } from "./format.ts";
import type { LoadReport, RunReport, SweepReport, TaskTotals } from "./report.ts";
import { successRate, unaccounted } from "./totals.ts";

/** Refuses what is not the report a formatter reads, before it reads a field of it. */
function checkReport(report: unknown, what: string, fits: (r: { mode?: unknown; levels?: unknown; rows?: unknown }) => boolean): void {
  if (report === null || typeof report !== "object" || !fits(report as { mode?: unknown })) {
    throw new InvalidOptionsError(`Cannot format report: "report" must be a ${what}, received ${describeValue(report)}`);
  }
}

/** Most agents listed one per row; the rest are summed up in one line. */
const MAX_AGENT_ROWS = 20;

/**
 * Lays out `rows` under `head` in columns two spaces apart; `numeric[i]` right-aligns column `i`.
 * @returns the lines, without a trailing newline
 */
export function alignColumns(head: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map((r) => head.map((_, i) => (numeric[i] === true ? (r[i] ?? "").padStart(widths[i]!) : (r[i] ?? "").padEnd(widths[i]!))).join("  ").trimEnd())
    .join("\n");
}

/** A load test's levels side by side: the header and one row per level (all numeric). */
export function levelColumns(r: LoadReport): { head: string[]; rows: string[][] } {
  const head = ["in flight", "accepted", "completed", "failed", "dead-lettered", "shed", "rejected", "cancelled", "success", "tasks/s", "p50 ms", "p95 ms", "p99 ms", "lost"];
  const rows = r.levels.map((l) => [
    formatNumber(l.inFlight),
    formatNumber(l.tasks.accepted),
    formatNumber(l.tasks.completed),
    formatNumber(l.tasks.failed),
    formatNumber(l.tasks.deadLettered),
    formatNumber(l.tasks.shed),
    formatNumber(l.tasks.rejected),
    formatNumber(l.tasks.cancelled),
    formatPercent(l.successRate),
    formatNumber(l.throughputPerSec, 1),
    formatMs(l.latencyMs.p50),
    formatMs(l.latencyMs.p95),
    formatMs(l.latencyMs.p99),
    formatNumber(unaccounted(l.tasks)),
  ]);
  return { head, rows };
}

/** A sweep's rows: the `params` parameter columns first, then each figure as `mean [low, high]` (95% CI). */
export function sweepColumns(r: SweepReport): { head: string[]; rows: string[][]; params: number } {
  const params = Object.keys(r.vary);
  const figures: string[] = [];
  for (const row of r.rows) for (const k of Object.keys(row.figures)) if (!figures.includes(k)) figures.push(k);
  const head = [...params, ...figures.map((f) => `${f} mean [95% CI]`)].map(plainText);
  const rows = r.rows.map((row) => [
    ...params.map((k) => plainText(String(row.params[k] ?? "—"))),
    ...figures.map((k) => {
      const e = row.figures[k];
      return e === undefined ? "—" : `${formatFigure(e.mean)} [${formatFigure(e.ci95[0])}, ${formatFigure(e.ci95[1])}]`;
    }),
  ]);
  return { head, rows, params: params.length };
}

/** The task counts and whether they reconcile, as two lines. */
function taskLines(t: TaskTotals): string[] {
  const lost = unaccounted(t);
  return [
    `tasks        submitted ${formatNumber(t.submitted)}   accepted ${formatNumber(t.accepted)}   rejected ${formatNumber(t.rejected)}`,
    `ended        completed ${formatNumber(t.completed)}   failed ${formatNumber(t.failed)}   dead-lettered ${formatNumber(t.deadLettered)}   shed ${formatNumber(t.shed)}   cancelled ${
      formatNumber(t.cancelled)
    }   (retried ${formatNumber(t.retried)})`,
    lost === 0
      ? "             nothing lost: every accepted task ended exactly once"
      : `             ${formatNumber(Math.abs(lost))} accepted tasks ${lost > 0 ? "have no terminal state" : "were counted twice"}`,
  ];
}

/**
 * One run: what ran, task counts and their reconciliation, success, throughput, latency and
 * wait percentiles, and a row per agent (the first {@link MAX_AGENT_ROWS}).
 *
 * @example
 * ```ts
 * process.stdout.write(formatRunReport(report));
 * ```
 */
export function formatRunReport(r: RunReport): string {
  checkReport(r, "run report (from simulate or a load run)", (x) => (x.mode === "simulation" || x.mode === "load") && !Array.isArray(x.levels));
  const what = r.mode === "simulation" ? "simulation" : "load run";
  const seed = r.seed === null ? "" : `, seed ${r.seed}`;
  const wall = r.wallMs === undefined ? "" : ` (wall ${formatDuration(r.wallMs)})`;
  const warm = r.warmupMs > 0 ? ` after ${formatDuration(r.warmupMs)} warm-up` : "";
  const lat = (l: RunReport["latencyMs"]): string => `p50 ${formatMs(l.p50)}   p95 ${formatMs(l.p95)}   p99 ${formatMs(l.p99)}   max ${formatMs(l.max)}`;
  const lines = [
    `apiary ${what} — ${plainText(r.scenario)}${seed}: ${formatDuration(r.durationMs)}${warm}${wall}`,
    "",
    ...taskLines(r.tasks),
    `success      ${formatPercent(successRate(r.tasks))} (completed ÷ accepted)`,
    `throughput   ${formatNumber(r.throughputPerSec, 1)} tasks/s`,
    `latency ms   ${lat(r.latencyMs)}   (submit to completion)`,
    `wait ms      ${lat(r.waitMs)}   (before the first attempt)`,
  ];
  if (r.agents.length > 0) {
    const shown = r.agents.slice(0, MAX_AGENT_ROWS);
    const rows = shown.map((
      a,
    ) => [plainText(truncate(a.id, 24)), formatNumber(a.completed), formatNumber(a.failed), formatPercent(a.utilisation), formatNumber(a.restarts), formatNumber(a.breakerTrips)]);
    lines.push("", alignColumns(["agent", "completed", "failed", "utilisation", "restarts", "breaker trips"], rows, [false, true, true, true, true, true]));
    const rest = r.agents.slice(MAX_AGENT_ROWS);
    if (rest.length > 0) {
      const sum = (f: (a: RunReport["agents"][number]) => number): string => formatNumber(rest.reduce((n, a) => n + f(a), 0));
      lines.push(
        `… and ${formatNumber(rest.length)} more agents: completed ${sum((a) => a.completed)}, failed ${sum((a) => a.failed)}, restarts ${sum((a) => a.restarts)}, breaker trips ${
          sum((a) => a.breakerTrips)
        }`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * A load test: one row per in-flight level (counts, success, throughput, percentiles, lost),
 * then what was shed or rejected, if anything, and whether every level reconciles.
 */
export function formatLoadReport(r: LoadReport): string {
  checkReport(r, "load report (from runLoad)", (x) => x.mode === "load" && Array.isArray(x.levels));
  const { head, rows } = levelColumns(r);
  const lines = [`apiary load — ${plainText(r.scenario)}: ${r.levels.length} ${r.levels.length === 1 ? "level" : "levels"} of tasks in flight`, ""];
  lines.push(r.levels.length === 0 ? "(no levels)" : alignColumns(head, rows, head.map(() => true)));
  lines.push("");
  const shed = r.levels.filter((l) => l.tasks.shed > 0 || l.tasks.rejected > 0);
  if (r.levels.length > 0) {
    lines.push(
      shed.length === 0
        ? "shed         nothing shed or rejected at any level"
        : `shed         ${shed.map((l) => `${formatNumber(l.inFlight)} in flight: ${formatNumber(l.tasks.shed)} shed, ${formatNumber(l.tasks.rejected)} rejected`).join("; ")}`,
    );
    const lost = r.levels.filter((l) => unaccounted(l.tasks) !== 0);
    lines.push(
      lost.length === 0
        ? "lost         none: at every level accepted = completed + failed + cancelled + dead-lettered + shed"
        : `lost         ${lost.map((l) => `${formatNumber(l.inFlight)} in flight: ${formatNumber(unaccounted(l.tasks))}`).join("; ")}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * A sweep: one row per figure, one column per parameter combination, each cell the mean and its
 * 95% interval (a sweep has a few combinations and many figures, so they go across).
 */
export function formatSweepReport(r: SweepReport): string {
  checkReport(r, "sweep report (from sweep)", (x) => x.mode === "sweep" && Array.isArray(x.rows));
  const wall = r.wallMs === undefined ? "" : `, ${formatDuration(r.wallMs)}`;
  const lines = [`apiary sweep — ${plainText(r.scenario)}: ${r.rows.length} combinations × ${r.replicas} replicas on ${r.threads} threads${wall}`, ""];
  if (r.rows.length === 0) {
    lines.push("(no rows)");
    return `${lines.join("\n")}\n`;
  }
  const params = Object.keys(r.vary);
  const figures: string[] = [];
  for (const row of r.rows) for (const k of Object.keys(row.figures)) if (!figures.includes(k)) figures.push(k);
  const head = ["mean [95% CI]", ...r.rows.map((row) => (params.length === 0 ? "as given" : params.map((k) => `${k}=${String(row.params[k] ?? "—")}`).join(" ")))].map(plainText);
  const rows = figures.map((f) => [
    plainText(f),
    ...r.rows.map((row) => {
      const e = row.figures[f];
      return e === undefined ? "—" : `${formatFigure(e.mean)} [${formatFigure(e.ci95[0])}, ${formatFigure(e.ci95[1])}]`;
    }),
  ]);
  lines.push(alignColumns(head, rows, head.map((_, i) => i > 0)));
  return `${lines.join("\n")}\n`;
}
