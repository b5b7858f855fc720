/**
 * Terminal summaries of reports: plain text in aligned columns, no colours, what `apiary load`,
 * `simulate` and `sweep` print when not asked for `--json`. Names from scenarios are printed
 * with their control characters replaced, so a report cannot drive the terminal.
 *
 * @module
 */
import { alignColumns, checkReport } from "./columns.ts";
import { formatDuration, formatMs, formatNumber, formatPercent, plainText, truncate } from "./format.ts";
import type { Bottleneck, GroupFigures, LoadReport, RunReport, TaskTotals } from "./report.ts";
import { targetLines } from "./targets.ts";
import { successRate, unaccounted } from "./totals.ts";

export { alignColumns } from "./columns.ts";
export { formatPlanReport, formatSweepReport } from "./table-sweep.ts";

/** Most agents listed one per row; the rest are summed up in one line. */
const MAX_AGENT_ROWS = 20;

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
  lines.push(...groupLines(r));
  const b = r.timeBreakdown;
  if (b !== undefined && b.count > 0) {
    lines.push(
      `time         per completed task, mean: waiting for a slot ${formatMs(b.waitSlotMs)} ms + for a thread ${formatMs(b.waitThreadMs)} ms + running ${formatMs(b.runMs)} ms + retry backoff ${
        formatMs(b.backoffMs)
      } ms + fast failures ${formatMs(b.fastFailMs)} ms = ${formatMs(b.waitSlotMs + b.waitThreadMs + b.runMs + b.backoffMs + b.fastFailMs)} ms (mean latency ${formatMs(r.latencyMs.mean)})`,
    );
  }
  if (r.agents.length > 0) {
    const shown = r.agents.slice(0, MAX_AGENT_ROWS);
    const fast = r.agents.some((a) => (a.fastFails ?? 0) > 0);
    const rows = shown.map((
      a,
    ) => [
      plainText(truncate(a.id, 24)),
      formatNumber(a.completed),
      formatNumber(a.failed),
      ...(fast ? [formatNumber(a.fastFails ?? 0)] : []),
      formatPercent(a.utilisation),
      formatNumber(a.restarts),
      formatNumber(a.breakerTrips),
    ]);
    const head = ["agent", "completed", "failed attempts", ...(fast ? ["of them fast"] : []), "utilisation", "restarts", "breaker trips"];
    lines.push("", alignColumns(head, rows, head.map((_, i) => i > 0)));
    const rest = r.agents.slice(MAX_AGENT_ROWS);
    if (rest.length > 0) {
      const sum = (f: (a: RunReport["agents"][number]) => number): string => formatNumber(rest.reduce((n, a) => n + f(a), 0));
      lines.push(
        `… and ${formatNumber(rest.length)} more agents: completed ${sum((a) => a.completed)}, failed attempts ${sum((a) => a.failed)}, restarts ${sum((a) => a.restarts)}, breaker trips ${
          sum((a) => a.breakerTrips)
        }`,
      );
    }
    const failed = r.agents.reduce((n, a) => n + a.failed, 0);
    if (failed > 0) {
      const t = r.tasks;
      const sum = t.retried + t.failed + t.deadLettered;
      const how = sum === failed ? "=" : `≠ (attempts inside the window, tasks submitted inside it: ${formatNumber(Math.abs(failed - sum))} fall on one side only)`;
      lines.push(
        `(attempts, not tasks: an agent's failed attempts include those retried and then completed; ${formatNumber(failed)} failed attempts ${how} ${formatNumber(t.retried)} retried + ${
          formatNumber(t.failed)
        } failed + ${formatNumber(t.deadLettered)} dead-lettered tasks)`,
      );
    }
  }
  if (r.bottleneck !== undefined) lines.push("", ...bottleneckLines(r.bottleneck));
  if (r.targets !== undefined && r.targets.length > 0) lines.push("", ...targetLines(r.targets).map(plainText));
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
  if (r.nodes !== undefined) {
    const nodes = r.nodes.map((n) => `${n.id} (${n.threads} ${n.threads === 1 ? "thread" : "threads"}; agents ${n.agents.join(", ")})`).join("; ");
    lines.splice(1, 0, `on ${r.nodes.length} worker ${r.nodes.length === 1 ? "node" : "nodes"} over Redis: ${plainText(nodes)}`);
  }
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
    for (const l of r.levels) {
      const first = l.bottleneck?.saturatesFirst;
      const b = l.timeBreakdown;
      const time = b !== undefined && b.count > 0 ? `waits ${formatMs(b.waitSlotMs)} ms for a slot and ${formatMs(b.waitThreadMs)} ms for a thread, runs ${formatMs(b.runMs)} ms` : "";
      if (first !== undefined && first !== null) lines.push(`${formatNumber(l.inFlight).padStart(5)} in flight  ${time}${time === "" ? "" : "; "}${plainText(first.statement)}`);
      for (const t of targetLines(l.targets ?? [])) lines.push(`${formatNumber(l.inFlight).padStart(5)} in flight  ${plainText(t)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Per priority and per kind, when there is more than one of either: one row each. */
function groupLines(r: RunReport): string[] {
  const out: string[] = [];
  const head = ["accepted", "completed", "success", "tasks/s", "p50 ms", "p95 ms", "p99 ms", "wait p95 ms"];
  const row = (
    name: string,
    g: GroupFigures,
  ): string[] => [
    plainText(truncate(name, 24)),
    formatNumber(g.accepted),
    formatNumber(g.completed),
    formatPercent(g.successRate),
    formatNumber(g.throughputPerSec, 2),
    formatMs(g.latencyMs.p50),
    formatMs(g.latencyMs.p95),
    formatMs(g.latencyMs.p99),
    formatMs(g.waitMs.p95),
  ];
  for (const [by, groups] of [["priority", r.byPriority], ["kind", r.byKind]] as const) {
    const entries = Object.entries(groups ?? {});
    if (entries.length < 2) continue;
    out.push("", alignColumns([by, ...head], entries.map(([k, g]) => row(k, g)), [false, ...head.map(() => true)]));
  }
  return out;
}

/** The bottleneck findings, one paragraph each, tagged with how each was obtained. */
export function bottleneckLines(b: Bottleneck): string[] {
  const tag: Record<string, string> = { measured: "measured", "erlang-c": "Erlang C", "closed-loop": "closed-loop bound", "re-simulation": "re-simulated" };
  return ["bottleneck", ...b.findings.map((f) => `  - [${tag[f.method] ?? f.method}] ${plainText(f.text)}`)];
}
