/**
 * The HTML of a plan: the choice and why, how every setting of the grid did (tried or skipped,
 * and why), each target's figure across the settings tried as error bars, and the bottleneck
 * of the chosen setting.
 *
 * @module
 */
import { estimateChart } from "./charts.ts";
import { formatFigureBare } from "./figure-names.ts";
import { escapeHtml, formatDuration, formatNumber } from "./format.ts";
import { type Cell, chartFigure, figure, findingsList, nodesFigure, note, table } from "./html-parts.ts";
import type { PlanReport } from "./plan.ts";

/** The body of a plan report. */
export function planBody(r: PlanReport): string {
  const paths = Object.keys(r.vary);
  const choice = r.choice === null ? "none meets the targets" : paths.map((p) => `${p} = ${String(r.choice![p])}`).join(", ");
  const headline = [
    figure("choice", choice, r.choice === null ? "with 95% confidence" : "smallest that meets every target"),
    figure("targets", r.targets.join(", ")),
    figure("settings simulated", `${formatNumber(r.tried)} of ${formatNumber(r.gridSize)}`, r.search === "bisection" ? "bisection" : "in order"),
    figure("replicas", formatNumber(r.replicas), "per setting (twice that when close to a target)"),
    ...nodesFigure(r.nodes),
    ...(r.wallMs !== undefined ? [figure("wall time", formatDuration(r.wallMs))] : []),
  ];
  const parts = [`<dl class="headline">${headline.join("")}</dl>`, `<section><p class="${r.choice === null ? "bad" : "ok"}">${escapeHtml(r.statement)}</p></section>`];
  const head = [...paths, "verdict", ...r.targets, "replicas", "order tried"];
  const rows = r.candidates.map((c) =>
    [
      ...paths.map((p) => String(c.params[p] ?? "—")),
      {
        text: c.verdict === "skipped" ? "not simulated" : c.verdict,
        className: c.verdict === "meets" ? "pass" : c.verdict === "skipped" ? "" : "fail",
        ...(c.note !== undefined ? { sub: c.note } : {}),
      },
      ...r.targets.map((t): Cell => {
        const res = c.targets.find((x) => x.target === t);
        if (res === undefined || res.actual === null) return "—";
        return {
          text: `${res.passed ? "PASS" : "FAIL"} ${formatFigureBare(res.figure, res.actual)}`,
          className: res.passed ? "pass" : "fail",
          ...(res.ci95 !== undefined ? { sub: `[${formatFigureBare(res.figure, res.ci95[0])}, ${formatFigureBare(res.figure, res.ci95[1])}]` } : {}),
        };
      }),
      c.replicas === 0 ? "—" : formatNumber(c.replicas),
      c.tried === null ? "—" : String(c.tried),
    ] satisfies Cell[]
  );
  parts.push(
    `<section><h2>Every setting</h2>${table(head, rows, head.map((_, i) => i >= paths.length + 1))}${
      note("A setting meets a target only when the figure's whole 95% confidence interval is on the right side of it; each cell shows the mean and, below, that interval.")
    }</section>`,
  );
  const tried = r.candidates.filter((c) => c.tried !== null);
  const labels = tried.map((c) => paths.map((p) => String(c.params[p])).join(" · "));
  const figures = [...new Set(tried.flatMap((c) => c.targets.map((t) => t.figure)))];
  parts.push(
    `<section><h2>Target figures across the settings tried</h2>${figures.map((f) => chartFigure(estimateChart(f, labels, tried.map((c) => c.figures[f]), paths.join(" · ")))).join("")}</section>`,
  );
  const chosen = r.candidates.find((c) => r.choice !== null && paths.every((p) => c.params[p] === r.choice![p]));
  if (chosen?.bottleneck !== undefined) {
    parts.push(
      `<section><h2>Bottleneck at the choice</h2>${note(`From the first replica of ${paths.map((p) => `${p} = ${String(chosen.params[p])}`).join(", ")}.`)}${
        findingsList(chosen.bottleneck.findings)
      }</section>`,
    );
  }
  return parts.join("\n");
}
