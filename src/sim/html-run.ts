/**
 * The HTML of one run (a simulation, or one level of a load test) and of a load test: headline,
 * targets, tasks and their reconciliation, latency (histogram and over time), figures per
 * priority and per kind, where the time went, the bottleneck analysis, throughput and queues
 * over time, agents and their timeline, Little's law, and every other figure in plain words.
 *
 * @module
 */
import { groupedBarChart, latencyHistogram, timeSeriesChart, utilisationChart } from "./charts.ts";
import { extraLabel } from "./figure-names.ts";
import { formatDuration, formatMs, formatNumber, formatPercent } from "./format.ts";
import { type Cell, chartFigure, figure, findingsList, nodesFigure, note, table, targetsTable } from "./html-parts.ts";
import type { GroupFigures, LoadReport, RunReport, TimeBreakdown } from "./report.ts";
import { levelColumns } from "./table.ts";
import { agentTimeline, MAX_LANES } from "./timeline.ts";
import { successRate, unaccounted } from "./totals.ts";

/** Figures `extra` holds that have a section of their own (Little's law). */
const SHOWN_ELSEWHERE = new Set(["meanInSystem", "littleL", "arrivalsPerSec"]);

/** The headline figures of a run. */
export function runHeader(r: RunReport): string {
  const t = r.tasks;
  const met = r.targets?.filter((x) => x.passed).length ?? 0;
  const figures = [
    figure("mode", r.mode === "simulation" ? "simulation (virtual time)" : "live load"),
    figure("seed", r.seed === null ? "—" : String(r.seed)),
    figure("duration", formatDuration(r.durationMs), r.warmupMs > 0 ? `after ${formatDuration(r.warmupMs)} warm-up` : undefined),
    ...(r.wallMs !== undefined ? [figure("wall time", formatDuration(r.wallMs))] : []),
    figure("throughput", `${formatNumber(r.throughputPerSec, 1)} /s`),
    figure("success", formatPercent(successRate(t)), `${formatNumber(t.completed)} of ${formatNumber(t.accepted)} accepted`),
    figure("latency p50 / p95 / p99", `${formatMs(r.latencyMs.p50)} / ${formatMs(r.latencyMs.p95)} / ${formatMs(r.latencyMs.p99)} ms`),
    figure("shed / rejected", `${formatNumber(t.shed)} / ${formatNumber(t.rejected)}`),
    ...(r.targets !== undefined && r.targets.length > 0 ? [figure("targets", `${met} of ${r.targets.length} met`, met === r.targets.length ? "all passed" : "a target failed")] : []),
  ];
  return `<dl class="headline">${figures.join("")}</dl>`;
}

/** The body of one run. `h` is the heading level of its parts. */
export function runBody(r: RunReport, h: "h2" | "h3"): string {
  const parts: string[] = [];
  if (r.targets !== undefined && r.targets.length > 0) parts.push(`<${h}>Targets</${h}>${targetsTable(r.targets)}`);
  parts.push(`<${h}>Tasks</${h}>${tasksTable(r)}`);
  parts.push(
    `<${h}>Latency</${h}>${latencyTable(r)}${chartFigure(latencyHistogram(r.histogram, r.latencyMs))}` +
      chartFigure(timeSeriesChart(
        "latency-over-time",
        "Latency over time (tasks completed in each interval; log scale)",
        r.series,
        [
          { key: "latencyP50Ms", label: "p50", className: "c-p50" },
          { key: "latencyP95Ms", label: "p95", className: "c-p95" },
          { key: "latencyP99Ms", label: "p99", className: "c-p99" },
        ],
        r.warmupMs,
        "ms",
        { log: true },
      )),
  );
  const groups = groupTables(r, h);
  if (groups !== "") parts.push(groups);
  if (r.timeBreakdown !== undefined) parts.push(`<${h}>Where the time goes</${h}>${breakdownTable(r)}`);
  if (r.bottleneck !== undefined) parts.push(`<${h}>Bottleneck</${h}>${bottleneckSection(r)}`);
  parts.push(
    `<${h}>Over time</${h}>` +
      chartFigure(
        timeSeriesChart(
          "throughput",
          "Throughput over time (completed per second)",
          r.series,
          [{ key: "throughputPerSec", label: "completed/s", className: "c-throughput", area: true }],
          r.warmupMs,
          "tasks/s",
        ),
      ) +
      chartFigure(timeSeriesChart(
        "queue-depth",
        "Tasks waiting (queued or in retry backoff) and attempts running, over time",
        r.series,
        [
          { key: "queued", label: "waiting", className: "c-queued", area: true },
          { key: "running", label: "running", className: "c-running" },
        ],
        r.warmupMs,
        "tasks",
      )),
  );
  const util = utilisationChart(r.agents);
  parts.push(`<${h}>Agents</${h}>${chartFigure(util.svg)}${util.omitted > 0 ? note(`${formatNumber(util.omitted)} more agents are not drawn (${agentSpread(r)}).`) : ""}${failedAttemptsNote(r)}`);
  const end = Math.max(r.warmupMs + r.durationMs, r.series[r.series.length - 1]?.t ?? 0);
  const tl = agentTimeline(r.agents, r.marks, end, r.warmupMs, r.faultWindows);
  const left: string[] = [];
  if (tl.omittedAgents > 0) left.push(`${formatNumber(tl.omittedAgents)} agents have no lane (at most ${MAX_LANES}; agents with marks first)`);
  if (tl.omittedMarks > 0) left.push(`${formatNumber(tl.omittedMarks)} marks are not drawn`);
  parts.push(`${chartFigure(tl.svg)}${left.length > 0 ? note(`${left.join("; ")}.`) : ""}`);
  if (r.littlesLaw !== undefined) parts.push(`<${h}>Little's law</${h}>${littleSection(r)}`);
  const extra = Object.entries(r.extra).filter(([k]) => !(r.littlesLaw !== undefined && SHOWN_ELSEWHERE.has(k)));
  if (extra.length > 0) {
    const rows = extra.map(([k, v]) => [extraLabel(k), typeof v === "number" ? formatNumber(v, Number.isInteger(v) ? 0 : 3) : typeof v === "boolean" ? (v ? "yes" : "no") : String(v)]);
    parts.push(`<${h}>More figures</${h}>${table(["figure", "value"], rows, [false, true])}`);
  }
  return parts.map((p) => `<section>${p}</section>`).join("\n");
}

function agentSpread(r: RunReport): string {
  const u = r.agents.map((a) => a.utilisation).filter(Number.isFinite);
  if (u.length === 0) return "no utilisation figures";
  const mean = u.reduce((a, b) => a + b, 0) / u.length;
  return `utilisation over all ${formatNumber(r.agents.length)}: min ${formatPercent(Math.min(...u))}, mean ${formatPercent(mean)}, max ${formatPercent(Math.max(...u))}`;
}

/** Why the agents' failed attempts are not the task table's failed tasks. */
function failedAttemptsNote(r: RunReport): string {
  const failed = r.agents.reduce((n, a) => n + a.failed, 0);
  if (failed === 0) return "";
  const fast = r.agents.reduce((n, a) => n + (a.fastFails ?? 0), 0);
  const t = r.tasks;
  const sum = t.retried + t.failed + t.deadLettered;
  const reconcile = sum === failed
    ? `The two agree: ${formatNumber(t.retried)} retried + ${formatNumber(t.failed)} failed + ${formatNumber(t.deadLettered)} dead-lettered = ${formatNumber(failed)}.`
    : `They differ by ${formatNumber(Math.abs(failed - sum))} (${formatNumber(t.retried)} retried + ${formatNumber(t.failed)} failed + ${formatNumber(t.deadLettered)} dead-lettered = ${
      formatNumber(sum)
    }): the agents count attempts made inside the window, the task table the tasks submitted inside it, so attempts of warm-up tasks, attempts after the window, tasks ended without an agent's fault (cancelled, timed out in the queue) and attempts lost with a crashed agent fall on one side only.`;
  return note(
    `The agents' ${formatNumber(failed)} failed attempts count every attempt that failed on an agent inside the window${
      fast > 0 ? ` (${formatNumber(fast)} of them failed fast on an open dependency breaker)` : ""
    }, ` +
      `including attempts whose task was then retried and completed; the task table counts tasks by how they finally ended, and attempts tried again as "retried". ${reconcile}`,
  );
}

function tasksTable(r: RunReport): string {
  const t = r.tasks;
  const lost = unaccounted(t);
  const rows = [
    ["submitted", formatNumber(t.submitted)],
    ["accepted", formatNumber(t.accepted)],
    ["rejected (never accepted)", formatNumber(t.rejected)],
    ["completed", formatNumber(t.completed)],
    ["failed", formatNumber(t.failed)],
    ["dead-lettered (every attempt failed)", formatNumber(t.deadLettered)],
    ["shed (queue overflow)", formatNumber(t.shed)],
    ["cancelled", formatNumber(t.cancelled)],
    ["retried (attempts tried again)", formatNumber(t.retried)],
  ];
  const verdict = lost === 0
    ? `<p class="ok">Every accepted task ended exactly once: accepted = completed + failed + cancelled + dead-lettered + shed.</p>`
    : `<p class="bad">${formatNumber(Math.abs(lost))} accepted tasks ${lost > 0 ? "have no terminal state" : "were counted twice"}.</p>`;
  return table(["tasks submitted in the window", "count"], rows, [false, true]) + verdict;
}

function latencyTable(r: RunReport): string {
  const row = (
    name: string,
    l: RunReport["latencyMs"],
  ): string[] => [name, formatNumber(l.count), formatMs(l.mean), formatMs(l.p50), formatMs(l.p90), formatMs(l.p95), formatMs(l.p99), formatMs(l.max)];
  return table(["completed tasks, ms", "count", "mean", "p50", "p90", "p95", "p99", "max"], [row("submit to completion", r.latencyMs), row("wait before first attempt", r.waitMs)], [
    false,
    true,
    true,
    true,
    true,
    true,
    true,
    true,
  ]) +
    note("Percentiles are read from a histogram and are exact to ±1.6%; mean, count and max are exact.");
}

const GROUP_HEAD = ["accepted", "completed", "success", "tasks/s", "latency p50", "p95", "p99", "wait p50", "p95", "p99"];

function groupRow(name: string, g: GroupFigures): string[] {
  return [
    name,
    formatNumber(g.accepted),
    formatNumber(g.completed),
    formatPercent(g.successRate),
    formatNumber(g.throughputPerSec, 2),
    formatMs(g.latencyMs.p50),
    formatMs(g.latencyMs.p95),
    formatMs(g.latencyMs.p99),
    formatMs(g.waitMs.p50),
    formatMs(g.waitMs.p95),
    formatMs(g.waitMs.p99),
  ];
}

function groupTables(r: RunReport, h: "h2" | "h3"): string {
  const out: string[] = [];
  const numeric = [false, ...GROUP_HEAD.map(() => true)];
  if (r.byPriority !== undefined && Object.keys(r.byPriority).length > 0) {
    out.push(table(["priority", ...GROUP_HEAD], Object.entries(r.byPriority).map(([k, g]) => groupRow(k, g)), numeric, "Per priority (latency and wait in ms, of completed tasks)"));
  }
  if (r.byKind !== undefined && Object.keys(r.byKind).length > 0) {
    out.push(table(["kind", ...GROUP_HEAD], Object.entries(r.byKind).map(([k, g]) => groupRow(k, g)), numeric, "Per kind (latency and wait in ms, of completed tasks)"));
  }
  if (out.length === 0) return "";
  return `<${h}>Per priority and per kind</${h}>${out.join("")}${
    note("Counts cover the tasks submitted in the window; tasks/s the completions inside it. Rejected tasks are counted per kind only: a rejection does not say the task's priority.")
  }`;
}

const PHASES: [keyof TimeBreakdown, string][] = [["waitSlotMs", "waiting for a slot"], ["waitThreadMs", "waiting for a thread"], ["runMs", "running"], ["backoffMs", "retry backoff"], [
  "fastFailMs",
  "fast failures",
]];

function breakdownTable(r: RunReport): string {
  const b = r.timeBreakdown!;
  const row = (name: string, t: TimeBreakdown, mean: number): Cell[] => {
    const total = t.waitSlotMs + t.waitThreadMs + t.runMs + t.backoffMs + t.fastFailMs;
    return [
      name,
      formatNumber(t.count),
      ...PHASES.map(([k]) => ({ text: formatMs(t[k] as number), sub: total > 0 ? formatPercent((t[k] as number) / total, 0) : "—" })),
      formatMs(total),
      formatMs(mean),
    ];
  };
  const rows: Cell[][] = [row("all", b, r.latencyMs.mean)];
  const kinds = Object.entries(r.byKind ?? {}).filter(([, g]) => g.timeBreakdown.count > 0);
  if (kinds.length > 1) { for (const [k, g] of kinds) rows.push(row(`kind ${k}`, g.timeBreakdown, g.latencyMs.mean)); }
  const sim = r.mode === "simulation" ? " A simulation's attempts start when placed, so no time waits for a thread." : "";
  return table(["completed tasks, mean ms", "tasks", ...PHASES.map(([, w]) => w), "sum", "mean latency"], rows, [false, true, true, true, true, true, true, true, true]) +
    note(
      `Each completed task's time from submit to completion, split by phase; the parts add up to its latency. Waiting for a slot includes the wait after each retry's backoff; running includes attempts that failed before the one that completed.${sim}`,
    );
}

function bottleneckSection(r: RunReport): string {
  const b = r.bottleneck!;
  let out = findingsList(b.findings);
  if (b.pools.length > 0) {
    const rows = b.pools.map((p) => [
      p.kind,
      Object.entries(p.requires).map(([k, v]) => `${k} ≥ ${v}`).join(", ") || "anything",
      formatNumber(p.agents),
      formatNumber(p.slots),
      formatPercent(p.utilisation),
      formatNumber(p.offeredSlots, 1),
      formatMs(p.waitMeanMs),
      formatMs(p.waitP95Ms),
      formatPercent(p.shareOfWaiting, 0),
    ]);
    out += table(["kind", "needs", "agents that can serve it", "their slots", "busy", "slots its work fills", "slot wait, mean ms", "first wait p95 ms", "share of all waiting"], rows, [
      false,
      false,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
    ], "Agents that can serve each kind (pools overlap where agents can serve several)");
  }
  return out;
}

function littleSection(r: RunReport): string {
  const l = r.littlesLaw!;
  const rows = [
    ["L: tasks in the hive, time average over the window", formatNumber(l.meanInSystem, 3)],
    ["λ: tasks accepted per second in the window", formatNumber(l.arrivalsPerSec, 3)],
    ["W: mean time in the hive of those tasks, every outcome (ms)", formatMs(l.meanTimeInSystemMs)],
    ["λ·W", formatNumber(l.lambdaW, 3)],
    ["+ tasks accepted in the warm-up, still in the hive during the window", formatNumber(l.carriedIn, 3)],
    ["− tasks accepted in the window, still in the hive after it", formatNumber(l.spilledOut, 3)],
    ["= λ·W + carried in − spilled out", formatNumber(l.lambdaW + l.carriedIn - l.spilledOut, 3)],
  ];
  const gap = l.meanInSystem - (l.lambdaW + l.carriedIn - l.spilledOut);
  const completedOnly = r.latencyMs.mean > 0 && l.meanTimeInSystemMs > r.latencyMs.mean * 1.01
    ? ` W covers every task, not only the completed ones: completed tasks averaged ${formatMs(r.latencyMs.mean)} ms, so λ × that (${
      formatNumber((l.arrivalsPerSec * r.latencyMs.mean) / 1_000, 2)
    }) would leave out the time failed and dead-lettered tasks spent in the hive.`
    : "";
  const unfinished = l.unfinished > 0 ? ` ${formatNumber(l.unfinished)} tasks had not ended when the report was made; their time counts up to then.` : "";
  const verdict = Math.abs(gap) <= Math.max(0.01, Math.abs(l.meanInSystem) * 0.001)
    ? `<p class="ok">L = λ·W + carried in − spilled out: the figures reconcile.${completedOnly}${unfinished}</p>`
    : `<p class="bad">L and λ·W + carried in − spilled out differ by ${formatNumber(gap, 3)}.${unfinished}</p>`;
  return table(["Little's law over the window", "value"], rows, [false, true]) + verdict;
}

/** The body of a load test: headline, levels compared, then one run section per level. */
export function loadBody(r: LoadReport): string {
  const levels = r.levels;
  const total = levels.reduce(
    (acc, l) => ({
      accepted: acc.accepted + l.tasks.accepted,
      completed: acc.completed + l.tasks.completed,
      shed: acc.shed + l.tasks.shed,
      rejected: acc.rejected + l.tasks.rejected,
      lost: acc.lost + unaccounted(l.tasks),
    }),
    { accepted: 0, completed: 0, shed: 0, rejected: 0, lost: 0 },
  );
  const failedTargets = levels.filter((l) => l.targets?.some((t) => !t.passed) === true).length;
  const headline = [
    figure("levels", levels.length === 0 ? "none" : levels.map((l) => formatNumber(l.inFlight)).join(" / "), "tasks in flight"),
    figure("tasks", formatNumber(total.accepted), "accepted over all levels"),
    ...nodesFigure(r.nodes),
    figure("success", formatPercent(total.accepted > 0 ? total.completed / total.accepted : 1), `${formatNumber(total.completed)} completed`),
    figure("lost", formatNumber(total.lost), total.lost === 0 ? "every accepted task ended once" : "accepted tasks with no end"),
    figure("shed / rejected", `${formatNumber(total.shed)} / ${formatNumber(total.rejected)}`),
    ...(r.targets !== undefined && r.targets.length > 0
      ? [figure("targets", failedTargets === 0 ? "met at every level" : `failed at ${failedTargets} of ${levels.length} levels`, r.targets.join(", "))]
      : []),
  ];
  const parts = [`<dl class="headline">${headline.join("")}</dl>`];
  if (levels.length === 0) return parts[0] + note("This load test has no levels.");
  const { head, rows } = levelColumns(r);
  parts.push(`<section><h2>Levels compared</h2>${table(head, rows, head.map(() => true))}`);
  const groups = (f: (l: LoadReport["levels"][number]) => number[]) => levels.map((l) => ({ label: `${formatNumber(l.inFlight)} in flight`, values: f(l) }));
  parts.push(chartFigure(groupedBarChart("level-throughput", "Throughput per level (completed per second)", groups((l) => [l.throughputPerSec]), [["tasks/s", "s0"]], { yLabel: "tasks/s" })));
  parts.push(
    `${
      chartFigure(
        groupedBarChart(
          "level-latency",
          "Latency percentiles per level (log scale)",
          groups((l) => [l.latencyMs.p50, l.latencyMs.p95, l.latencyMs.p99]),
          [["p50", "s0"], ["p95", "s1"], ["p99", "s2"]],
          { yLabel: "ms", log: true, format: formatMs },
        ),
      )
    }</section>`,
  );
  for (const l of levels) {
    parts.push(`<section class="level" id="level-${l.inFlight}"><h2>${formatNumber(l.inFlight)} tasks in flight</h2>${runHeader(l)}</section>`);
    parts.push(runBody(l, "h3"));
  }
  return parts.join("\n");
}
