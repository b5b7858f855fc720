/**
 * The HTML report's charts, as inline SVG: latency histogram, figures over time, per-agent
 * utilisation, load levels side by side, and sweep estimates with their 95% intervals. Each
 * returns one `<svg>` (or a placeholder saying why there is nothing to draw). The agent state
 * timeline has its own file (`timeline.ts`).
 *
 * @module
 */
import { escapeHtml, formatCompact, formatFigure, formatMs, formatNumber, formatPercent, truncate } from "./format.ts";
import type { AgentFigures, Estimate, HistogramBucket, LatencyFigures, SeriesPoint } from "./report.ts";
import { emptyChart, linear, niceMax, plot, px, svg, ticks, xAxis, yAxis } from "./svg.ts";

/** Most bars a histogram draws; finer histograms are merged into neighbouring buckets. */
const MAX_BARS = 60;
/** Most points a time series draws; longer series are averaged over equal runs of points. */
const MAX_POINTS = 600;
/** Most agents the utilisation chart draws one bar for. */
export const MAX_AGENT_BARS = 40;

/**
 * Latency histogram: one bar per bucket (merged down to {@link MAX_BARS}), with the p50, p95 and
 * p99 marked on the bucket that holds them.
 */
export function latencyHistogram(buckets: readonly HistogramBucket[], latency: LatencyFigures): string {
  const title = "Latency distribution (submit to completion, completed tasks)";
  const total = buckets.reduce((n, b) => n + b.count, 0);
  if (buckets.length === 0 || total === 0) return emptyChart("latency-histogram", title, "no completed tasks to draw");
  const bars = mergeBuckets(buckets, MAX_BARS);
  const p = plot(720, 240, { bottom: 40 });
  const most = niceMax(Math.max(...bars.map((b) => b.count)));
  const y = linear(0, most, p.bottom, p.top);
  const slot = (p.right - p.left) / bars.length;
  let body = yAxis(p, ticks(0, most, 4), y, "tasks");
  bars.forEach((b, i) => {
    const x = p.left + i * slot;
    const lower = i === 0 ? 0 : bars[i - 1]!.upperMs;
    const top = y(b.count);
    body += `<rect class="bar" x="${px(x + 1)}" y="${px(top)}" width="${px(Math.max(1, slot - 2))}" height="${px(p.bottom - top)}">`;
    body += `<title>${escapeHtml(`${formatMs(lower)}–${formatMs(b.upperMs)} ms: ${formatNumber(b.count)} tasks`)}</title></rect>`;
  });
  body += `<line class="axis" x1="${px(p.left)}" x2="${px(p.right)}" y1="${px(p.bottom)}" y2="${px(p.bottom)}"/>`;
  const every = Math.max(1, Math.ceil(bars.length / 8));
  bars.forEach((b, i) => {
    if (i % every !== 0 && i !== bars.length - 1) return;
    body += `<text class="tick" x="${px(p.left + (i + 1) * slot)}" y="${px(p.bottom + 14)}" text-anchor="end">≤${escapeHtml(formatCompact(b.upperMs))}</text>`;
  });
  body += `<text class="axis-label" x="${px(p.right)}" y="${px(p.height - 4)}" text-anchor="end">latency, ms (bucket upper bound)</text>`;
  const marks: [string, number][] = [["p50", latency.p50], ["p95", latency.p95], ["p99", latency.p99]];
  marks.forEach(([name, value], k) => {
    if (!(latency.count > 0) || !Number.isFinite(value)) return;
    let i = bars.findIndex((b) => b.upperMs >= value);
    if (i < 0) i = bars.length - 1;
    const at = p.left + (i + 0.5) * slot;
    const x = px(at);
    // Labels right of the middle go on the line's left, so they stay inside the chart.
    const [anchor, dx] = at > (p.left + p.right) / 2 ? ["end", -3] : ["start", 3];
    body += `<line class="marker" x1="${x}" x2="${x}" y1="${px(p.top)}" y2="${px(p.bottom)}"/>`;
    body += `<text class="marker-label" x="${x}" y="${px(p.top + 10 + k * 12)}" text-anchor="${anchor}" dx="${dx}">${name} ${escapeHtml(formatMs(value))}</text>`;
  });
  return svg("latency-histogram", title, p, body);
}

function mergeBuckets(buckets: readonly HistogramBucket[], max: number): HistogramBucket[] {
  if (buckets.length <= max) return [...buckets];
  const size = Math.ceil(buckets.length / max);
  const out: HistogramBucket[] = [];
  for (let i = 0; i < buckets.length; i += size) {
    const run = buckets.slice(i, i + size);
    out.push({ upperMs: run[run.length - 1]!.upperMs, count: run.reduce((n, b) => n + b.count, 0) });
  }
  return out;
}

/** One line of a {@link timeSeriesChart}. */
export interface SeriesLine {
  key: "throughputPerSec" | "queued" | "running" | "completed" | "failed";
  label: string;
  /** CSS class (colour) of the line. */
  className: string;
  /** Fill the area under the line. */
  area?: boolean;
}

/**
 * Figures over time from a run's `series`: one line per entry of `lines`, the warm-up shaded.
 * Series longer than {@link MAX_POINTS} are averaged over equal runs of points.
 */
export function timeSeriesChart(kind: string, title: string, series: readonly SeriesPoint[], lines: readonly SeriesLine[], warmupMs: number, yLabel: string): string {
  if (series.length === 0) return emptyChart(kind, title, "no samples over time (the run was shorter than one sampling interval)");
  const points = downsample(series, MAX_POINTS);
  const p = plot(720, 210, { top: 26 });
  const t1 = Math.max(points[points.length - 1]!.t, warmupMs, 1);
  const x = linear(0, t1, p.left, p.right);
  const most = niceMax(Math.max(0, ...points.flatMap((s) => lines.map((l) => s[l.key]))));
  const y = linear(0, most, p.bottom, p.top);
  let body = "";
  if (warmupMs > 0) {
    body += `<rect class="warmup" x="${px(p.left)}" y="${px(p.top)}" width="${px(x(Math.min(warmupMs, t1)) - p.left)}" height="${
      px(p.bottom - p.top)
    }"><title>warm-up (left out of the figures)</title></rect>`;
  }
  body += yAxis(p, ticks(0, most, 4), y, yLabel);
  body += xAxis(p, ticks(0, t1 / 1_000, 6), (s) => x(s * 1_000), "time, s");
  for (const line of lines) {
    const coords = points.map((s) => `${px(x(s.t))},${px(y(s[line.key]))}`);
    if (line.area === true) {
      body += `<path class="area ${escapeHtml(line.className)}" d="M${px(x(points[0]!.t))},${px(p.bottom)}L${coords.join("L")}L${px(x(points[points.length - 1]!.t))},${px(p.bottom)}Z"/>`;
    }
    // A single sample still shows, as a dot.
    body += points.length === 1
      ? `<circle class="dot ${escapeHtml(line.className)}" cx="${coords[0]!.split(",")[0]}" cy="${coords[0]!.split(",")[1]}" r="3"/>`
      : `<polyline class="line ${escapeHtml(line.className)}" points="${coords.join(" ")}"/>`;
  }
  body += legend(p, lines.map((l) => [l.label, l.className]));
  return svg(kind, title, p, body);
}

function downsample(series: readonly SeriesPoint[], max: number): SeriesPoint[] {
  if (series.length <= max) return [...series];
  const size = Math.ceil(series.length / max);
  const out: SeriesPoint[] = [];
  for (let i = 0; i < series.length; i += size) {
    const run = series.slice(i, i + size);
    const mean = (f: (s: SeriesPoint) => number): number => run.reduce((n, s) => n + f(s), 0) / run.length;
    out.push({
      t: run[run.length - 1]!.t,
      completed: run.reduce((n, s) => n + s.completed, 0),
      failed: run.reduce((n, s) => n + s.failed, 0),
      throughputPerSec: mean((s) => s.throughputPerSec),
      queued: mean((s) => s.queued),
      running: mean((s) => s.running),
    });
  }
  return out;
}

// A row of swatches in the top margin, ending at the plot's right edge (clear of the data).
function legend(p: { right: number; top: number }, entries: readonly [string, string][]): string {
  let out = "";
  let x = p.right;
  for (const [label, className] of [...entries].reverse()) {
    x -= 18 + label.length * 6.5;
    out += `<rect class="swatch ${escapeHtml(className)}" x="${px(x)}" y="${px(p.top - 14)}" width="10" height="10"/>`;
    out += `<text class="legend" x="${px(x + 14)}" y="${px(p.top - 5)}">${escapeHtml(label)}</text>`;
  }
  return out;
}

/**
 * Per-agent utilisation: one horizontal bar per agent (busy slot-time over capacity), with its
 * completed, failed, restarts and breaker trips. At most {@link MAX_AGENT_BARS} bars; `omitted`
 * says how many agents were left out.
 */
export function utilisationChart(agents: readonly AgentFigures[]): { svg: string; omitted: number } {
  const title = "Per-agent utilisation (busy slot-time ÷ capacity)";
  if (agents.length === 0) return { svg: emptyChart("utilisation", title, "no agents in this run"), omitted: 0 };
  const shown = agents.slice(0, MAX_AGENT_BARS);
  const lane = 20;
  const p = plot(720, 40 + shown.length * lane, { left: 150, right: 270, top: 20, bottom: 20 });
  const x = linear(0, 1, p.left, p.right);
  let body = "";
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    body += `<line class="grid" x1="${px(x(v))}" x2="${px(x(v))}" y1="${px(p.top)}" y2="${px(p.bottom)}"/>`;
    body += `<text class="tick" x="${px(x(v))}" y="${px(p.top - 6)}" text-anchor="middle">${v * 100}%</text>`;
  }
  shown.forEach((a, i) => {
    const top = p.top + i * lane + 3;
    const u = Number.isFinite(a.utilisation) ? Math.min(1, Math.max(0, a.utilisation)) : 0;
    const detail = `${formatPercent(a.utilisation)} · ${formatNumber(a.completed)} done · ${formatNumber(a.failed)} failed` +
      (a.restarts > 0 ? ` · ${plural(a.restarts, "restart")}` : "") + (a.breakerTrips > 0 ? ` · ${plural(a.breakerTrips, "trip")}` : "");
    body += `<text class="lane-label" x="${px(p.left - 8)}" y="${px(top + lane / 2)}" text-anchor="end">${escapeHtml(truncate(a.id, 22))}</text>`;
    body += `<rect class="track" x="${px(p.left)}" y="${px(top)}" width="${px(p.right - p.left)}" height="${lane - 6}"/>`;
    body += `<rect class="bar${a.restarts > 0 || a.breakerTrips > 0 ? " troubled" : ""}" x="${px(p.left)}" y="${px(top)}" width="${px(Math.max(0.5, x(u) - p.left))}" height="${lane - 6}">`;
    body += `<title>${escapeHtml(`${a.id}: ${detail}`)}</title></rect>`;
    body += `<text class="value" x="${px(p.right + 6)}" y="${px(top + lane / 2)}">${escapeHtml(detail)}</text>`;
  });
  return { svg: svg("utilisation", title, p, body), omitted: agents.length - shown.length };
}

function plural(n: number, word: string): string {
  return `${formatNumber(n)} ${word}${n === 1 ? "" : "s"}`;
}

/** One group of bars in a {@link groupedBarChart}: a label and one value per series. */
export interface BarGroup {
  label: string;
  values: number[];
}

/**
 * Bars grouped by category (e.g. one group per load level, one bar per percentile). `log`
 * draws the value axis on a log scale, for figures that span orders of magnitude.
 */
export function groupedBarChart(
  kind: string,
  title: string,
  groups: readonly BarGroup[],
  series: readonly [string, string][],
  options: { yLabel: string; log?: boolean; format?: (v: number) => string },
): string {
  const values = groups.flatMap((g) => g.values).filter((v) => Number.isFinite(v) && v > 0);
  if (groups.length === 0 || values.length === 0) return emptyChart(kind, title, "nothing to compare");
  const p = plot(720, 240, { top: 26 });
  const log = options.log === true;
  const lo = log ? 10 ** Math.floor(Math.log10(Math.min(...values))) : 0;
  const hi = log ? 10 ** Math.ceil(Math.log10(Math.max(...values)) + 1e-9) : niceMax(Math.max(...values));
  const y = log ? ((v: number) => linear(Math.log10(lo), Math.log10(hi), p.bottom, p.top)(Math.log10(Math.max(v, lo)))) : linear(0, hi, p.bottom, p.top);
  const tickValues = log ? Array.from({ length: Math.round(Math.log10(hi / lo)) + 1 }, (_, i) => lo * 10 ** i) : ticks(0, hi, 4);
  let body = yAxis(p, tickValues, y, options.yLabel);
  const slot = (p.right - p.left) / groups.length;
  const bar = Math.min(36, (slot * 0.8) / Math.max(1, series.length));
  const format = options.format ?? formatCompact;
  groups.forEach((g, i) => {
    const x0 = p.left + i * slot + (slot - bar * series.length) / 2;
    g.values.forEach((v, k) => {
      if (!Number.isFinite(v)) return;
      const top = y(Math.max(v, log ? lo : 0));
      const [name, className] = series[k] ?? ["", "s0"];
      body += `<rect class="bar ${escapeHtml(className)}" x="${px(x0 + k * bar)}" y="${px(top)}" width="${px(Math.max(1, bar - 2))}" height="${px(Math.max(0, p.bottom - top))}">`;
      body += `<title>${escapeHtml(`${g.label} — ${name}: ${format(v)}`)}</title></rect>`;
    });
    body += `<text class="tick" x="${px(p.left + (i + 0.5) * slot)}" y="${px(p.bottom + 16)}" text-anchor="middle">${escapeHtml(truncate(g.label, 24))}</text>`;
  });
  body += `<line class="axis" x1="${px(p.left)}" x2="${px(p.right)}" y1="${px(p.bottom)}" y2="${px(p.bottom)}"/>`;
  body += legend(p, series);
  return svg(kind, title, p, body);
}

/**
 * One figure of a sweep across its parameter combinations: the mean as a dot and the 95%
 * confidence interval as an error bar. `labels[i]` names the combination of `estimates[i]`.
 */
export function estimateChart(figure: string, labels: readonly string[], estimates: readonly (Estimate | undefined)[], xLabel?: string): string {
  const kind = "estimates";
  const title = `${figure}: mean and 95% confidence interval per parameter combination`;
  const known = estimates.filter((e): e is Estimate => e !== undefined && Number.isFinite(e.mean));
  if (known.length === 0) return emptyChart(kind, title, `no estimates of ${figure}`);
  const lows = known.map((e) => (Number.isFinite(e.ci95[0]) ? e.ci95[0] : e.mean));
  const highs = known.map((e) => (Number.isFinite(e.ci95[1]) ? e.ci95[1] : e.mean));
  let lo = Math.min(...lows);
  let hi = Math.max(...highs);
  const pad = hi > lo ? (hi - lo) * 0.1 : Math.max(1, Math.abs(hi) * 0.1);
  lo = lo >= 0 && lo - pad < 0 ? 0 : lo - pad;
  hi += pad;
  const p = plot(720, 220, { bottom: 48 });
  const y = linear(lo, hi, p.bottom, p.top);
  let body = yAxis(p, ticks(lo, hi, 4), y, figure);
  const slot = (p.right - p.left) / Math.max(1, estimates.length);
  estimates.forEach((e, i) => {
    const cx = px(p.left + (i + 0.5) * slot);
    body += `<text class="tick" x="${cx}" y="${px(p.bottom + 16)}" text-anchor="middle">${escapeHtml(truncate(labels[i] ?? "", Math.max(6, Math.floor(slot / 6))))}</text>`;
    if (e === undefined || !Number.isFinite(e.mean)) return;
    const [a, b] = e.ci95;
    const tip = `${labels[i] ?? ""} — ${figure}: ${formatFigure(e.mean)} (95% CI ${formatFigure(a)} to ${formatFigure(b)}, n=${e.n})`;
    body += `<g class="estimate"><title>${escapeHtml(tip)}</title>`;
    if (Number.isFinite(a) && Number.isFinite(b)) {
      body += `<line class="whisker" x1="${cx}" x2="${cx}" y1="${px(y(a))}" y2="${px(y(b))}"/>`;
      for (const v of [a, b]) body += `<line class="whisker" x1="${px(Number(cx) - 6)}" x2="${px(Number(cx) + 6)}" y1="${px(y(v))}" y2="${px(y(v))}"/>`;
    }
    body += `<circle class="mean" cx="${cx}" cy="${px(y(e.mean))}" r="4"/></g>`;
  });
  body += `<line class="axis" x1="${px(p.left)}" x2="${px(p.right)}" y1="${px(p.bottom)}" y2="${px(p.bottom)}"/>`;
  if (xLabel !== undefined) body += `<text class="axis-label" x="${px(p.right)}" y="${px(p.height - 4)}" text-anchor="end">${escapeHtml(xLabel)}</text>`;
  return svg(kind, title, p, body);
}
