/**
 * The figures of a run report that a sweep aggregates: one flat record of numbers per replica.
 *
 * @module
 */
import type { RunReport } from "./report.ts";

/** Figure name → value, in a fixed order. */
export type Figures = Record<string, number>;

/** The figures a sweep reports for each replica of a run. */
export function figuresOf(report: RunReport): Figures {
  const t = report.tasks;
  const agents = report.agents;
  let utilisation = 0;
  let restarts = 0;
  let breakerTrips = 0;
  for (const a of agents) {
    utilisation += a.utilisation;
    restarts += a.restarts;
    breakerTrips += a.breakerTrips;
  }
  return {
    throughputPerSec: report.throughputPerSec,
    latencyMeanMs: report.latencyMs.mean,
    latencyP50Ms: report.latencyMs.p50,
    latencyP95Ms: report.latencyMs.p95,
    latencyP99Ms: report.latencyMs.p99,
    waitMeanMs: report.waitMs.mean,
    waitP95Ms: report.waitMs.p95,
    completed: t.completed,
    failed: t.failed,
    deadLettered: t.deadLettered,
    shed: t.shed,
    rejected: t.rejected,
    successRate: t.accepted === 0 ? 0 : t.completed / t.accepted,
    utilisation: agents.length === 0 ? 0 : utilisation / agents.length,
    restarts,
    breakerTrips,
  };
}
