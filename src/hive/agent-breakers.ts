/**
 * One {@link CircuitBreaker} per swarm agent, fed by the hive's lifecycle events and feeding
 * allocation: every transition is sent to the Supervisor as `supervisor.breaker` (open = not
 * eligible, halfOpen = one probe attempt at a time) and published as a `breaker.transition`.
 *
 * What counts: a completed attempt is a success; a failed, crashed or timed-out attempt the
 * Supervisor blamed on the agent (`blame.to === "agent"` on `task.retrying`, `task.failed` or
 * `task.deadLettered`: it fails where other agents succeed) is a failure. A task's own fault (a
 * poison task or kind), a cancel, a task no agent could take and a handler that failed fast on
 * an open dependency circuit are neither. While half-open only the outcome of the probe (the attempt
 * that started while half-open) moves the breaker; attempts that started before the trip and end
 * late change nothing.
 *
 * @module
 */
import { z } from "zod";
import type { LifecycleEvent } from "../../actors/queen.ts";
import { type BreakerReason, type BreakerState, type BreakerStats, CircuitBreaker } from "../breaker/breaker.ts";
import type { HiveClock } from "../core/clock.ts";
import { InvalidOptionsError } from "../core/errors.ts";
import { parseOrThrow } from "./schema.ts";
import { numberIn, positiveInt } from "../core/validation.ts";

/** The hive's `breaker` option: one breaker of this shape per agent. */
export interface AgentBreakerOptions {
  /**
   * Consecutive failed attempts on an agent, while closed, that open its breaker.
   * @default 5
   */
  consecutiveFailures?: number;
  /** Also open on a failure rate over a rolling window (`windowMs` in ms of the hive clock). @default off */
  failureRate?: { threshold: number; windowMs: number; minimumCalls: number };
  /**
   * How long an agent's breaker stays open before one probe attempt may run, ms of the hive clock.
   * @default 30_000
   */
  resetTimeoutMs?: number;
}

/** A breaker's state change, as the hive publishes it. */
export interface BreakerTransitionEvent {
  type: "breaker.transition";
  /** `agent`: an agent's breaker (name = agent id); `dependency`: a named dependency's. */
  scope: "agent" | "dependency";
  name: string;
  from: BreakerState;
  to: BreakerState;
  reason: BreakerReason;
  /** Hive clock, ms. */
  at: number;
}

/** One breaker in `hive.stats().breakers`. */
export interface BreakerSummary {
  scope: "agent" | "dependency";
  name: string;
  state: BreakerState;
  /** Failures counted since creation. */
  failures: number;
  successes: number;
  /** Calls refused while open (dependencies only; agents are simply not given work). */
  rejected: number;
  /** How many times it has opened. */
  opened: number;
  /** When it last opened (hive clock, ms); `undefined` if never. */
  lastOpenedAt: number | undefined;
}

const failureRate = z.strictObject(
  {
    threshold: numberIn(0, 1).refine((v) => v > 0, { error: "must be a number from 0 to 1" }),
    windowMs: positiveInt(),
    minimumCalls: positiveInt(),
  },
  { error: "must be an object { threshold, windowMs, minimumCalls }" },
);

/** Schema of the hive's `breaker` option (`false` turns agent breakers off). */
export const agentBreakerSchema = z.union([
  z.literal(false),
  z.strictObject(
    { consecutiveFailures: positiveInt().optional(), failureRate: failureRate.optional(), resetTimeoutMs: positiveInt().optional() },
    { error: "must be false or an object { consecutiveFailures, failureRate, resetTimeoutMs }" },
  ),
], { error: "must be false or an object { consecutiveFailures, failureRate, resetTimeoutMs }" });

/**
 * Validates the hive's `breaker` option.
 * @throws InvalidOptionsError e.g. `Cannot create hive: "breaker.resetTimeoutMs" must be a positive integer, received 0`
 */
export function parseAgentBreakerOptions(input: unknown): AgentBreakerOptions | false {
  if (input === undefined) return {};
  const parsed = parseOrThrow(agentBreakerSchema, input, "create hive", (m) => new InvalidOptionsError(m), ["breaker"]);
  if (parsed === false) return false;
  const out: AgentBreakerOptions = {};
  if (parsed.consecutiveFailures !== undefined) out.consecutiveFailures = parsed.consecutiveFailures;
  if (parsed.failureRate !== undefined) out.failureRate = parsed.failureRate;
  if (parsed.resetTimeoutMs !== undefined) out.resetTimeoutMs = parsed.resetTimeoutMs;
  return out;
}

/** Where an attempt ran, by task id: its agent and whether it was a half-open probe. */
interface Run {
  agentId: string;
  probe: boolean;
}

/** Breakers of every agent of a hive. */
export class AgentBreakers implements Disposable {
  readonly #breakers = new Map<string, CircuitBreaker>();
  // The running attempt of each task that has one (from task.started), until it ends or retries.
  readonly #runs = new Map<string, Run>();
  readonly #options: AgentBreakerOptions;
  readonly #clock: HiveClock;
  readonly #onTransition: (event: BreakerTransitionEvent) => void;

  /**
   * @param agentIds the hive's agents
   * @param options validated by {@link parseAgentBreakerOptions}
   * @param clock the hive clock (timers and timestamps)
   * @param onTransition called on every state change (send to the Supervisor, publish)
   */
  constructor(agentIds: readonly string[], options: AgentBreakerOptions, clock: HiveClock, onTransition: (event: BreakerTransitionEvent) => void) {
    this.#options = options;
    this.#clock = clock;
    this.#onTransition = onTransition;
    for (const id of agentIds) this.add(id);
  }

  /** Gives an agent that joined the swarm its breaker. */
  add(id: string): void {
    if (this.#breakers.has(id)) return;
    const clock = this.#clock;
    const breaker = new CircuitBreaker({ ...this.#options, name: id, clock });
    breaker.onTransition((t) => this.#onTransition({ type: "breaker.transition", scope: "agent", name: t.name, from: t.from, to: t.to, reason: t.reason, at: clock.now() }));
    this.#breakers.set(id, breaker);
  }

  /** The breaker of `agentId`, if it is an agent of this hive. */
  get(agentId: string): CircuitBreaker | undefined {
    return this.#breakers.get(agentId);
  }

  /** Feeds one lifecycle event. */
  observe(event: LifecycleEvent): void {
    switch (event.type) {
      case "task.started": {
        const breaker = this.#breakers.get(event.agentId);
        if (breaker === undefined) return;
        // The Supervisor sends a half-open agent one attempt at a time: that attempt is the probe.
        const probe = breaker.state === "halfOpen" && breaker.tryAcquire();
        this.#runs.set(event.taskId, { agentId: event.agentId, probe });
        return;
      }
      case "task.completed":
        this.#end(event.taskId, event.agentId, true);
        return;
      case "task.retrying":
      case "task.deadLettered":
      case "task.failed":
        if (event.blame?.to === "agent") this.#end(event.taskId, event.agentId, false);
        else this.#abandon(event.taskId);
        return;
      case "task.cancelled":
      case "task.shed":
        this.#abandon(event.taskId);
        return;
      default:
        return;
    }
  }

  #end(taskId: string, agentId: string | undefined, ok: boolean): void {
    const run = this.#runs.get(taskId);
    this.#runs.delete(taskId);
    const id = agentId ?? run?.agentId;
    if (id === undefined) return;
    const breaker = this.#breakers.get(id);
    if (breaker === undefined) return;
    if (breaker.state === "closed" || (breaker.state === "halfOpen" && run?.probe === true && run.agentId === id)) breaker.record(ok);
  }

  #abandon(taskId: string): void {
    const run = this.#runs.get(taskId);
    this.#runs.delete(taskId);
    if (run?.probe === true) this.#breakers.get(run.agentId)?.release();
  }

  /** Figures of every agent's breaker. */
  stats(): BreakerSummary[] {
    const out: BreakerSummary[] = [];
    for (const [name, breaker] of this.#breakers) out.push(summary("agent", name, breaker.stats()));
    return out;
  }

  /** Stops every breaker's actor (and timer). */
  [Symbol.dispose](): void {
    for (const breaker of this.#breakers.values()) breaker[Symbol.dispose]();
    this.#runs.clear();
  }
}

/** A {@link BreakerSummary} from a breaker's stats. */
export function summary(scope: "agent" | "dependency", name: string, s: BreakerStats): BreakerSummary {
  return { scope, name, state: s.state, failures: s.failures, successes: s.successes, rejected: s.rejected, opened: s.opened, lastOpenedAt: s.lastOpenedAt };
}
