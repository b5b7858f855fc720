/**
 * A scenario (the schema `apiary simulate` reads) as a live load workload: its agents, its
 * policies and its task mix run for real — each task of a kind becomes a `burn` of CPU for the
 * duration drawn from the kind's distribution, with the kind's capabilities, priorities,
 * timeout and retries. What only a simulation can do (injected faults, dependency outages, the
 * result cache, arrival processes: the load test's arrivals are its closed loop) is left out,
 * and {@link scenarioWorkload} says which of those the scenario used.
 *
 * @module
 */
import type { HiveOptions, TaskOptions } from "../hive/hive.ts";
import { createRandom } from "../core/random.ts";
import { createSampler, meanOf, type Sampler } from "../sim/distributions.ts";
import { agentIds, type Scenario } from "../sim/scenario.ts";
import { createTaskMaker } from "../sim/workload.ts";
import type { LoadWorkload } from "./load-workload.ts";

/** What {@link scenarioWorkload} returns. */
export interface ScenarioWorkload {
  workload: LoadWorkload;
  /** Mean CPU time of a task, ms (weights × the kinds' mean durations). */
  meanTaskMs: number;
  /** Parts of the scenario a live load test does not apply, one sentence each. */
  leftOut: string[];
}

// Separate random streams for the task mix and the durations: changing one kind's duration
// does not reshuffle which kinds are drawn.
const DURATION_STREAM = 0x5bd1e995;

/** Maps a validated scenario to a load workload. */
export function scenarioWorkload(s: Scenario): ScenarioWorkload {
  const p = s.policies;
  // Every kind runs as a `burn`: the report files each task under the scenario kind it came from.
  const kindOf = new WeakMap<TaskOptions, string>();
  const workload: LoadWorkload = {
    name: s.name,
    agents: s.agents.flatMap((g) => agentIds(g).map((id) => ({ id, capabilities: g.capabilities, concurrency: g.concurrency, ...(g.restart !== undefined ? { restart: g.restart } : {}) }))),
    hive: {
      defaults: { timeoutMs: p.timeoutMs, retries: p.retries },
      ...(p.queue !== undefined ? { queue: p.queue } : {}),
      ...(p.retry !== undefined ? { retry: p.retry } : {}),
      ...(p.supervision !== undefined ? { supervision: p.supervision } : {}),
      // Parsed by the same schema the hive applies again; zod's output type only widens the optionals.
      ...(p.breaker !== undefined ? { breaker: p.breaker as NonNullable<HiveOptions["breaker"]> } : {}),
      ...(p.allocation !== undefined ? { allocation: p.allocation } : {}),
    },
    next(seed) {
      const make = createTaskMaker(s, createRandom(seed));
      const durations = createRandom((seed ^ DURATION_STREAM) >>> 0);
      const samplers = new Map<string, Sampler>(s.workload.kinds.map((k) => [k.name, createSampler(k.duration, durations)]));
      return () => {
        const t = make();
        const ms = Math.max(0, Math.round(samplers.get(t.kind)!() * 1_000) / 1_000);
        const task: TaskOptions = { kind: "burn", input: { ms }, priority: t.priority! };
        if (t.requires !== undefined) task.requires = t.requires;
        if (t.timeoutMs !== undefined) task.timeoutMs = t.timeoutMs;
        if (t.retries !== undefined) task.retries = t.retries;
        kindOf.set(task, t.kind);
        return task;
      };
    },
    kinds: s.workload.kinds.map((k) => ({ name: k.name, requires: k.requires })),
    kindOf: (task) => kindOf.get(task),
  };
  let weight = 0;
  let weighted = 0;
  for (const k of s.workload.kinds) {
    weight += k.weight;
    weighted += k.weight * meanOf(k.duration);
  }
  const f = s.faults;
  const leftOut: string[] = [];
  const faults = [
    f.taskFailureProbability > 0 ? "taskFailureProbability" : "",
    f.workerDeathProbability > 0 ? "workerDeathProbability" : "",
    f.agentCrashesPerHour > 0 ? "agentCrashesPerHour" : "",
    f.latencySpikes !== undefined ? "latencySpikes" : "",
    f.outages.length > 0 ? "outages" : "",
    s.workload.kinds.some((k) => (k.failureProbability ?? 0) > 0) ? "kinds' failureProbability" : "",
  ].filter((x) => x !== "");
  if (faults.length > 0) leftOut.push(`injected faults (${faults.join(", ")}): a live run has only the failures that really happen`);
  if (s.dependencies.length > 0 || s.workload.kinds.some((k) => k.dependsOn.length > 0)) leftOut.push("dependencies: the burn tasks call none");
  if (s.workload.kinds.some((k) => k.cache !== undefined) || p.cache !== undefined) leftOut.push("the result cache: every burn runs");
  if (p.limits !== undefined) leftOut.push(`the dispatch limits (policies.limits on ${Object.keys(p.limits).join(", ")}): every kind runs as burn, and the load test measures what the agents can do`);
  if (s.workload.schedules.length > 0) leftOut.push("the schedules: the load test keeps its own tasks in flight");
  leftOut.push(`the arrivals (${Object.keys(s.workload.arrivals)[0]}) and the run length: the load test keeps each level's tasks in flight for --tasks-per-level or --duration-ms`);
  return { workload, meanTaskMs: weight > 0 ? weighted / weight : 0, leftOut };
}
