/**
 * zod schemas for every public input, and the one place their failures become clear
 * {@link ApiaryError}s naming the field and the value received.
 *
 * @module
 */
import { z } from "zod";
import { ALLOCATION_STRATEGIES, type AllocationOption } from "../../actors/allocation-strategies.ts";
import { PRIORITIES, type Priority } from "../../actors/types.ts";
import { BACKEND_NAMES, type BackendName, isBackendName } from "../backends/registry.ts";
import type { BackendFactory } from "../backends/types.ts";
import { remoteOptionsSchema } from "../backends/remote/options.ts";
import { findUncloneable } from "../../workers/cloneable.ts";

/** The most worker threads a hive takes (`threads`). */
export const MAX_THREADS = 512;

const intAtLeast = (min: number, max?: number) => {
  const message = max === undefined ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  const base = z.number({ error: message }).int({ error: message }).min(min, { error: message });
  return max === undefined ? base : base.max(max, { error: message });
};

const positiveMs = (max = 2_147_483_647) => intAtLeast(1, max);

const capabilities = z.record(
  z.string({ error: "must be a capability name" }).min(1, { error: "must be a non-empty capability name" }),
  z.number({ error: "must be a number from 0 to 1" }).min(0, { error: "must be a number from 0 to 1" }).max(1, { error: "must be a number from 0 to 1" }),
  { error: "must be an object of capability name to level (0..1)" },
);

const priority = z.enum(PRIORITIES as [Priority, ...Priority[]], { error: `must be one of ${PRIORITIES.join(", ")}` });

const restartType = z.enum(["permanent", "transient", "temporary"], { error: "must be one of permanent, transient, temporary" });

/** A backoff's `maxMs` must not be below its `minMs` (named `minName` in the message). */
const minUpToMax = (minName: string) => (b: { minMs: number; maxMs: number }, ctx: z.RefinementCtx): void => {
  if (b.maxMs < b.minMs) ctx.addIssue({ code: "custom", path: ["maxMs"], message: `must be at least "${minName}" (${b.minMs})` });
};

/** Schema of one agent in `createHive({ agents })`. */
export const agentSchema = z.strictObject(
  {
    id: z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" }).max(200, { error: "must be at most 200 characters" }),
    capabilities: capabilities.default({}),
    concurrency: intAtLeast(1, 100_000).default(1),
    restart: restartType.optional(),
  },
  { error: "must be an object { id, capabilities, concurrency, restart }" },
);

const clockSchema = z.custom<{ now?: () => number; setTimeout: (fn: (...a: unknown[]) => void, ms: number) => unknown; clearTimeout: (id: unknown) => void; epochMs?: number | undefined }>(
  (v) =>
    typeof v === "object" && v !== null && typeof (v as { setTimeout?: unknown }).setTimeout === "function" && typeof (v as { clearTimeout?: unknown }).clearTimeout === "function" &&
    ((v as { epochMs?: unknown }).epochMs === undefined || Number.isFinite((v as { epochMs?: unknown }).epochMs)),
  { error: "must be a clock with setTimeout and clearTimeout, and a finite epochMs if any (for example XState's SimulatedClock)" },
);

const inspectSchema = z.custom<unknown>(
  (v) =>
    typeof v === "function" ||
    (typeof v === "object" && v !== null && (typeof (v as { next?: unknown }).next === "function" || "file" in v)),
  { error: "must be an XState inspect callback or observer, or a trace { file, sanitize?, types?, sample? }" },
);

/** Schema of the `allocation` option (and of `hive.setAllocation`): a built-in strategy's name, or a function. */
export const allocationSchema = z.custom<AllocationOption>(
  (v) => typeof v === "function" || (typeof v === "string" && (ALLOCATION_STRATEGIES as readonly string[]).includes(v)),
  { error: `must be one of ${ALLOCATION_STRATEGIES.join(", ")}, or a function (task, agents, context) => agent id` },
);

const backendSchema = z.custom<BackendName | BackendFactory>((v) => typeof v === "function" || isBackendName(v), {
  error: (issue) =>
    issue.input === "simulated" ? `"simulated" needs a scenario's workload: run it with simulate(scenario, { seed })` : `must be one of ${BACKEND_NAMES.join(", ")}, or a backend factory function`,
});

/** The most dispatches a kind's limit may allow per window (`limits.<kind>.max`). */
export const MAX_LIMIT_DISPATCHES = 1_000_000;

/** Schema of the `limits` option (and of a scenario's): task kind → `{ max, perMs }`. */
export const limitsSchema = z.record(
  z.string({ error: "must be a task kind" }).min(1, { error: "must be a non-empty task kind" }),
  z.strictObject({
    max: intAtLeast(1, MAX_LIMIT_DISPATCHES),
    perMs: positiveMs(),
  }, { error: "must be an object { max, perMs }" }),
  { error: "must be an object of task kind to { max, perMs }" },
);

const tasksSchema = z.union([z.instanceof(URL), z.string().min(1)], { error: "must be a URL or a path of the task handler module" });

/** The thread-pool options a hive and a worker node share (`minThreads`, `maxThreads`, `idleTimeoutMs`, `workerData`, `env`, `execArgv`). */
export const poolOptionShapes = {
  minThreads: intAtLeast(1, MAX_THREADS).optional(),
  maxThreads: intAtLeast(1, MAX_THREADS).optional(),
  idleTimeoutMs: positiveMs().optional(),
  workerData: z.custom<unknown>((v) => findUncloneable(v, "workerData") === null, {
    error: (issue) => {
      const bad = findUncloneable(issue.input, "workerData");
      return `must be structured-cloneable${bad === null ? "" : ` ("${bad.path}" is ${bad.reason})`}`;
    },
  }).optional(),
  env: z.record(z.string({ error: "must be a variable name" }), z.string({ error: "must be a string" }), { error: "must be an object of variable name to string value" }).optional(),
  execArgv: z.array(z.string({ error: "must be a string (a node flag)" }), { error: "must be an array of node flags (strings)" }).optional(),
};

/** Schema of `createHive` options. */
export const hiveOptionsSchema = z.strictObject(
  {
    tasks: tasksSchema.optional(),
    // At least one, unless the backend is "remote" (its worker nodes bring agents): see below.
    agents: z
      .array(agentSchema, { error: "must be an array of agents" })
      .superRefine((agents, ctx) => {
        const seen = new Set<string>();
        agents.forEach((a, i) => {
          if (seen.has(a.id)) ctx.addIssue({ code: "custom", path: [i, "id"], message: "must be unique among agents" });
          seen.add(a.id);
        });
      }),
    backend: backendSchema.optional(),
    threads: intAtLeast(1, MAX_THREADS).optional(),
    ...poolOptionShapes,
    maxBatch: intAtLeast(1, 4096).default(32),
    abortGraceMs: positiveMs().default(1_000),
    startTimeoutMs: positiveMs().default(30_000),
    resourceLimits: z
      .strictObject({
        maxOldGenerationSizeMb: intAtLeast(1).optional(),
        maxYoungGenerationSizeMb: intAtLeast(1).optional(),
        stackSizeMb: intAtLeast(1).optional(),
      }, { error: "must be an object of V8 resource limits" })
      .optional(),
    defaults: z
      .strictObject({
        timeoutMs: positiveMs().default(30_000),
        retries: intAtLeast(0, 100).default(0),
        priority: priority.default("normal"),
      }, { error: "must be an object { timeoutMs, retries, priority }" })
      .default({ timeoutMs: 30_000, retries: 0, priority: "normal" }),
    queue: z
      .strictObject({
        maxQueued: intAtLeast(1).default(100_000),
        agingMs: positiveMs().default(5_000),
        overflow: z.enum(["reject", "shed-lowest"], { error: "must be one of reject, shed-lowest" }).default("reject"),
      }, { error: "must be an object { maxQueued, agingMs, overflow }" })
      .default({ maxQueued: 100_000, agingMs: 5_000, overflow: "reject" }),
    retry: z
      .strictObject({
        minMs: intAtLeast(0, 86_400_000).default(100),
        maxMs: intAtLeast(0, 86_400_000).default(10_000),
        jitter: z.number({ error: "must be a number from 0 to 1" }).min(0, { error: "must be a number from 0 to 1" }).max(1, { error: "must be a number from 0 to 1" }).default(0.2),
      }, { error: "must be an object { minMs, maxMs, jitter }" })
      .superRefine(minUpToMax("retry.minMs"))
      .default({ minMs: 100, maxMs: 10_000, jitter: 0.2 }),
    supervision: z
      .strictObject({
        strategy: z.enum(["one-for-one", "one-for-all", "rest-for-one"], { error: "must be one of one-for-one, one-for-all, rest-for-one" }).default("one-for-one"),
        restart: restartType.default("permanent"),
        maxRestarts: intAtLeast(0, 1_000_000).default(5),
        withinMs: positiveMs().default(60_000),
        backoff: z
          .strictObject({
            minMs: intAtLeast(0, 86_400_000).default(100),
            maxMs: intAtLeast(0, 86_400_000).default(10_000),
            jitter: z.number({ error: "must be a number from 0 to 1" }).min(0, { error: "must be a number from 0 to 1" }).max(1, { error: "must be a number from 0 to 1" }).default(0.2),
            resetAfterMs: positiveMs().default(30_000),
          }, { error: "must be an object { minMs, maxMs, jitter, resetAfterMs }" })
          .superRefine(minUpToMax("supervision.backoff.minMs"))
          .default({ minMs: 100, maxMs: 10_000, jitter: 0.2, resetAfterMs: 30_000 }),
        failAfter: intAtLeast(1, 1_000_000).default(5),
        escalation: z
          .strictObject({
            action: z.enum(["restart", "stop"], { error: "must be one of restart, stop" }).default("restart"),
            cooldownMs: positiveMs().default(30_000),
          }, { error: "must be an object { action, cooldownMs }" })
          .default({ action: "restart", cooldownMs: 30_000 }),
      }, { error: "must be an object { strategy, restart, maxRestarts, withinMs, backoff, failAfter, escalation }" })
      .default({
        strategy: "one-for-one",
        restart: "permanent",
        maxRestarts: 5,
        withinMs: 60_000,
        backoff: { minMs: 100, maxMs: 10_000, jitter: 0.2, resetAfterMs: 30_000 },
        failAfter: 5,
        escalation: { action: "restart", cooldownMs: 30_000 },
      }),
    allocation: allocationSchema.optional(),
    limits: limitsSchema.optional(),
    clock: clockSchema.optional(),
    seed: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).default(1),
    inspect: inspectSchema.optional(),
    // Validated in agent-breakers.ts and taskcache.ts (messages name "breaker.*", "cache.*", "store")
    breaker: z.unknown().optional(),
    cache: z.unknown().optional(),
    store: z.unknown().optional(),
    metrics: z.boolean({ error: "must be a boolean" }).default(true),
    // Checked in hive-durability.ts (messages name "journal.*")
    durability: z.enum(["none", "batched", "every-task"], { error: "must be one of none, batched, every-task" }).optional(),
    recover: z.boolean({ error: "must be a boolean" }).optional(),
    journal: z.unknown().optional(),
    events: z
      .strictObject({ replay: intAtLeast(0, 1_000_000).optional() }, { error: "must be an object { replay }" })
      .optional(),
    remote: remoteOptionsSchema.optional(),
  },
  { error: "must be an options object" },
).superRefine((o, ctx) => {
  if (o.agents.length === 0 && o.backend !== "remote") ctx.addIssue({ code: "custom", path: ["agents"], message: "must list at least one agent" });
  if (o.backend === "remote" && o.remote === undefined) ctx.addIssue({ code: "custom", path: ["remote"], message: 'must be an object { redis, ... } with backend "remote"' });
  if (o.remote !== undefined && o.backend !== "remote") ctx.addIssue({ code: "custom", path: ["remote"], message: 'is only for backend "remote"' });
  checkPoolOptions(o, ctx);
});

/** Pool options that do not fit together, or that the chosen backend cannot honour. */
export function checkPoolOptions(
  o: {
    backend?: unknown;
    threads?: number | undefined;
    minThreads?: number | undefined;
    maxThreads?: number | undefined;
    idleTimeoutMs?: number | undefined;
    workerData?: unknown;
    env?: unknown;
    execArgv?: unknown;
  },
  ctx: z.RefinementCtx,
): void {
  for (const field of ["minThreads", "maxThreads"] as const) {
    if (o.threads !== undefined && o[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: `must not be set with "threads" (threads: n means minThreads = maxThreads = n)` });
  }
  if (o.minThreads !== undefined && o.maxThreads !== undefined && o.maxThreads < o.minThreads) {
    ctx.addIssue({ code: "custom", path: ["maxThreads"], message: `must be at least "minThreads" (${o.minThreads})` });
  }
  const threadOptions = (["threads", "minThreads", "maxThreads", "idleTimeoutMs", "workerData", "env", "execArgv"] as const).filter((f) => o[f] !== undefined);
  if (o.backend === "remote") {
    for (const f of threadOptions) {
      if (f !== "threads") ctx.addIssue({ code: "custom", path: [f], message: 'is for the worker nodes with backend "remote": pass it to startWorkerNode' });
    }
    return;
  }
  if (o.backend === "inline") {
    for (const f of threadOptions) {
      if (f !== "workerData" && f !== "threads") ctx.addIssue({ code: "custom", path: [f], message: 'is not for backend "inline" (no threads: handlers run on the calling thread)' });
    }
  }
  if (o.backend === "comlink" && typeof (globalThis as { Worker?: unknown }).Worker === "function") {
    for (const f of ["env", "execArgv"] as const) {
      if (o[f] !== undefined) ctx.addIssue({ code: "custom", path: [f], message: 'is not supported by backend "comlink" on Web Workers (Deno, browsers): use backend "piscina"' });
    }
  }
}

/** Parsed `createHive` options. */
export type ParsedHiveOptions = z.output<typeof hiveOptionsSchema>;

/** Schema of a submitted task. */
export const taskSchema = z.strictObject(
  {
    kind: z.string({ error: "must be a non-empty string naming a task handler" }).min(1, { error: "must be a non-empty string naming a task handler" }),
    input: z.unknown().optional(),
    requires: capabilities.optional(),
    priority: priority.optional(),
    timeoutMs: positiveMs().optional(),
    deadlineMs: positiveMs().optional(),
    delayMs: intAtLeast(0, 2_147_483_647).optional(),
    after: z.array(z.string({ error: "must be a task id (a non-empty string)" }).min(1, { error: "must be a task id (a non-empty string)" }), { error: "must be an array of task ids" })
      .max(1_000, { error: "must list at most 1000 task ids" }).optional(),
    afterPolicy: z.enum(["fail", "settle"], { error: "must be one of fail, settle" }).optional(),
    runAt: z.union([z.number({ error: "must be epoch milliseconds or a Date" }).finite({ error: "must be epoch milliseconds or a Date" }), z.date({ error: "must be epoch milliseconds or a Date" })], {
      error: "must be epoch milliseconds or a Date",
    }).optional(),
    retries: intAtLeast(0, 100).optional(),
    id: z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" }).max(200, { error: "must be at most 200 characters" }).optional(),
    signal: z.custom<AbortSignal>((v) => typeof v === "object" && v !== null && typeof (v as AbortSignal).aborted === "boolean", { error: "must be an AbortSignal" }).optional(),
    idempotencyKey: z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" }).max(200, { error: "must be at most 200 characters" }).optional(),
    // Checked in intake.ts (each item, against the input, the retries and the backend)
    transfer: z.array(z.unknown(), { error: "must be an array of ArrayBuffers or typed arrays" }).optional(),
    // Checked in taskcache.ts
    cache: z.unknown().optional(),
    cacheKey: z.string({ error: "must be a string" }).optional(),
  },
  { error: "must be a task object { kind, input, ... }" },
).refine((t) => t.delayMs === undefined || t.runAt === undefined, { error: "must not set both delayMs and runAt", path: ["runAt"] });

/** Parsed task. */
export type ParsedTask = z.output<typeof taskSchema>;
