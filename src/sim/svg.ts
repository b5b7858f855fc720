/**
 * SVG building blocks for the HTML report's charts: scales, tick steps, axes, the chart frame
 * and an empty-chart placeholder. Strings in, strings out; every coordinate is rounded to two
 * decimals so the same report gives the same bytes.
 *
 * @module
 */
import { escapeHtml, formatCompact, formatNumber } from "./format.ts";

/** A coordinate with at most two decimals (fewer bytes, identical output everywhere). */
export function px(x: number): string {
  if (!Number.isFinite(x)) return "0";
  const r = Math.round(x * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

/** A linear map from `[d0, d1]` onto `[r0, r1]`; a zero-width domain maps to `r0`. */
export function linear(d0: number, d1: number, r0: number, r1: number): (x: number) => number {
  const span = d1 - d0;
  if (!(span > 0) || !Number.isFinite(span)) return () => r0;
  return (x) => r0 + ((x - d0) / span) * (r1 - r0);
}

/** Tick values from 0 (or `min`) to at least `max`, on a 1-2-5 step, about `count` of them. */
export function ticks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max <= min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  const step = (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
  const out: number[] = [];
  const first = Math.ceil(min / step) * step;
  for (let v = first, i = 0; v <= max + step * 1e-9 && i < 50; i++, v = first + i * step) {
    out.push(Math.round(v / step) * step);
  }
  return out;
}

/**
 * A label format that tells every tick of `values` apart: compact (`950`, `1.2k`) where that is
 * enough, else with as many decimals as the step between ticks needs (`0.795`, `0.8`, `0.805`
 * reads `0.795, 0.800, 0.805`, never `0.8, 0.8, 0.81`). `fraction` values read as percentages.
 */
export function tickFormat(values: readonly number[], unit?: "fraction"): (v: number) => string {
  let step = Infinity;
  for (let i = 1; i < values.length; i++) step = Math.min(step, Math.abs(values[i]! - values[i - 1]!));
  if (unit === "fraction") {
    const digits = Number.isFinite(step) && step > 0 ? Math.min(4, Math.max(0, Math.ceil(-Math.log10(step * 100) - 1e-9))) : 0;
    return (v) => `${(v * 100).toFixed(digits)}%`;
  }
  const compact = values.map(formatCompact);
  if (new Set(compact).size === compact.length) return formatCompact;
  const digits = Number.isFinite(step) && step > 0 ? Math.min(6, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9))) : 0;
  return (v) => formatNumber(v, digits);
}

/** The smallest tick-aligned maximum at or above `max` (so bars do not touch the frame). */
export function niceMax(max: number, count = 5): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const t = ticks(0, max, count);
  const last = t[t.length - 1] ?? max;
  if (last >= max) return last;
  const step = t.length > 1 ? t[1]! - t[0]! : max;
  return last + step;
}

/** The drawing area of a chart inside its frame. */
export interface Plot {
  width: number;
  height: number;
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** A plot of `width` × `height` with margins for axis labels. */
export function plot(width: number, height: number, margin: { left?: number; right?: number; top?: number; bottom?: number } = {}): Plot {
  const left = margin.left ?? 56;
  const right = width - (margin.right ?? 16);
  const top = margin.top ?? 16;
  const bottom = height - (margin.bottom ?? 32);
  return { width, height, left, top, right, bottom };
}

/**
 * Wraps chart content in an `<svg>` that scales to its container. `kind` names the chart for
 * the page's CSS and for anyone reading the file (`data-chart`).
 */
export function svg(kind: string, title: string, p: { width: number; height: number }, body: string): string {
  return (
    `<svg class="chart" data-chart="${escapeHtml(kind)}" role="img" viewBox="0 0 ${p.width} ${p.height}" ` +
    `width="${p.width}" height="${p.height}" xmlns="http://www.w3.org/2000/svg">` +
    `<title>${escapeHtml(title)}</title>${body}</svg>`
  );
}

/** A horizontal value axis on the left: grid lines and labels at `values` (labels that tell each tick apart, unless `format` is given). */
export function yAxis(p: Plot, values: readonly number[], y: (v: number) => number, label?: string, format: (v: number) => string = tickFormat(values)): string {
  let out = "";
  for (const v of values) {
    const yy = px(y(v));
    out += `<line class="grid" x1="${px(p.left)}" x2="${px(p.right)}" y1="${yy}" y2="${yy}"/>`;
    out += `<text class="tick y" x="${px(p.left - 6)}" y="${yy}" text-anchor="end" dominant-baseline="middle">${escapeHtml(format(v))}</text>`;
  }
  if (label !== undefined) {
    out += `<text class="axis-label" x="${px(p.left)}" y="${px(p.top - 4)}" text-anchor="start">${escapeHtml(label)}</text>`;
  }
  return out;
}

/** A bottom axis line with labels at `values`. */
export function xAxis(p: Plot, values: readonly number[], x: (v: number) => number, label?: string, format: (v: number) => string = tickFormat(values)): string {
  let out = `<line class="axis" x1="${px(p.left)}" x2="${px(p.right)}" y1="${px(p.bottom)}" y2="${px(p.bottom)}"/>`;
  for (const v of values) {
    const xx = px(x(v));
    out += `<line class="axis" x1="${xx}" x2="${xx}" y1="${px(p.bottom)}" y2="${px(p.bottom + 4)}"/>`;
    out += `<text class="tick x" x="${xx}" y="${px(p.bottom + 16)}" text-anchor="middle">${escapeHtml(format(v))}</text>`;
  }
  if (label !== undefined) {
    out += `<text class="axis-label" x="${px(p.right)}" y="${px(p.height - 2)}" text-anchor="end">${escapeHtml(label)}</text>`;
  }
  return out;
}

/** A chart with nothing to draw: its frame and a sentence saying why. */
export function emptyChart(kind: string, title: string, message: string, width = 720, height = 120): string {
  return svg(
    kind,
    title,
    { width, height },
    `<rect class="frame" x="0.5" y="0.5" width="${width - 1}" height="${height - 1}"/>` +
      `<text class="empty" x="${width / 2}" y="${height / 2}" text-anchor="middle" dominant-baseline="middle">${escapeHtml(message)}</text>`,
  );
}
