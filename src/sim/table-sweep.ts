/**
 * Terminal summaries of a sweep and of a plan: figures named in plain words with their units,
 * each cell a mean and its 95% interval, figures that are zero everywhere named once, and the
 * targets each combination (or setting) met or missed.
 *
 * @module
 */
import { allZero } from "./charts.ts";
import { alignColumns, checkReport } from "./columns.ts";
import { describeFigure, formatFigureBare, labelWithUnit } from "./figure-names.ts";
import { formatDuration, formatNumber, plainText } from "./format.ts";
import type { PlanReport } from "./plan.ts";
import type { Estimate, SweepReport } from "./report.ts";
import { targetLines } from "./targets.ts";

function estimateText(figure: string, e: Estimate | undefined): string {
  if (e === undefined || !Number.isFinite(e.mean)) return "—";
  return `${formatFigureBare(figure, e.mean)} [${formatFigureBare(figure, e.ci95[0])}, ${formatFigureBare(figure, e.ci95[1])}]`;
}

function paramsText(params: Record<string, unknown>, keys: readonly string[]): string {
  return keys.length === 0 ? "as given" : keys.map((k) => `${k}=${String(params[k] ?? "—")}`).join(" ");
}

/** The worker nodes that ran a sweep's or a plan's replicas over Redis, in a line. */
function nodesLine(list: readonly { id: string; threads: number; replicas: number }[]): string {
  const nodes = list.map((n) => `${n.id} (${n.threads} ${n.threads === 1 ? "thread" : "threads"}, ${n.replicas} ${n.replicas === 1 ? "replica" : "replicas"})`).join(", ");
  return `on ${list.length} worker ${list.length === 1 ? "node" : "nodes"} over Redis: ${plainText(nodes)}`;
}

/**
 * A sweep: one row per figure (named in plain words, with its unit), one column per parameter
 * combination, each cell the mean and its 95% interval (a sweep has a few combinations and many
 * figures, so they go across); then the targets per combination.
 */
export function formatSweepReport(r: SweepReport): string {
  checkReport(r, "sweep report (from sweep)", (x) => x.mode === "sweep" && Array.isArray(x.rows));
  const wall = r.wallMs === undefined ? "" : `, ${formatDuration(r.wallMs)}`;
  const lines = [`apiary sweep — ${plainText(r.scenario)}: ${r.rows.length} combinations × ${r.replicas} replicas on ${r.threads} threads${wall}`, ""];
  if (r.nodes !== undefined) lines.splice(1, 0, nodesLine(r.nodes));
  if (r.rows.length === 0) {
    lines.push("(no rows)");
    return `${lines.join("\n")}\n`;
  }
  const params = Object.keys(r.vary);
  const figures: string[] = [];
  for (const row of r.rows) for (const k of Object.keys(row.figures)) if (!figures.includes(k)) figures.push(k);
  const zero = figures.filter((f) => allZero(r.rows.map((row) => row.figures[f])));
  const shown = figures.filter((f) => !zero.includes(f));
  const head = ["mean [95% CI]", ...r.rows.map((row) => paramsText(row.params, params))].map(plainText);
  const rows = shown.map((f) => [plainText(labelWithUnit(f)), ...r.rows.map((row) => estimateText(f, row.figures[f]))]);
  lines.push(alignColumns(head, rows, head.map((_, i) => i > 0)));
  if (zero.length > 0) lines.push("", `zero in every combination and replica: ${zero.map((f) => plainText(describeFigure(f)?.label ?? f)).join("; ")}`);
  if (r.rows.some((row) => Object.values(row.figures).some((e) => e.resolution !== undefined))) {
    lines.push("percentiles come from histograms exact to ±1.6%: no interval is drawn narrower than that");
  }
  if (r.targets !== undefined && r.targets.length > 0) {
    lines.push("", "targets (met only when the whole 95% interval is on the right side)");
    for (const row of r.rows) for (const t of targetLines(row.targets ?? [])) lines.push(`  ${plainText(paramsText(row.params, params))}  ${plainText(t)}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * A plan: the choice (or that there is none) and why, then every setting tried with its
 * verdict and its targets' figures.
 */
export function formatPlanReport(r: PlanReport): string {
  checkReport(r, "plan report (from plan)", (x) => (x as { mode?: unknown }).mode === "plan" && Array.isArray((x as { candidates?: unknown }).candidates));
  const wall = r.wallMs === undefined ? "" : `, ${formatDuration(r.wallMs)}`;
  const paths = Object.keys(r.vary);
  const lines = [
    `apiary plan — ${plainText(r.scenario)}: ${formatNumber(r.tried)} of ${formatNumber(r.gridSize)} settings simulated (${r.search}), ${r.replicas} replicas each on ${r.threads} threads${wall}`,
    "",
    r.choice === null ? "choice       none: no setting meets every target" : `choice       ${plainText(paramsText(r.choice, paths))}`,
    `             ${plainText(r.statement)}`,
    "",
  ];
  if (r.nodes !== undefined) lines.splice(1, 0, nodesLine(r.nodes));
  const tried = r.candidates.filter((c) => c.tried !== null).sort((a, b) => a.tried! - b.tried!);
  const head = ["#", ...paths, "verdict", ...r.targets, "replicas"];
  const rows = tried.map((c) =>
    [
      String(c.tried),
      ...paths.map((p) => String(c.params[p] ?? "—")),
      c.verdict,
      ...r.targets.map((t) => {
        const res = c.targets.find((x) => x.target === t);
        return res === undefined || res.actual === null
          ? "—"
          : `${res.passed ? "PASS" : "FAIL"} ${estimateText(res.figure, { n: 2, mean: res.actual, stddev: 0, ci95: res.ci95 ?? [res.actual, res.actual] })}`;
      }),
      String(c.replicas),
    ].map(plainText)
  );
  lines.push("settings tried, in the order they ran:", alignColumns(head.map(plainText), rows, head.map((_, i) => i === 0 || i === head.length - 1)));
  const notes = tried.filter((c) => c.note !== undefined).map((c) => `  ${plainText(paramsText(c.params, paths))}: ${plainText(c.note!)}`);
  if (notes.length > 0) lines.push("", ...notes);
  return `${lines.join("\n")}\n`;
}
