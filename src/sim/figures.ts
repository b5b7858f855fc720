/**
 * The figures of a run report as one flat record of numbers, named by their path in the report
 * (`waitMs.p95`, `byKind.ask.latencyMs.p99`): what a sweep aggregates per replica and what a
 * target names. Labels and units live in `figure-names.ts`.
 *
 * @module
 */
import { GROUP_FIGURES, RUN_FIGURES } from "./figure-names.ts";
import type { RunReport } from "./report.ts";
import { successRate } from "./totals.ts";

/** Figure path → value, in a fixed order. */
export type Figures = Record<string, number>;

/** The value at a dotted `path` of `object`, when it is a finite number. */
function at(object: unknown, path: string): number | undefined {
  let node: unknown = object;
  for (const key of path.split(".")) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === "number" && Number.isFinite(node) ? node : undefined;
}

/** The figures of one run: those of {@link RUN_FIGURES}, then each priority's and each kind's. */
export function figuresOf(report: RunReport): Figures {
  const agents = report.agents;
  let utilisation = 0;
  let restarts = 0;
  let breakerTrips = 0;
  for (const a of agents) {
    utilisation += a.utilisation;
    restarts += a.restarts;
    breakerTrips += a.breakerTrips;
  }
  const computed: Figures = {
    successRate: report.successRate ?? successRate(report.tasks),
    utilisation: agents.length === 0 ? 0 : utilisation / agents.length,
    restarts,
    breakerTrips,
  };
  const out: Figures = {};
  for (const name of RUN_FIGURES) {
    const v = computed[name] ?? at(report, name);
    if (v !== undefined) out[name] = v;
  }
  for (const [by, groups] of [["byPriority", report.byPriority], ["byKind", report.byKind]] as const) {
    for (const [name, g] of Object.entries(groups ?? {})) {
      for (const f of GROUP_FIGURES) {
        const v = at(g, f);
        if (v !== undefined) out[`${by}.${name}.${f}`] = v;
      }
    }
  }
  return out;
}

/** The value of figure `path` in `report`: a figure of {@link figuresOf}, else any number at that path. */
export function figureValue(report: RunReport, path: string): number | undefined {
  return figuresOf(report)[path] ?? at(report, path);
}
