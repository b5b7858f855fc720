/**
 * Number and text formatting shared by the terminal tables and the HTML report. Locale-free on
 * purpose (no `toLocaleString`), so a report renders to the same bytes on every machine.
 *
 * @module
 */

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `x` with `digits` decimals and thin groups of three (`12,345.6`); `—` when not finite. */
export function formatNumber(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return "—";
  const fixed = Math.abs(x).toFixed(digits);
  const [whole = "0", fraction] = fixed.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const sign = x < 0 && Number(fixed) !== 0 ? "-" : "";
  return `${sign}${grouped}${fraction === undefined ? "" : `.${fraction}`}`;
}

/** Milliseconds with a precision that suits their size: `0.42`, `12.3`, `1,234`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  const a = Math.abs(ms);
  return formatNumber(ms, a < 10 ? 2 : a < 1_000 ? 1 : 0);
}

/** A figure of unknown size with about four significant digits: `0.0123`, `4.560`, `49.80`, `1,020`. */
export function formatFigure(x: number): string {
  if (!Number.isFinite(x)) return "—";
  const a = Math.abs(x);
  if (a === 0) return "0";
  if (a >= 1_000) return formatNumber(x, 0);
  if (a >= 100) return formatNumber(x, 1);
  if (a >= 1) return formatNumber(x, 2);
  return x.toPrecision(3);
}

/** A fraction in [0, 1] as a percentage with one decimal: `99.8%`. */
export function formatPercent(fraction: number, digits = 1): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(digits)}%` : "—";
}

/** A compact axis label: `950`, `1.2k`, `3.4M`, `0.25`. */
export function formatCompact(x: number): string {
  if (!Number.isFinite(x)) return "—";
  const a = Math.abs(x);
  if (a >= 1e9) return `${trim((x / 1e9).toFixed(1))}G`;
  if (a >= 1e6) return `${trim((x / 1e6).toFixed(1))}M`;
  if (a >= 1e4) return `${trim((x / 1e3).toFixed(0))}k`;
  if (a >= 1e3) return `${trim((x / 1e3).toFixed(1))}k`;
  if (a >= 10 || a === 0) return trim(x.toFixed(0));
  if (a >= 1) return trim(x.toFixed(1));
  return trim(x.toPrecision(2));
}

function trim(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** A duration in ms as seconds (`12.35 s`, `3,600 s` from 100 s on) or ms (`850 ms`). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  const a = Math.abs(ms);
  return a >= 100_000 ? `${formatNumber(ms / 1_000, 0)} s` : a >= 1_000 ? `${formatNumber(ms / 1_000, 2)} s` : `${formatNumber(ms, 0)} ms`;
}

/**
 * Text safe to print on a terminal: control characters (escape sequences, carriage returns,
 * bells) become `?`, so a scenario name cannot move the cursor or recolour the screen.
 */
export function plainText(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

/** Cuts `text` to `max` characters, ending in `…` when it was longer. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}
