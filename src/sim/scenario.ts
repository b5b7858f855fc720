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
import { Cron } from "croner";
import { z } from "zod";
import { ALLOCATION_STRATEGIES, type AllocationStrategyName } from "../../actors/allocation-strategies.ts";
import { PRIORITIES, type Priority } from "../../actors/types.ts";
import { InvalidOptionsError } from "../core/errors.ts";
import { agentBreakerSchema } from "../hive/agent-breakers.ts";
import { hiveOptionsSchema, limitsSchema } from "../hive/schema.ts";
import { parseFor } from "../core/validation.ts";
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
  ScenarioSchedule,
  ScheduleInput,
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
    weight: finiteAtLeast(0).default(1),
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

/** The wall time a run starts at unless it says: a fixed day, so that cron schedules run the same in every run. */
export const DEFAULT_START_AT = Date.UTC(2026, 0, 1);

/** A cron pattern read in `timezone`, as `hive.schedule` reads it (paused: it only answers when it runs); throws on a bad pattern. */
export function cronOf(pattern: string, timezone: string): Cron {
  return new Cron(pattern, { paused: true, timezone });
}

const scheduleSchema = z
  .strictObject(
    {
      kind: name("task kind"),
      priority: z.enum(PRIORITIES as [Priority, ...Priority[]], { error: `must be one of ${PRIORITIES.join(", ")}` }).default("normal"),
      everyMs: int(1).optional(),
      cron: z.string({ error: "must be a cron pattern" }).min(1, { error: "must be a cron pattern" }).optional(),
      timezone: z.string({ error: "must be an IANA time zone name" }).min(1, { error: "must be an IANA time zone name" }).optional(),
    },
    { error: "must be a schedule { kind, everyMs, priority? } or { kind, cron, timezone?, priority? }" },
  )
  .superRefine((s, ctx) => {
    if ((s.everyMs === undefined) === (s.cron === undefined)) {
      ctx.addIssue({ code: "custom", path: [], message: 'must give "everyMs" or "cron" (exactly one of the two)' });
      return;
    }
    if (s.cron === undefined) {
      if (s.timezone !== undefined) ctx.addIssue({ code: "custom", path: ["timezone"], message: 'is only for "cron" schedules' });
      return;
    }
    try {
      cronOf(s.cron, "UTC");
    } catch (error) {
      ctx.addIssue({ code: "custom", path: ["cron"], message: `must be a cron pattern (${error instanceof Error ? error.message : String(error)})` });
      return;
    }
    if (s.timezone === undefined) return;
    try {
      cronOf(s.cron, s.timezone).nextRun(new Date(DEFAULT_START_AT));
    } catch {
      ctx.addIssue({ code: "custom", path: ["timezone"], message: "must be an IANA time zone name" });
    }
  })
  .transform((s) => s.cron === undefined ? { kind: s.kind, priority: s.priority, everyMs: s.everyMs! } : { kind: s.kind, priority: s.priority, cron: s.cron, timezone: s.timezone ?? "UTC" });

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
    limits: limitsSchema.optional(),
  },
  { error: "must be an object { supervision?, retry?, queue?, retries?, timeoutMs?, breaker?, cache?, allocation?, limits? }" },
);

const START_AT = 'must be an ISO 8601 date-time (e.g. "2026-01-01T00:00:00Z") or epoch ms';

const runSchema = z
  .strictObject(
    {
      durationMs: positive().optional(),
      tasks: int(1, 1_000_000_000).optional(),
      warmupMs: finiteAtLeast(0).default(0),
      sampleEveryMs: positive().optional(),
      drainMs: positive().optional(),
      resolutionMs: finiteAtLeast(0).default(1),
      startAt: z
        .union([
          z.number({ error: START_AT }).finite({ error: START_AT }),
          z.string({ error: START_AT }).refine((v) => /^\d{4}-\d{2}-\d{2}T/.test(v) && Number.isFinite(Date.parse(v)), { error: START_AT }),
        ], { error: START_AT })
        .transform((v) => (typeof v === "number" ? v : Date.parse(v)))
        .default(DEFAULT_START_AT),
    },
    { error: "must be an object { durationMs | tasks, warmupMs?, sampleEveryMs?, drainMs?, resolutionMs?, startAt? }" },
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
          schedules: z.array(scheduleSchema, { error: "must be an array of schedules" }).max(1_000, { error: "must list at most 1000 schedules" }).default([]),
        },
        { error: "must be an object { kinds, arrivals, priorities?, schedules? }" },
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
    if (!s.workload.kinds.some((k) => k.weight > 0)) {
      ctx.addIssue({ code: "custom", path: ["workload", "kinds", 0, "weight"], message: "must be positive for at least one task kind (the arrivals draw kinds by weight)" });
    }
    s.workload.schedules.forEach((sc, i) => {
      if (!kinds.has(sc.kind)) ctx.addIssue({ code: "custom", path: ["workload", "schedules", i, "kind"], message: 'must name a task kind listed in "workload.kinds"' });
    });
    for (const kind of Object.keys(s.policies.limits ?? {})) {
      if (!kinds.has(kind)) ctx.addIssue({ code: "custom", path: ["policies", "limits", kind], message: 'must be keyed by a task kind listed in "workload.kinds"' });
    }
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
 *   `Cannot load scenario: "workload.kinds[0].duration.exponential.meanMs" must be a positive finite number, received -5`
 */
export function parseScenario(input: unknown): Scenario {
  return parseFor(scenarioSchema, input, "load scenario", (m) => new InvalidOptionsError(m)) as Scenario;
}
