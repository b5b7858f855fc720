/**
 * Simulation scenarios: the zod schema of a scenario (plain JSON, or a TypeScript object from a
 * script), the types it infers, and {@link parseScenario}, whose errors name the field and the
 * value received.
 *
 * A scenario says who works (agents), what arrives (workload: task kinds, priorities, durations,
 * arrivals), what goes wrong (faults), under which policies the hive runs, and for how long.
 * Distributions and arrival processes are objects with one key naming their form, e.g.
 * `{ exponential: { meanMs: 200 } }` or `{ poisson: { ratePerSec: 50 } }`.
 *
 * @module
 */
import { z } from "zod";
import { ALLOCATION_STRATEGIES, type AllocationStrategyName } from "../../actors/allocation-strategies.ts";
import { PRIORITIES, type Priority } from "../../actors/types.ts";
import { agentBreakerSchema } from "../hive/agent-breakers.ts";
import { describeValue, InvalidOptionsError } from "../core/errors.ts";
import { hiveOptionsSchema, pathText, valueAt } from "../hive/schema.ts";
import { describeIssue } from "../core/validation.ts";
import { runTooLong, unmetRequirements } from "./scenario-limits.ts";
import type { Scenario } from "./scenario-types.ts";

export type {
  AgentGroup,
  AgentGroupInput,
  Arrivals,
  ArrivalsInput,
  DependencyInput,
  FaultsInput,
  PoliciesInput,
  PriorityMix,
  RunInput,
  Scenario,
  ScenarioInput,
  ScenarioKind,
  TaskKindInput,
  TimeWindow,
} from "./scenario-types.ts";

const finiteAtLeast = (min: number, what = `a finite number >= ${min}`) => {
  const error = `must be ${what}`;
  return z.number({ error }).finite({ error }).min(min, { error });
};
const positive = (what = "a positive finite number") => {
  const error = `must be ${what}`;
  return z.number({ error }).finite({ error }).positive({ error });
};
const int = (min: number, max = 2_147_483_647) => {
  const error = `must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const probability = () => {
  const error = "must be a probability from 0 to 1";
  return z.number({ error }).min(0, { error }).max(1, { error });
};
const name = (what: string) =>
  z
    .string({ error: `must be a non-empty string naming the ${what}` })
    .min(1, { error: `must be a non-empty string naming the ${what}` })
    .max(200, { error: "must be at most 200 characters" });

const capabilities = z.record(
  z.string({ error: "must be a capability name" }).min(1, { error: "must be a non-empty capability name" }),
  z.number({ error: "must be a number from 0 to 1" }).min(0, { error: "must be a number from 0 to 1" }).max(1, { error: "must be a number from 0 to 1" }),
  { error: "must be an object of capability name to level (0..1)" },
);

const DISTRIBUTION_FORMS = "{ constant: ms } | { exponential: { meanMs } } | { lognormal: { medianMs, sigma } } | { empirical: [ms, ...] }";

/** Schema of a duration distribution (ms): see `Distribution` in `distributions.ts`. */
const distributionSchema = z.union(
  [
    z.strictObject({ constant: finiteAtLeast(0) }),
    z.strictObject({ exponential: z.strictObject({ meanMs: positive() }, { error: "must be an object { meanMs }" }) }),
    z.strictObject({ lognormal: z.strictObject({ medianMs: positive(), sigma: finiteAtLeast(0) }, { error: "must be an object { medianMs, sigma }" }) }),
    z.strictObject({
      empirical: z
        .array(finiteAtLeast(0), { error: "must be a non-empty array of durations in ms" })
        .min(1, { error: "must be a non-empty array of durations in ms" })
        .max(1_000_000, { error: "must list at most 1000000 durations" }),
    }),
  ],
  { error: `must be a distribution: ${DISTRIBUTION_FORMS}` },
);

const ARRIVAL_FORMS = "{ closed: { inFlight, thinkMs? } } | { poisson: { ratePerSec } } | { bursty: { ratePerSec, onMs, offMs, offRatePerSec? } }";

/** Schema of an arrival process. */
const arrivalsSchema = z.union(
  [
    z.strictObject({
      closed: z.strictObject({ inFlight: int(1, 10_000_000), thinkMs: distributionSchema.optional() }, { error: "must be an object { inFlight, thinkMs? }" }),
    }),
    z.strictObject({ poisson: z.strictObject({ ratePerSec: positive() }, { error: "must be an object { ratePerSec }" }) }),
    z.strictObject({
      bursty: z.strictObject(
        { ratePerSec: positive(), onMs: positive(), offMs: positive(), offRatePerSec: finiteAtLeast(0).default(0) },
        { error: "must be an object { ratePerSec, onMs, offMs, offRatePerSec? }" },
      ),
    }),
  ],
  { error: `must be an arrival process: ${ARRIVAL_FORMS}` },
);

const priorityMix = z
  .strictObject(Object.fromEntries(PRIORITIES.map((p) => [p, finiteAtLeast(0).optional()])) as Record<Priority, z.ZodOptional<z.ZodNumber>>, {
    error: `must be an object of priority (${PRIORITIES.join(", ")}) to weight`,
  })
  .refine((mix) => Object.values(mix).some((w) => (w ?? 0) > 0), { error: "must give at least one priority a positive weight" });

const kindSchema = z.strictObject(
  {
    name: name("task kind"),
    weight: positive().default(1),
    requires: capabilities.default({}),
    duration: distributionSchema,
    priorities: priorityMix.optional(),
    timeoutMs: int(1).optional(),
    retries: int(0, 100).optional(),
    failureProbability: probability().optional(),
    dependsOn: z.array(name("dependency"), { error: "must be an array of dependency names" }).default([]),
    cache: z.strictObject({ keys: int(1, 100_000_000), ttlMs: int(1).optional() }, { error: "must be an object { keys, ttlMs? }" }).optional(),
  },
  { error: "must be a task kind { name, duration, weight?, requires?, priorities?, timeoutMs?, retries?, failureProbability?, dependsOn?, cache? }" },
);

const agentGroupSchema = z.strictObject(
  {
    name: name("agent (or agent group: ids become NAME-1 … NAME-count)"),
    count: int(1, 100_000).default(1),
    capabilities: capabilities.default({}),
    concurrency: int(1, 100_000).default(1),
    restart: z.enum(["permanent", "transient", "temporary"], { error: "must be one of permanent, transient, temporary" }).optional(),
  },
  { error: "must be an agent group { name, count?, capabilities?, concurrency?, restart? }" },
);

const dependencySchema = z.strictObject(
  {
    name: name("dependency"),
    consecutiveFailures: int(1).optional(),
    resetTimeoutMs: int(1).optional(),
    halfOpenMaxProbes: int(1).optional(),
    failAfterMs: finiteAtLeast(0).optional(),
  },
  { error: "must be a dependency { name, consecutiveFailures?, resetTimeoutMs?, halfOpenMaxProbes?, failAfterMs? }" },
);

const windowSchema = z.strictObject({ atMs: finiteAtLeast(0), forMs: positive() }, { error: "must be a window { atMs, forMs }" });

const faultsSchema = z.strictObject(
  {
    taskFailureProbability: probability().default(0),
    workerDeathProbability: probability().default(0),
    agentCrashesPerHour: finiteAtLeast(0).default(0),
    latencySpikes: z
      .strictObject(
        { probability: probability().default(0), factor: finiteAtLeast(1), windows: z.array(windowSchema, { error: "must be an array of windows { atMs, forMs }" }).default([]) },
        { error: "must be an object { factor, probability?, windows? }" },
      )
      .optional(),
    outages: z
      .array(z.strictObject({ dependency: name("dependency"), atMs: finiteAtLeast(0), forMs: positive() }, { error: "must be an outage { dependency, atMs, forMs }" }), {
        error: "must be an array of outages { dependency, atMs, forMs }",
      })
      .default([]),
  },
  { error: "must be an object { taskFailureProbability?, workerDeathProbability?, agentCrashesPerHour?, latencySpikes?, outages? }" },
);

const hiveShape = hiveOptionsSchema.shape;

const policiesSchema = z.strictObject(
  {
    supervision: hiveShape.supervision,
    retry: hiveShape.retry,
    queue: hiveShape.queue,
    retries: int(0, 100).default(0),
    timeoutMs: int(1).default(30_000),
    breaker: agentBreakerSchema.optional(),
    cache: z
      .strictObject({ maxEntries: int(1).optional(), ttlMs: int(1).optional(), staleWhileRevalidateMs: int(0).optional() }, {
        error: "must be an object { maxEntries?, ttlMs?, staleWhileRevalidateMs? }",
      })
      .optional(),
    allocation: z.enum(ALLOCATION_STRATEGIES as [AllocationStrategyName, ...AllocationStrategyName[]], { error: `must be one of ${ALLOCATION_STRATEGIES.join(", ")}` }).optional(),
  },
  { error: "must be an object { supervision?, retry?, queue?, retries?, timeoutMs?, breaker?, cache?, allocation? }" },
);

const runSchema = z
  .strictObject(
    {
      durationMs: positive().optional(),
      tasks: int(1, 1_000_000_000).optional(),
      warmupMs: finiteAtLeast(0).default(0),
      sampleEveryMs: positive().optional(),
      drainMs: positive().optional(),
      resolutionMs: finiteAtLeast(0).default(1),
    },
    { error: "must be an object { durationMs | tasks, warmupMs?, sampleEveryMs?, drainMs?, resolutionMs? }" },
  )
  .superRefine((run, ctx) => {
    if (run.durationMs !== undefined && run.tasks !== undefined) {
      ctx.addIssue({ code: "custom", path: ["tasks"], message: 'may not be given with "run.durationMs": give exactly one of the two' });
    } else if (run.durationMs === undefined && run.tasks === undefined) {
      ctx.addIssue({ code: "custom", path: [], message: 'must give "durationMs" or "tasks" (exactly one of the two)' });
    }
  });

/** Schema of a scenario (its types are written out in `scenario-types.ts`, for the public API). */
const scenarioSchema = z
  .strictObject(
    {
      name: name("scenario"),
      description: z.string({ error: "must be a string" }).optional(),
      seed: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).optional(),
      agents: z.array(agentGroupSchema, { error: "must be an array of agent groups" }).min(1, { error: "must list at least one agent group" }),
      workload: z.strictObject(
        {
          kinds: z.array(kindSchema, { error: "must be an array of task kinds" }).min(1, { error: "must list at least one task kind" }),
          priorities: priorityMix.default({ normal: 1 }),
          arrivals: arrivalsSchema,
        },
        { error: "must be an object { kinds, arrivals, priorities? }" },
      ),
      dependencies: z.array(dependencySchema, { error: "must be an array of dependencies" }).default([]),
      faults: faultsSchema.default({ taskFailureProbability: 0, workerDeathProbability: 0, agentCrashesPerHour: 0, outages: [] }),
      policies: policiesSchema.default(() => policiesSchema.parse({})),
      run: runSchema,
    },
    { error: "must be a scenario object { name, agents, workload, run, ... }" },
  )
  .superRefine((s, ctx) => {
    const ids = new Set<string>();
    s.agents.forEach((g, i) => {
      for (const id of agentIds(g)) {
        if (ids.has(id)) {
          ctx.addIssue({ code: "custom", path: ["agents", i, "name"], message: `must give agent ids unique in the swarm (${JSON.stringify(id)} repeats)` });
          return;
        }
        ids.add(id);
      }
    });
    if (ids.size > 100_000) ctx.addIssue({ code: "custom", path: ["agents"], message: `must add up to at most 100000 agents (${ids.size})` });
    const kinds = new Set<string>();
    s.workload.kinds.forEach((k, i) => {
      if (kinds.has(k.name)) ctx.addIssue({ code: "custom", path: ["workload", "kinds", i, "name"], message: "must be unique among task kinds" });
      kinds.add(k.name);
    });
    const deps = new Set<string>();
    s.dependencies.forEach((d, i) => {
      if (deps.has(d.name)) ctx.addIssue({ code: "custom", path: ["dependencies", i, "name"], message: "must be unique among dependencies" });
      deps.add(d.name);
    });
    s.workload.kinds.forEach((k, i) => {
      k.dependsOn.forEach((d, j) => {
        if (!deps.has(d)) ctx.addIssue({ code: "custom", path: ["workload", "kinds", i, "dependsOn", j], message: 'must name a dependency listed in "dependencies"' });
      });
    });
    s.faults.outages.forEach((o, i) => {
      if (!deps.has(o.dependency)) ctx.addIssue({ code: "custom", path: ["faults", "outages", i, "dependency"], message: 'must name a dependency listed in "dependencies"' });
    });
    // zod's output type only widens the optionals of the validated Scenario.
    for (const issue of [...unmetRequirements(s as Scenario), ...runTooLong(s as Scenario)]) ctx.addIssue({ code: "custom", ...issue });
  });

/** The agent ids a group expands to: its name alone, or `NAME-1` … `NAME-count`. */
export function agentIds(group: { name: string; count: number }): string[] {
  if (group.count === 1) return [group.name];
  return Array.from({ length: group.count }, (_, i) => `${group.name}-${i + 1}`);
}

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  errors?: Issue[][];
}

/**
 * The issue to report. For a union (distribution, arrivals), the branch the input meant — the
 * one whose key is there, e.g. `exponential` — and its deepest first issue; if no branch's key
 * is there, the union's own message listing the forms.
 */
function pick(issue: Issue, root: unknown): Issue {
  if (issue.code !== "invalid_union" || issue.errors === undefined) return issue;
  let best: Issue | undefined;
  for (const branch of issue.errors) {
    const first = branch[0];
    const key = first?.path[0];
    if (first === undefined || key === undefined || first.code === "unrecognized_keys") continue;
    if (valueAt(root, [...issue.path, key]) === undefined) continue;
    const full: Issue = { ...first, path: [...issue.path, ...first.path] };
    if (best === undefined || full.path.length > best.path.length) best = full;
  }
  return best === undefined ? issue : pick(best, root);
}

/**
 * Validates a scenario and fills in its defaults. Beyond each field's own rules it refuses a
 * task kind whose `requires` no agent group meets, and a run past the bounds of
 * `scenario-limits.ts`: a year of virtual time, 100,000,000 expected tasks.
 *
 * @example
 * ```ts
 * const scenario = parseScenario({
 *   name: "mm1",
 *   agents: [{ name: "server" }],
 *   workload: { kinds: [{ name: "job", duration: { exponential: { meanMs: 1000 } } }], arrivals: { poisson: { ratePerSec: 0.8 } } },
 *   run: { durationMs: 3_600_000, warmupMs: 60_000 },
 * });
 * ```
 * @throws InvalidOptionsError (code `INVALID_OPTIONS`) naming the field and the value received, e.g.
 *   `Invalid scenario: "workload.kinds[0].duration.exponential.meanMs" must be a positive finite number, received -5`
 */
export function parseScenario(input: unknown): Scenario {
  const result = scenarioSchema.safeParse(input);
  if (result.success) return result.data as Scenario;
  const issue = pick(result.error.issues[0] as unknown as Issue, input);
  if (issue.code === "unrecognized_keys") {
    const where = pathText(issue.path);
    const keys = issue.keys ?? [];
    throw new InvalidOptionsError(
      `Invalid scenario: ${keys.map((k) => JSON.stringify(where ? `${where}.${k}` : k)).join(", ")} ${keys.length === 1 ? "is not a known field" : "are not known fields"}`,
      { cause: result.error },
    );
  }
  const text = describeIssue(issue as unknown as z.core.$ZodIssue);
  const path = pathText(text.path);
  throw new InvalidOptionsError(`Invalid scenario: ${path ? `"${path}" ` : ""}${text.phrase}, received ${text.received ?? describeValue(valueAt(input, text.path))}`, { cause: result.error });
}
