import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type ApiaryError, parseScenario } from "../src/index.ts";
import { agentIds } from "../src/sim/scenario.ts";

/** Scenarios here are hand-built JSON, bent into wrong shapes on purpose. */
// deno-lint-ignore no-explicit-any
type Loose = any;

/** A valid scenario; `change` edits a copy. */
function scenario(change: (s: Record<string, Loose>) => void = () => {}): unknown {
  const s: Record<string, Loose> = {
    name: "unit",
    agents: [{ name: "a", count: 2, capabilities: { sim: 0.8 }, concurrency: 2 }],
    workload: { kinds: [{ name: "job", duration: { constant: 100 } }], arrivals: { poisson: { ratePerSec: 5 } } },
    run: { durationMs: 60_000 },
  };
  change(s);
  return s;
}

function failure(input: unknown): ApiaryError {
  try {
    parseScenario(input);
  } catch (error) {
    return error as ApiaryError;
  }
  throw new Error("expected parseScenario to throw");
}

describe("parseScenario", () => {
  it("fills in the defaults of every optional part", () => {
    const s = parseScenario(scenario());
    expect(s.workload.priorities).toEqual({ normal: 1 });
    expect(s.workload.kinds[0]).toMatchObject({ weight: 1, requires: {}, dependsOn: [] });
    expect(s.faults).toEqual({ taskFailureProbability: 0, workerDeathProbability: 0, agentCrashesPerHour: 0, outages: [] });
    expect(s.policies).toMatchObject({ retries: 0, timeoutMs: 30_000, queue: { maxQueued: 100_000, overflow: "reject" }, supervision: { strategy: "one-for-one" } });
    expect(s.run).toEqual({ durationMs: 60_000, warmupMs: 0, resolutionMs: 1, startAt: Date.UTC(2026, 0, 1) });
    expect(s.workload.schedules).toEqual([]);
    expect(s.dependencies).toEqual([]);
  });

  it("expands agent groups into ids NAME-1 … NAME-count (a group of one keeps its name)", () => {
    expect(agentIds({ name: "gpu", count: 3 })).toEqual(["gpu-1", "gpu-2", "gpu-3"]);
    expect(agentIds({ name: "solo", count: 1 })).toEqual(["solo"]);
  });

  it.each([
    [
      "a distribution's field",
      (s: Loose) => (s.workload.kinds[0].duration = { exponential: { meanMs: -5 } }),
      '"workload.kinds[0].duration.exponential.meanMs" must be a positive finite number, received -5',
    ],
    [
      "a missing lognormal sigma",
      (s: Loose) => (s.workload.kinds[0].duration = { lognormal: { medianMs: 5 } }),
      '"workload.kinds[0].duration.lognormal.sigma" must be a finite number >= 0, received undefined',
    ],
    [
      "an unknown distribution",
      (s: Loose) => (s.workload.kinds[0].duration = { gamma: 2 }),
      '"workload.kinds[0].duration" must be a distribution: { constant: ms } | { exponential: { meanMs } } | { lognormal: { medianMs, sigma } } | { empirical: [ms, ...] }, received {"gamma":2}',
    ],
    [
      "an empty empirical list",
      (s: Loose) => (s.workload.kinds[0].duration = { empirical: [] }),
      '"workload.kinds[0].duration.empirical" must be a non-empty array of durations in ms, received an array of 0',
    ],
    ["closed-loop in-flight count", (s: Loose) => (s.workload.arrivals = { closed: { inFlight: 0 } }), '"workload.arrivals.closed.inFlight" must be an integer from 1 to 10000000, received 0'],
    ["a bursty field", (s: Loose) => (s.workload.arrivals = { bursty: { ratePerSec: 3, onMs: 100 } }), '"workload.arrivals.bursty.offMs" must be a positive finite number, received undefined'],
    ["an agent's concurrency", (s: Loose) => (s.agents[0].concurrency = 0), '"agents[0].concurrency" must be an integer from 1 to 100000, received 0'],
    ["a hive policy", (s: Loose) => (s.policies = { supervision: { maxRestarts: -1 } }), '"policies.supervision.maxRestarts" must be an integer from 0 to 1000000, received -1'],
    ["a probability", (s: Loose) => (s.faults = { taskFailureProbability: 1.5 }), '"faults.taskFailureProbability" must be a probability from 0 to 1, received 1.5'],
    ["an unknown dependency", (s: Loose) => (s.workload.kinds[0].dependsOn = ["db"]), '"workload.kinds[0].dependsOn[0]" must name a dependency listed in "dependencies", received "db"'],
    [
      "an outage of an unknown dependency",
      (s: Loose) => (s.faults = { outages: [{ dependency: "db", atMs: 0, forMs: 1 }] }),
      '"faults.outages[0].dependency" must name a dependency listed in "dependencies", received "db"',
    ],
    ["agent ids that collide", (s: Loose) => s.agents.push({ name: "a-1" }), '"agents[1].name" must give agent ids unique in the swarm ("a-1" repeats), received "a-1"'],
    ["neither duration nor task count", (s: Loose) => (s.run = { warmupMs: 1_000 }), '"run" must give "durationMs" or "tasks" (exactly one of the two), received {"warmupMs":1000}'],
    ["both duration and task count", (s: Loose) => (s.run = { durationMs: 60_000, tasks: 10_000 }), '"run.tasks" may not be given with "run.durationMs": give exactly one of the two, received 10000'],
    [
      "a requirement no agent group meets",
      (s: Loose) => s.workload.kinds.push({ name: "code", requires: { code: 0.95, sim: 0.5 }, duration: { constant: 1 } }),
      '"workload.kinds[1].requires" must be met by some agent group (kind "code"), and none has code >= 0.95 and sim >= 0.5, received {"code":0.95,"sim":0.5}',
    ],
    [
      "a requirement above every agent's level",
      (s: Loose) => (s.workload.kinds[0].requires = { sim: 0.9 }),
      '"workload.kinds[0].requires" must be met by some agent group (kind "job"), and none has sim >= 0.9, received {"sim":0.9}',
    ],
    [
      "simulated time past a year",
      (s: Loose) => (s.run = { durationMs: 1e15 }),
      '"run.durationMs" must keep the simulated time (warmupMs + durationMs) within a year (31,536,000,000 ms), received 1000000000000000',
    ],
    [
      "more expected tasks than a simulation takes",
      (s: Loose) => {
        s.workload.arrivals = { poisson: { ratePerSec: 100 } };
        s.run = { durationMs: 30 * 86_400_000 };
      },
      '"run.durationMs" must keep the expected tasks within 100,000,000 (two hours or more of simulation on a 2-core machine); the arrivals over warmupMs + durationMs make about 259,200,000, received 2592000000',
    ],
    [
      "a closed loop of tasks that take no time",
      (s: Loose) => {
        s.workload.kinds[0].duration = { constant: 0 };
        s.workload.arrivals = { closed: { inFlight: 4 } };
      },
      '"run.durationMs" must keep the expected tasks within 100,000,000 (two hours or more of simulation on a 2-core machine); the closed loop\'s tasks and think time take no time, so tasks arrive without end, received 60000',
    ],
    ["a name", (s: Loose) => (s.name = ""), '"name" must be a non-empty string naming the scenario, received ""'],
  ])("names the field and the value received: %s", (_what, change, message) => {
    const error = failure(scenario(change));
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.name).toBe("InvalidOptionsError");
    expect(error.message).toBe(`Cannot load scenario: ${message}`);
  });

  it("accepts a closed loop of instant tasks that ends after a task count, and a requirement some group meets", () => {
    expect(
      parseScenario(scenario((s) => {
        s.workload.kinds[0].duration = { constant: 0 };
        s.workload.arrivals = { closed: { inFlight: 4 } };
        s.run = { tasks: 1_000 };
      })).run.tasks,
    ).toBe(1_000);
    expect(parseScenario(scenario((s) => (s.workload.kinds[0].requires = { sim: 0.8 }))).workload.kinds[0]!.requires).toEqual({ sim: 0.8 });
  });

  it("names unknown fields with their path", () => {
    expect(failure(scenario((s) => (s.run.speed = 2))).message).toBe('Cannot load scenario: "run.speed" is not a known option');
    expect(failure(42).message).toBe("Cannot load scenario: must be a scenario object { name, agents, workload, run, ... }, received 42");
  });
});

describe("examples/scenarios", () => {
  const dir = new URL("../examples/scenarios/", import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

  it("ships mm1, mmc, swarm-day, swarm-day-10k, outage and throttled-api", () => {
    expect(files).toEqual(expect.arrayContaining(["mm1.json", "mmc.json", "swarm-day.json", "swarm-day-10k.json", "outage.json", "throttled-api.json"]));
  });

  it.each(files)("%s is a valid scenario", (f) => {
    const s = parseScenario(JSON.parse(readFileSync(new URL(f, dir), "utf8")));
    expect(s.name).toBe(f.replace(/\.json$/, ""));
  });

  it("swarm-day has 100 agents, swarm-day-10k 10,000, each for a day", () => {
    for (const [file, agents] of [["swarm-day.json", 100], ["swarm-day-10k.json", 10_000]] as const) {
      const s = parseScenario(JSON.parse(readFileSync(new URL(file, dir), "utf8")));
      expect(s.agents.reduce((n, g) => n + g.count, 0)).toBe(agents);
      expect(s.run.durationMs).toBe(86_400_000);
    }
  });
});
