/**
 * Aligned plain-text columns for the terminal tables, and the check every formatter makes
 * before it reads a report.
 *
 * @module
 */
import { describeValue, InvalidOptionsError } from "../core/errors.ts";

/** Refuses what is not the report a formatter reads, before it reads a field of it. */
export function checkReport(report: unknown, what: string, fits: (r: { mode?: unknown; levels?: unknown; rows?: unknown }) => boolean): void {
  if (report === null || typeof report !== "object" || !fits(report as { mode?: unknown })) {
    throw new InvalidOptionsError(`Cannot format report: "report" must be a ${what}, received ${describeValue(report)}`);
  }
}

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
