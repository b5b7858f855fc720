/**
 * The pieces every part of the HTML report is built from: headline figures, tables (numbers
 * right-aligned, a second line for an interval), charts in captioned figures, notes, and the
 * list of targets with their verdicts. Every string passed in is escaped here.
 *
 * @module
 */
import { describeFigure, formatFigureValue } from "./figure-names.ts";
import { escapeHtml } from "./format.ts";
import type { Method, TargetResult } from "./report.ts";

/** One headline figure: label, value and an optional hint below it. */
export function figure(label: string, value: string, hint?: string): string {
  return `<div class="figure"><dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}${hint === undefined ? "" : `<small>${escapeHtml(hint)}</small>`}</dd></div>`;
}

/**
 * The headline figure of the worker nodes a report ran on over Redis (load: their agents; sweep
 * and plan: the replicas each ran), or none when it ran on this machine.
 */
export function nodesFigure(nodes: readonly { id: string; threads: number; replicas?: number; agents?: string[] }[] | undefined): string[] {
  if (nodes === undefined) return [];
  const each = nodes.map((n) =>
    `${n.id}: ${n.threads} ${n.threads === 1 ? "thread" : "threads"}${n.replicas !== undefined ? `, ${n.replicas} ${n.replicas === 1 ? "replica" : "replicas"}` : ""}${
      n.agents !== undefined ? `, agents ${n.agents.join(" ")}` : ""
    }`
  );
  return [figure("worker nodes", String(nodes.length), `over Redis — ${each.join("; ")}`)];
}

/** A cell's text, or its text and a second, smaller line (an interval, a note). */
export type Cell = string | { text: string; sub?: string; className?: string; title?: string };

/** A table; `numeric[i]` right-aligns column `i`. */
export function table(head: readonly string[], rows: readonly (readonly Cell[])[], numeric: readonly boolean[], caption?: string): string {
  const cell = (tag: "th" | "td", c: Cell, i: number): string => {
    const classes = [numeric[i] === true ? "num" : "", typeof c === "object" ? (c.className ?? "") : ""].filter((x) => x !== "").join(" ");
    const attrs = `${classes === "" ? "" : ` class="${classes}"`}${typeof c === "object" && c.title !== undefined ? ` title="${escapeHtml(c.title)}"` : ""}`;
    const body = typeof c === "string" ? escapeHtml(c) : `${escapeHtml(c.text)}${c.sub === undefined ? "" : `<small>${escapeHtml(c.sub)}</small>`}`;
    return `<${tag}${attrs}>${body}</${tag}>`;
  };
  const cap = caption === undefined ? "" : `<caption>${escapeHtml(caption)}</caption>`;
  return `<table>${cap}<thead><tr>${head.map((c, i) => cell("th", c, i)).join("")}</tr></thead><tbody>${
    rows.map((row) => `<tr>${row.map((c, i) => cell("td", c, i)).join("")}</tr>`).join("")
  }</tbody></table>`;
}

/** A chart in a `<figure>`, its SVG `<title>` (which `svg()` puts first) repeated as a visible caption. */
export function chartFigure(chart: string): string {
  const title = /^<svg[^>]*><title>([^<]*)<\/title>/.exec(chart)?.[1] ?? "";
  return `<figure><figcaption>${title}</figcaption>${chart}</figure>`;
}

/** A muted note under a table or chart. */
export function note(text: string): string {
  return `<p class="note">${escapeHtml(text)}</p>`;
}

/** How a finding was obtained, in words a reader knows. */
export const METHOD_WORDS: Record<Method, string> = {
  measured: "measured in this run",
  "erlang-c": "queueing theory (Erlang C)",
  "closed-loop": "queueing theory (closed-loop bound)",
  "re-simulation": "re-simulated",
};

/** A list of findings, each tagged with how it was obtained. */
export function findingsList(findings: readonly { text: string; method: Method }[]): string {
  if (findings.length === 0) return "";
  return `<ul class="findings">${findings.map((f) => `<li><span class="method m-${f.method}">${escapeHtml(METHOD_WORDS[f.method])}</span> ${escapeHtml(f.text)}</li>`).join("")}</ul>`;
}

/** The targets of a run and how it did: one row each, PASS or FAIL, with the figure in plain words. */
export function targetsTable(results: readonly TargetResult[]): string {
  const rows = results.map((r) =>
    [
      r.target,
      describeFigure(r.figure)?.label ?? r.figure,
      r.actual === null
        ? "—"
        : r.ci95 === undefined
        ? formatFigureValue(r.figure, r.actual)
        : { text: formatFigureValue(r.figure, r.actual), sub: `95% CI ${formatFigureValue(r.figure, r.ci95[0])} – ${formatFigureValue(r.figure, r.ci95[1])}` },
      { text: r.passed ? "PASS" : "FAIL", className: r.passed ? "pass" : "fail", ...(r.note !== undefined ? { sub: r.note } : {}) },
    ] satisfies Cell[]
  );
  return table(["target", "figure", "value", "verdict"], rows, [false, false, true, false]);
}
