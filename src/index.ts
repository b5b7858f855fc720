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
export { createHive, Hive } from "./hive/hive.ts";
export type {
  AgentOptions,
  AgentStats,
  DeadLetteredTask,
  Explanation,
  FaultAttribution,
  HiveEvent,
  HiveEventType,
  HiveOptions,
  HiveServeOptions,
  HiveState,
  HiveStats,
  LatencySummary,
  MapOptions,
  MapResult,
  PlacementExplanation,
  QueuedOptions,
  QueuedTask,
  ScheduleHandle,
  ScheduleOptions,
  ScheduleSpec,
  TaskHandle,
  TaskOptions,
  TaskProgressEvent,
  Waiting,
  WaitingExplanation,
} from "./hive/hive.ts";
export type { HiveJournalOptions, TaskResult } from "./hive/durability.ts";
export type { Durability, JournalStats } from "./journal/journal.ts";
export type { HiveInspectOption, HiveTraceOptions } from "./hive/inspect.ts";
export type { LifecycleEvent, RetryPolicy, TaskCounts } from "../actors/queen.ts";
export type { RestartType, SupervisionPolicy } from "../actors/restart.ts";
export type { Blame } from "../actors/blame.ts";
export type { Capabilities, Priority } from "../actors/types.ts";
export type { ScoreTerms } from "../actors/allocation.ts";
export type {
  AllocationAgent,
  AllocationChoice,
  AllocationContext,
  AllocationFunction,
  AllocationOption,
  AllocationStrategyName,
  AllocationTask,
  DecisionTerms,
} from "../actors/allocation-strategies.ts";
export type { AgentLifecycleEvent, AllocationFallbackEvent, Decision } from "../actors/supervisor.ts";
// Execution backends: the contract a backend of your own implements, and the factory that makes it.
export type { BackendName } from "./backends/registry.ts";
export type { Attempt, AttemptCallback, AttemptResult, BackendContext, BackendFactory, BackendStats, DependencyChannel, ExecutionBackend, StartCallback } from "./backends/types.ts";
export type { DependencyCallResult, DependencyReport } from "../workers/protocol.ts";
export type { BackendAgent, BackendHost } from "./backends/types.ts";
// Scaling out: the remote backend's options, and the worker nodes that join it (Node only).
export type { RemoteOptions } from "./backends/remote/options.ts";
export { startWorkerNode } from "./node/start.ts";
export type { NodeReadiness, NodeServeOptions, WorkerNodeHandle, WorkerNodeOptions, WorkerNodeStats } from "./node/start.ts";
export type { HiveClock, NowClock } from "./core/clock.ts";
export {
  AbortedError,
  ApiaryError,
  CircuitOpenError,
  DependencyFailedError,
  HiveNotStartedError,
  HiveStoppedError,
  InvalidEventError,
  InvalidOptionsError,
  InvalidTaskError,
  isApiaryError,
  isCircuitOpenError,
  isRetriableCode,
  isStoreError,
  NoEligibleAgentError,
  QueueFullError,
  RateLimitedError,
  RETRIABLE_CODES,
  ServeFailedError,
  StoreError,
  TaskCancelledError,
  TaskFailedError,
  TasksModuleError,
  TaskTimeoutError,
  TraceFailedError,
  WaitTimeoutError,
  WorkerCrashedError,
} from "./core/errors.ts";
export type { ApiaryErrorCode, ApiaryErrorOptions, RetriableCode, StoreErrorCode, StoreErrorOptions } from "./core/errors.ts";

// Event bus, metrics, health endpoints, inspector and traces.
export { BUS_PRIORITIES, EventBus } from "./observe/bus.ts";
export type { BusEvent, BusListener, BusPriority, BusStats, DeadLetter, Disposer, EventBusOptions, PublishOptions, SubscribeOptions, WaitForOptions } from "./observe/bus.ts";
export type { TimerClock } from "./core/clock.ts";
export { LogHistogram } from "./metrics/histogram.ts";
export type { HistogramSummary, LogHistogramOptions } from "./metrics/histogram.ts";
export { Counter, DEFAULT_BUCKETS, Gauge, Histogram, MetricsRegistry } from "./metrics/registry.ts";
export type {
  BoundCounter,
  BoundGauge,
  BoundHistogram,
  HistogramOptions,
  HistogramSeries,
  LabelValues,
  MetricOptions,
  MetricSnapshot,
  MetricsRegistryOptions,
  MetricType,
  ValueSeries,
} from "./metrics/registry.ts";
export { WindowedHistogram } from "./metrics/window.ts";
export type { WindowedHistogramOptions, WindowSummary } from "./metrics/window.ts";
export { serveHealth } from "./observe/serve.ts";
export { createDashboard } from "./observe/dashboard.ts";
export type { Dashboard, DashboardActor, DashboardAgent, DashboardEvent, DashboardFrame, DashboardOptions, DashboardSample, DashboardSource } from "./observe/dashboard.ts";
export type { HealthServer, HealthServerOptions, Readiness } from "./observe/serve.ts";
export { createTraceWriter } from "./observe/trace.ts";
export type { InspectionEventType, TracedActor, TraceRecord, TraceWriter, TraceWriterOptions } from "./observe/trace.ts";
export { filterInspect, replayTrace, startInspector } from "./observe/inspect.ts";
export { inspectHive } from "./hive/inspect-hive.ts";
export type { InspectedHive, InspectHiveOptions } from "./hive/inspect-hive.ts";
export type { FilterInspectOptions, InspectObserver, InspectorRelay, ReplayTraceOptions, StartInspectorOptions } from "./observe/inspect.ts";

// Circuit breakers, the result cache and the stores they persist to.
export { CircuitBreaker } from "./breaker/breaker.ts";
export type { BreakerCallContext, BreakerClock, BreakerReason, BreakerState, BreakerStats, BreakerTransition, CircuitBreakerOptions, FailureRateOptions } from "./breaker/breaker.ts";
export { cacheKeyFor, ResultCache } from "./cache/cache.ts";
export type { CacheClock, CacheEntryOptions, CacheStats, GetOrComputeOptions, ResultCacheOptions } from "./cache/cache.ts";
export { createFileStore, createIdbStore, createMemoryStore, createRedisStore } from "./store/index.ts";
export type { FileStoreOptions, FsyncPolicy, IdbStoreOptions, JsonValue, MemoryStoreOptions, RedisStoreOptions, Store, StoreCallOptions } from "./store/index.ts";
export { createRandom } from "./core/random.ts";
export type { Random } from "./core/random.ts";
// Breakers in allocation, named dependencies, the cache on the task path
export type { AgentBreakerOptions, BreakerSummary, BreakerTransitionEvent } from "./hive/agent-breakers.ts";
export type { DependencyOptions, RateLimitOptions } from "./hive/dependencies.ts";
export type { CacheEvent, HiveCacheOptions, HiveStoreOption, InvalidateSelector, TaskCacheOption } from "./hive/task-cache.ts";
// Simulation in virtual time: scenarios, simulate, and the run report they produce.
export { simulate } from "./sim/simulate.ts";
export type { SimulateOptions } from "./sim/simulate.ts";
export { parseScenario } from "./sim/scenario.ts";
export { sweep } from "./sim/sweep.ts";
export type { SweepOptions, VaryValue } from "./sim/sweep.ts";
export type { RemoteReplicaOptions } from "./sim/remote-replica-pool.ts";
export { plan, type PlanCandidate, type PlanOptions, type PlanReport } from "./sim/plan.ts";
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
} from "./sim/scenario-types.ts";
export type { Distribution } from "./sim/distributions.ts";
export type { AgentFigures, AgentMark, Estimate, HistogramBucket, LatencyFigures, LoadReport, RunReport, SeriesPoint, SweepReport, TaskTotals } from "./sim/report.ts";
export { createRecorder } from "./sim/recorder.ts";
export type { Recorder, RecorderOptions } from "./sim/recorder.ts";
// Run reports: HTML (self-contained, inline SVG) and terminal tables.
export { renderHtml } from "./sim/html.ts";
export { formatLoadReport, formatRunReport, formatSweepReport } from "./sim/table.ts";
