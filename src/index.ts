/**
 * apiary: an actor-model agent swarm orchestrator. A hive takes tasks, places each on the swarm
 * agent that fits best (capability, load, health), runs it on a worker-thread pool, and keeps
 * working when agents, threads and dependencies fail.
 *
 * @example
 * ```ts
 * import { createHive } from "apiary";
 * const hive = createHive({ agents: [{ id: "a1", capabilities: { simulate: 0.8 }, concurrency: 2 }] });
 * await hive.start();
 * const pi = await hive.run({ kind: "montecarlo", input: { samples: 100_000 } });
 * await hive.stop();
 * ```
 *
 * @module
 */
export { createHive, Hive } from "./hive.ts";
export type { AgentOptions, AgentStats, HiveEvent, HiveEventType, HiveOptions, HiveStats, LatencySummary, TaskHandle, TaskOptions } from "./hive.ts";
export type { TaskCounts } from "../actors/queen.ts";
export type { Capabilities, Priority } from "../actors/types.ts";
export type { ScoreTerms } from "../actors/allocation.ts";
export type { BackendName, BackendStats } from "./backends/types.ts";
export type { HiveClock } from "./clock.ts";
export {
  ApiaryError,
  CircuitOpenError,
  HiveNotStartedError,
  HiveStoppedError,
  InvalidOptionsError,
  InvalidTaskError,
  isApiaryError,
  NoEligibleAgentError,
  QueueFullError,
  TaskCancelledError,
  TaskFailedError,
  TasksModuleError,
  TaskTimeoutError,
  WorkerCrashedError,
} from "./errors.ts";
export type { ApiaryErrorCode, ApiaryErrorOptions } from "./errors.ts";
export { createRandom } from "./random.ts";
export type { Random } from "./random.ts";
