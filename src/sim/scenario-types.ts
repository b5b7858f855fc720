/**
 * The types of a simulation scenario, as written ({@link ScenarioInput}) and as validated, with
 * defaults filled in ({@link Scenario}). The schema that checks them lives in `scenario.ts`.
 * Times are ms of virtual time; fault windows count from the start of the run (warm-up
 * included), the same origin as the report's series and marks.
 *
 * @module
 */
import type { AllocationStrategyName } from "../../actors/allocation-strategies.ts";
import type { KindLimits } from "../../actors/kind-limits.ts";
import type { Capabilities, Priority } from "../../actors/types.ts";
import type { RetryPolicy } from "../../actors/queen.ts";
import type { SupervisionPolicy } from "../../actors/restart.ts";
import type { AgentBreakerOptions } from "../hive/agent-breakers.ts";
import type { HiveOptions } from "../hive/hive.ts";
import type { Distribution } from "./distributions.ts";

/** Priority name → weight (need not sum to 1). */
export type PriorityMix = Partial<Record<Priority, number>>;

/**
 * When tasks arrive:
 * - `{ closed: { inFlight, thinkMs? } }` — `inFlight` tasks at all times, each replaced when it
 *   ends (after a think time drawn from `thinkMs`, if given);
 * - `{ poisson: { ratePerSec } }` — open loop, exponential gaps;
 * - `{ bursty: { ratePerSec, onMs, offMs, offRatePerSec? } }` — Poisson at `ratePerSec` for
 *   `onMs`, at `offRatePerSec` (default 0) for `offMs`, repeating.
 */
export type ArrivalsInput =
  | { closed: { inFlight: number; thinkMs?: Distribution } }
  | { poisson: { ratePerSec: number } }
  | { bursty: { ratePerSec: number; onMs: number; offMs: number; offRatePerSec?: number } };

/** {@link ArrivalsInput}, validated. */
export type Arrivals =
  | { closed: { inFlight: number; thinkMs?: Distribution } }
  | { poisson: { ratePerSec: number } }
  | { bursty: { ratePerSec: number; onMs: number; offMs: number; offRatePerSec: number } };

/** Agents of one profile: ids are `name` when `count` is 1, else `name-1` … `name-count`. */
export interface AgentGroupInput {
  name: string;
  /** @default 1 */
  count?: number;
  /** @default {} */
  capabilities?: Capabilities;
  /** Attempts each runs at once. @default 1 */
  concurrency?: number;
  /** @default the supervision policy's */
  restart?: "permanent" | "transient" | "temporary";
}

/** A kind of task in the workload. */
export interface TaskKindInput {
  name: string;
  /** Share of arrivals (relative to the other kinds' weights); 0 for a kind that only runs on `schedules`. @default 1 */
  weight?: number;
  /** Capability levels an agent needs. @default {} */
  requires?: Capabilities;
  /** How long an attempt runs. */
  duration: Distribution;
  /** Overrides the workload's priority mix for this kind. */
  priorities?: PriorityMix;
  /** Attempt timeout, ms. @default `policies.timeoutMs` */
  timeoutMs?: number;
  /** Further attempts after a failed one. @default `policies.retries` */
  retries?: number;
  /** Probability an attempt fails (its handler throws) when its duration is up. @default `faults.taskFailureProbability` */
  failureProbability?: number;
  /** Dependencies each attempt calls, through the hive's breakers. @default [] */
  dependsOn?: string[];
  /** Results cached by the hive: inputs are drawn from `keys` distinct values, kept `ttlMs`. */
  cache?: { keys: number; ttlMs?: number };
}

/**
 * A repeating task, run by the hive's own `hive.schedule` in virtual time: every `everyMs`, or at
 * the times of a `cron` pattern read against the run's wall time (`run.startAt` plus virtual
 * time). Its task is one of the workload's kinds (duration, requirements, timeout, retries).
 */
export type ScheduleInput =
  & {
    /** The task kind, one of `workload.kinds`. */
    kind: string;
    /** @default "normal" */
    priority?: Priority;
  }
  & ({ everyMs: number } | { cron: string; /** IANA time zone of the pattern. @default "UTC" */ timezone?: string });

/** A named external dependency, guarded by a breaker in the hive (`hive.dependency`). */
export interface DependencyInput {
  name: string;
  /** @default 5 */
  consecutiveFailures?: number;
  /** @default 30000 */
  resetTimeoutMs?: number;
  /** @default 1 */
  halfOpenMaxProbes?: number;
  /** How long a call takes to fail while the dependency is down, ms. @default the attempt's drawn duration */
  failAfterMs?: number;
}

/** A window of time, ms from the start of the run. */
export interface TimeWindow {
  atMs: number;
  forMs: number;
}

/** What goes wrong. */
export interface FaultsInput {
  /** Probability that an attempt of any kind fails when its duration is up (TASK_FAILED). @default 0 */
  taskFailureProbability?: number;
  /** Probability that the thread running an attempt dies under it (WORKER_CRASHED). @default 0 */
  workerDeathProbability?: number;
  /** Agent crashes per hour across the swarm (a Poisson process; each hits an agent at random, `hive.failAgent`). @default 0 */
  agentCrashesPerHour?: number;
  /** Attempts `factor` times longer: each with `probability`, and every one that starts inside a window. */
  latencySpikes?: { factor: number; probability?: number; windows?: TimeWindow[] };
  /** Windows in which every call to a dependency fails. @default [] */
  outages?: (TimeWindow & { dependency: string })[];
}

/** The hive's policies (the same options as `createHive`). */
export interface PoliciesInput {
  supervision?: HiveOptions["supervision"];
  retry?: HiveOptions["retry"];
  queue?: HiveOptions["queue"];
  /** Further attempts after a failed one, for kinds that do not say. @default 0 */
  retries?: number;
  /** Attempt timeout for kinds that do not say, ms. @default 30000 */
  timeoutMs?: number;
  /** Agent breakers. @default the hive's */
  breaker?: AgentBreakerOptions | false;
  /** The result cache (for kinds with `cache`); never persisted. */
  cache?: { maxEntries?: number; ttlMs?: number; staleWhileRevalidateMs?: number };
  /** The allocation strategy, by name (a function cannot be written in JSON). @default "scored" */
  allocation?: AllocationStrategyName;
  /** Per-kind dispatch limits, as the hive's `limits`: kind → `{ max, perMs }`. @default none */
  limits?: KindLimits;
}

/** How long the run lasts and how it is measured. */
export interface RunInput {
  /** Virtual time measured after the warm-up, ms. Exactly one of `durationMs` and `tasks`. */
  durationMs?: number;
  /** Tasks that arrive after the warm-up; the run ends when they have all ended. */
  tasks?: number;
  /** Time before measuring starts, ms. @default 0 */
  warmupMs?: number;
  /** Interval of the report's series, ms. @default about 1/200 of the run */
  sampleEveryMs?: number;
  /** After the window, how long its tasks may take to end before the rest are cancelled, ms. @default `durationMs` (unbounded for `tasks`) */
  drainMs?: number;
  /** Timers fall due on multiples of this, ms (0: exact): events this close happen together, as within one tick of a live hive's timers. @default 1 */
  resolutionMs?: number;
  /** The wall time the run starts at, which cron schedules read: an ISO 8601 date-time or epoch ms. @default "2026-01-01T00:00:00Z" */
  startAt?: string | number;
}

/** A scenario as written: JSON, or an object from a script. */
export interface ScenarioInput {
  name: string;
  description?: string;
  /** Seed used when `simulate` is given none. @default 1 */
  seed?: number;
  agents: AgentGroupInput[];
  workload: {
    kinds: TaskKindInput[];
    /** @default { normal: 1 } */
    priorities?: PriorityMix;
    arrivals: ArrivalsInput;
    /** Repeating tasks, on top of the arrivals. @default [] */
    schedules?: ScheduleInput[];
  };
  dependencies?: DependencyInput[];
  faults?: FaultsInput;
  policies?: PoliciesInput;
  run: RunInput;
}

/** An agent group, validated. */
export interface AgentGroup {
  name: string;
  count: number;
  capabilities: Capabilities;
  concurrency: number;
  restart?: "permanent" | "transient" | "temporary";
}

/** A task kind, validated. */
export interface ScenarioKind {
  name: string;
  weight: number;
  requires: Capabilities;
  duration: Distribution;
  priorities?: PriorityMix;
  timeoutMs?: number;
  retries?: number;
  failureProbability?: number;
  dependsOn: string[];
  cache?: { keys: number; ttlMs?: number };
}

/** A schedule, validated. */
export type ScenarioSchedule = { kind: string; priority: Priority } & ({ everyMs: number } | { cron: string; timezone: string });

/** A validated scenario, defaults filled in. */
export interface Scenario {
  name: string;
  description?: string;
  seed?: number;
  agents: AgentGroup[];
  workload: { kinds: ScenarioKind[]; priorities: PriorityMix; arrivals: Arrivals; schedules: ScenarioSchedule[] };
  dependencies: DependencyInput[];
  faults: {
    taskFailureProbability: number;
    workerDeathProbability: number;
    agentCrashesPerHour: number;
    latencySpikes?: { factor: number; probability: number; windows: TimeWindow[] };
    outages: (TimeWindow & { dependency: string })[];
  };
  policies: {
    supervision: SupervisionPolicy;
    retry: RetryPolicy;
    queue: { maxQueued: number; agingMs: number; overflow: "reject" | "shed-lowest" };
    retries: number;
    timeoutMs: number;
    breaker?: AgentBreakerOptions | false;
    cache?: { maxEntries?: number; ttlMs?: number; staleWhileRevalidateMs?: number };
    allocation?: AllocationStrategyName;
    limits?: KindLimits;
  };
  run: { durationMs?: number; tasks?: number; warmupMs: number; sampleEveryMs?: number; drainMs?: number; resolutionMs: number; /** Epoch ms. */ startAt: number };
}
