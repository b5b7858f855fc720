/**
 * What a scenario must leave possible to be worth running, checked when it is parsed: every task
 * kind can be placed on some agent, and the run ends within a few hours of a 2-core machine.
 *
 * The bounds are about work, not about the schema: a simulation handles at best about 14,000
 * tasks a second on a calm 2-core machine (the README's figures; a busy one gives a few
 * thousand), so {@link MAX_EXPECTED_TASKS} is two hours or more of it; {@link MAX_SIMULATED_MS}
 * keeps virtual time (and the timers, samples and fault processes that scale with it) to a year.
 *
 * @module
 */
import { Cron } from "croner";
import { isEligible } from "../../actors/allocation.ts";
import { meanOf } from "./distributions.ts";
import type { Scenario } from "./scenario-types.ts";

/** The most virtual time a run may span, warm-up included, ms: 365 days. */
export const MAX_SIMULATED_MS = 365 * 24 * 3_600_000;

/** The most tasks a run may be expected to see arrive, warm-up included: two hours or more of simulation. */
export const MAX_EXPECTED_TASKS = 100_000_000;

/** A problem found, as a path into the scenario and the sentence that follows it. */
export interface LimitIssue {
  path: (string | number)[];
  message: string;
}

/**
 * The kinds no agent can run: an agent is eligible when it has every required capability at or
 * above the level asked (the allocator's own rule), and a kind that no group meets would only
 * ever fail.
 */
export function unmetRequirements(s: Scenario): LimitIssue[] {
  const issues: LimitIssue[] = [];
  s.workload.kinds.forEach((k, i) => {
    if (Object.keys(k.requires).length === 0 || s.agents.some((g) => isEligible(g.capabilities, k.requires))) return;
    const asked = Object.entries(k.requires).map(([name, level]) => `${name} >= ${level}`).join(" and ");
    issues.push({ path: ["workload", "kinds", i, "requires"], message: `must be met by some agent group (kind ${JSON.stringify(k.name)}), and none has ${asked}` });
  });
  return issues;
}

/** Tasks arriving per ms in the long run (for a closed loop, what its agents can turn over). */
export function arrivalsPerMs(s: Scenario): number {
  const a = s.workload.arrivals;
  if ("poisson" in a) return a.poisson.ratePerSec / 1_000;
  if ("bursty" in a) {
    const b = a.bursty;
    return (b.ratePerSec * b.onMs + b.offRatePerSec * b.offMs) / (b.onMs + b.offMs) / 1_000;
  }
  // Closed loop: each of inFlight tasks is replaced when it ends (after a think time), and no
  // more than the agents' slots run at once. An attempt lasts at most its timeout.
  let weight = 0;
  let weighted = 0;
  for (const k of s.workload.kinds) {
    weight += k.weight;
    weighted += k.weight * Math.min(meanOf(k.duration), k.timeoutMs ?? s.policies.timeoutMs);
  }
  const taskMs = weight > 0 ? weighted / weight : 0;
  const thinkMs = a.closed.thinkMs === undefined ? 0 : meanOf(a.closed.thinkMs);
  const slots = s.agents.reduce((n, g) => n + g.count * g.concurrency, 0);
  return Math.min(a.closed.inFlight / (taskMs + thinkMs), slots / taskMs);
}

/** The run's bounds: virtual time within {@link MAX_SIMULATED_MS}, expected tasks within {@link MAX_EXPECTED_TASKS}. */
export function runTooLong(s: Scenario): LimitIssue[] {
  const { durationMs, tasks, warmupMs } = s.run;
  const spanMs = warmupMs + (durationMs ?? 0);
  const field = durationMs !== undefined ? "durationMs" : "warmupMs";
  if (spanMs > MAX_SIMULATED_MS) {
    return [{ path: ["run", field], message: `must keep the simulated time (warmupMs + durationMs) within a year (${approximately(MAX_SIMULATED_MS)} ms)` }];
  }
  // A run of `tasks` lasts about as long as they take to arrive: schedules run that long too.
  const rate = arrivalsPerMs(s);
  const scheduledMs = tasks === undefined ? spanMs : warmupMs + (rate > 0 ? tasks / rate : 0);
  const expected = (tasks ?? 0) + (spanMs > 0 ? rate * spanMs : 0) + scheduledRuns(s, scheduledMs);
  if (expected <= MAX_EXPECTED_TASKS) return [];
  const why = !Number.isFinite(expected)
    ? "the closed loop's tasks and think time take no time, so tasks arrive without end"
    : `${tasks !== undefined ? "that many and those arriving in the warm-up" : "the arrivals over warmupMs + durationMs"} make about ${approximately(expected)}`;
  return [{
    path: ["run", tasks !== undefined ? "tasks" : field],
    message: `must keep the expected tasks within ${approximately(MAX_EXPECTED_TASKS)} (two hours or more of simulation on a 2-core machine); ${why}`,
  }];
}

/** Runs of a cron pattern read to estimate its pace (croner takes about half a millisecond a run in a time zone). */
const SAMPLED_RUNS = 32;

/** Runs the scenario's schedules make over `spanMs` from the run's start (a cron pattern's from the pace of its first {@link SAMPLED_RUNS}). */
export function scheduledRuns(s: Scenario, spanMs: number): number {
  let runs = 0;
  const start = s.run.startAt;
  for (const schedule of s.workload.schedules) {
    if ("everyMs" in schedule) {
      runs += Math.floor(spanMs / schedule.everyMs);
      continue;
    }
    let sample: Date[];
    try {
      sample = new Cron(schedule.cron, { paused: true, timezone: schedule.timezone }).nextRuns(SAMPLED_RUNS, new Date(start));
    } catch {
      continue; // a bad pattern is reported on its own field
    }
    const last = sample.at(-1)?.getTime();
    if (last === undefined) continue;
    if (last - start > spanMs || sample.length < SAMPLED_RUNS) runs += sample.filter((d) => d.getTime() - start <= spanMs).length;
    else runs += (sample.length * spanMs) / Math.max(1, last - start);
  }
  return runs;
}

function approximately(n: number): string {
  return n < 1e12 ? Math.round(n).toLocaleString("en-US") : n.toExponential(1);
}
