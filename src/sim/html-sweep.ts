/**
 * The HTML of a sweep: the targets per combination, the means with their 95% intervals in
 * tables narrow enough for a page (a few figures a table, grouped by theme, each cell the mean
 * over its interval), error-bar charts of the figures that vary, and the bottleneck of each
 * combination. Figures that are zero in every replica are named once instead of tabulated.
 *
 * @module
 */
import { allZero, estimateChart } from "./charts.ts";
import { describeFigure, formatFigureBare, GROUP_FIGURES, RUN_FIGURES, shortLabel, splitFigure } from "./figure-names.ts";
import { escapeHtml, formatDuration, formatNumber, formatPercent } from "./format.ts";
import { type Cell, chartFigure, figure, findingsList, nodesFigure, note, table } from "./html-parts.ts";
import type { Estimate, SweepReport } from "./report.ts";

/** Most figure columns a table of estimates has, so it fits a page beside the parameter columns. */
const FIGURES_PER_TABLE = 5;

/** The themes the run-wide figures are tabulated under, in order. */
const THEMES: [string, (f: string) => boolean, ("latencyMs" | "waitMs" | "timeBreakdown")?][] = [
  ["Throughput (tasks/s) and outcomes (tasks submitted in the window)", (f) => f === "throughputPerSec" || f === "successRate" || f.startsWith("tasks.")],
  ["Latency, submit to completion, of completed tasks (ms)", (f) => f.startsWith("latencyMs."), "latencyMs"],
  ["Wait before the first attempt, of completed tasks (ms)", (f) => f.startsWith("waitMs."), "waitMs"],
  ["Where the time goes (mean ms per completed task)", (f) => f.startsWith("timeBreakdown."), "timeBreakdown"],
  ["Agents and load", (f) => f === "utilisation" || f === "restarts" || f === "breakerTrips" || f.startsWith("littlesLaw.")],
];

/** Group figures shown per priority and per kind (a subset: the rest are in the JSON). */
const GROUP_SHOWN = ["throughputPerSec", "successRate", "latencyMs.p95", "latencyMs.p99", "waitMs.p95"];

/** Figures drawn as charts when they vary: the headline ones and any a target names. */
const CHARTED = ["throughputPerSec", "successRate", "latencyMs.p95", "latencyMs.p99", "waitMs.p95"];

function cell(figure: string, e: Estimate | undefined): Cell {
  if (e === undefined || !Number.isFinite(e.mean)) return "—";
  const [lo, hi] = e.ci95;
  const sub = e.n === 1 ? "one replica" : `[${formatFigureBare(figure, lo)}, ${formatFigureBare(figure, hi)}]`;
  return {
    text: formatFigureBare(figure, e.mean),
    sub,
    title: `${describeFigure(figure)?.label ?? figure}: mean ${formatFigureBare(figure, e.mean)}, 95% CI ${formatFigureBare(figure, lo)} to ${formatFigureBare(figure, hi)} (n=${e.n})`,
  };
}

/** Tables of `figures` (at most {@link FIGURES_PER_TABLE} a table), one row per combination. */
function estimateTables(r: SweepReport, figures: readonly string[], caption: string, header: (f: string) => string): string {
  const params = Object.keys(r.vary);
  const out: string[] = [];
  for (let i = 0; i < figures.length; i += FIGURES_PER_TABLE) {
    const chunk = figures.slice(i, i + FIGURES_PER_TABLE);
    const head = [...(params.length === 0 ? ["combination"] : params), ...chunk.map(header)];
    const rows = r.rows.map((row) => [...(params.length === 0 ? ["as given"] : params.map((k) => String(row.params[k] ?? "—"))), ...chunk.map((f) => cell(f, row.figures[f]))]);
    out.push(table(head, rows, head.map((_, j) => j >= Math.max(1, params.length)), i === 0 ? caption : `${caption} (continued)`));
  }
  return out.join("");
}

/** The body of a sweep report. */
export function sweepBody(r: SweepReport): string {
  const paramKeys = Object.keys(r.vary);
  const names: string[] = [];
  for (const row of r.rows) for (const k of Object.keys(row.figures)) if (!names.includes(k)) names.push(k);
  const zero = names.filter((k) => allZero(r.rows.map((row) => row.figures[k])));
  const live = names.filter((k) => !zero.includes(k));
  const targets = r.targets ?? [];
  const failedRows = r.rows.filter((row) => row.targets?.some((t) => !t.passed) === true).length;
  const headline = [
    figure("replicas", formatNumber(r.replicas), "per parameter combination"),
    figure("combinations", formatNumber(r.rows.length)),
    figure("threads", formatNumber(r.threads)),
    ...nodesFigure(r.nodes),
    ...(r.wallMs !== undefined ? [figure("wall time", formatDuration(r.wallMs))] : []),
    figure("varied", paramKeys.length === 0 ? "nothing" : paramKeys.join(", ")),
    ...(targets.length > 0 ? [figure("targets", failedRows === 0 ? "met everywhere" : `missed at ${failedRows} of ${r.rows.length}`, "with 95% confidence")] : []),
  ];
  const parts = [`<dl class="headline">${headline.join("")}</dl>`];
  if (r.rows.length === 0) return parts[0] + note("This sweep has no rows.");

  if (targets.length > 0) {
    const head = [...(paramKeys.length === 0 ? ["combination"] : paramKeys), ...targets];
    const rows = r.rows.map((row) => [
      ...(paramKeys.length === 0 ? ["as given"] : paramKeys.map((k) => String(row.params[k] ?? "—"))),
      ...targets.map((t): Cell => {
        const res = row.targets?.find((x) => x.target === t);
        if (res === undefined) return "—";
        const value = res.actual === null ? "no such figure" : formatFigureBare(res.figure, res.actual);
        return {
          text: `${res.passed ? "PASS" : "FAIL"} ${value}`,
          className: res.passed ? "pass" : "fail",
          sub: res.ci95 === undefined
            ? (res.note ?? "")
            : `[${formatFigureBare(res.figure, res.ci95[0])}, ${formatFigureBare(res.figure, res.ci95[1])}]${res.note !== undefined && res.passed === false && res.actual !== null ? " not sure" : ""}`,
        };
      }),
    ]);
    parts.push(
      `<section><h2>Targets</h2>${table(head, rows, head.map(() => false))}${
        note("A combination meets a target only when the figure's whole 95% confidence interval is on the right side of it.")
      }</section>`,
    );
  }

  const sections: string[] = [];
  for (const [theme, belongs, within] of THEMES) {
    const figures = RUN_FIGURES.filter((f) => belongs(f) && live.includes(f));
    if (figures.length > 0) sections.push(estimateTables(r, figures, theme, (f) => shortLabel(f, within)));
  }
  for (const by of ["byPriority", "byKind"] as const) {
    const groups = [...new Set(live.filter((f) => f.startsWith(`${by}.`)).map((f) => splitFigure(f).group!.name))];
    for (const g of groups) {
      const figures = GROUP_SHOWN.filter((f) => live.includes(`${by}.${g}.${f}`)).map((f) => `${by}.${g}.${f}`);
      if (figures.length > 0) sections.push(estimateTables(r, figures, `${by === "byPriority" ? "Priority" : "Kind"} ${g}`, (f) => shortLabel(f)));
    }
  }
  const notes: string[] = [];
  if (zero.length > 0) notes.push(`Zero in every combination and every replica, so not tabulated or drawn: ${zero.map((k) => describeFigure(k)?.label ?? k).join("; ")}.`);
  if (r.rows.some((row) => Object.values(row.figures).some((e) => e.resolution !== undefined))) {
    notes.push(
      "Percentiles are read from each replica's histogram, exact to ±1.6%: where the replicas agree more closely than that, the interval shown is that resolution, not a claim of more certainty.",
    );
  }
  notes.push(
    `Each cell: the mean over ${
      formatNumber(r.replicas)
    } replicas, and below it the 95% confidence interval (Student's t, cut at 0 and at 100% where a figure cannot pass them; the full name of each figure is in its cell's tooltip). Per priority and per kind: ${
      GROUP_SHOWN.map((f) => describeFigure(f)?.label ?? f).join(", ")
    }; the JSON has ${GROUP_FIGURES.length} figures each.`,
  );
  parts.push(`<section class="estimates"><h2>Means with 95% confidence intervals</h2>${sections.join("")}${notes.map(note).join("")}</section>`);

  const labels = r.rows.map((row) => paramKeys.map((k) => String(row.params[k] ?? "—")).join(" · ") || "all");
  const xLabel = paramKeys.length > 0 ? paramKeys.join(" · ") : undefined;
  const charted = [...new Set([...CHARTED, ...(r.rows[0]?.targets ?? []).map((t) => t.figure)])].filter((k) => live.includes(k));
  parts.push(
    `<section><h2>Estimates</h2>${charted.map((k) => chartFigure(estimateChart(k, labels, r.rows.map((row) => row.figures[k]), xLabel))).join("")}${
      note(`Drawn: ${charted.map((k) => describeFigure(k)?.label ?? k).join("; ")}. Every other figure is in the tables above.`)
    }</section>`,
  );

  const analysed = r.rows.filter((row) => row.bottleneck !== undefined);
  if (analysed.length > 0) {
    const blocks = analysed.map((row) => {
      const at = paramKeys.length === 0 ? "the scenario as given" : paramKeys.map((k) => `${k} = ${String(row.params[k] ?? "—")}`).join(", ");
      return `<details><summary>${escapeHtml(at)}${
        row.bottleneck!.saturatesFirst !== null
          ? ` — ${escapeHtml(`${row.bottleneck!.saturatesFirst.resource.split(" (")[0]!} ${formatPercent(row.bottleneck!.saturatesFirst.utilisation)} busy`)}`
          : ""
      }</summary>${findingsList(row.bottleneck!.findings)}</details>`;
    });
    parts.push(`<section><h2>Bottleneck per combination</h2>${note("From the first replica of each combination.")}${blocks.join("")}</section>`);
  }
  return parts.join("\n");
}
