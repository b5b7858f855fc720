/**
 * `CircuitBreaker`: the fast facade over the Breaker actor ({@link breakerMachine}).
 *
 * The closed path is plain code on plain counters: no XState event per call (one costs ~6 µs;
 * a closed-path call here costs about as much as cockatiel's). The actor is told only what
 * changes the state (a trip, a probe and its outcome), and the facade reads the state from a
 * field that an actor subscription keeps current. So the actor stays the one source of truth
 * for transitions, visible in the inspector and driven by the actor clock.
 *
 * @module
 */
import type { HiveClock } from "../core/clock.ts";
import type { Disposer } from "../core/disposer.ts";
import { type Actor, type AnyActorRef, createActor, type InspectionEvent, type Observer } from "xstate";
import { z } from "zod";
import { breakerMachine, type BreakerReason, type BreakerState } from "../../actors/breaker.ts";
import { CircuitOpenError } from "../core/errors.ts";
import { FailureWindow } from "./failure-window.ts";
import { fn, numberIn, parseFor, positiveInt } from "../core/validation.ts";

export type { BreakerReason, BreakerState } from "../../actors/breaker.ts";

/** The clock a breaker runs on: the hive's one clock interface. `SimulatedClock` fits. */
export type BreakerClock = HiveClock;

/** Trips the circuit on a failure rate over a rolling window. */
export interface FailureRateOptions {
  /** Failure rate (0 < rate ≤ 1) at or above which the circuit opens. */
  threshold: number;
  /** Length of the rolling window, in milliseconds. */
  windowMs: number;
  /** Fewest calls in the window before the rate is judged. */
  minimumCalls: number;
}

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * Name used in errors and transition events (an agent id, a dependency name).
   * @default "circuit"
   */
  name?: string;
  /**
   * Consecutive failures, while closed, that open the circuit.
   * @default 5
   */
  consecutiveFailures?: number;
  /** Also open the circuit on a failure rate over a rolling window. @default off */
  failureRate?: FailureRateOptions;
  /**
   * How long the circuit stays open before letting probes through, in milliseconds of the
   * actor clock.
   * @default 30_000
   */
  resetTimeoutMs?: number;
  /**
   * How many probes may run at once while half-open.
   * @default 1
   */
  halfOpenMaxProbes?: number;
  /**
   * Which errors count as failures. An error thrown after the call's own `signal` aborted never
   * counts (the caller gave up; the dependency did not fail).
   * @default every error
   */
  isFailure?: (error: unknown) => boolean;
  /** Called instead of failing fast while open (or half-open with no probe slot free). */
  fallback?: (error: CircuitOpenError) => unknown;
  /**
   * The actor clock: timers and timestamps. A `SimulatedClock` in tests and simulations.
   * @default the real clock (`Date.now`, `setTimeout`)
   */
  clock?: BreakerClock;
  /** Passed to `createActor` to watch the Breaker actor (e.g. the Stately inspector). */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** One state change of a breaker. */
export interface BreakerTransition {
  /** The breaker's `name`. */
  name: string;
  from: BreakerState;
  to: BreakerState;
  reason: BreakerReason;
  /** When it happened: actor clock, milliseconds. */
  at: number;
}

/** A breaker's figures. */
export interface BreakerStats {
  state: BreakerState;
  /** Calls that failed (counted failures), since creation. */
  failures: number;
  /** Calls that succeeded, since creation. */
  successes: number;
  /** Calls refused because the circuit was open (fallback or `CircuitOpenError`). */
  rejected: number;
  /** Current run of consecutive failures while closed. */
  consecutiveFailures: number;
  /** How many times the circuit has opened. */
  opened: number;
  /** When the circuit last opened (actor clock, ms); `undefined` if never. */
  lastOpenedAt: number | undefined;
}

/** What `execute` passes to the function it runs. */
export interface BreakerCallContext {
  /** The caller's signal, if any. */
  signal: AbortSignal | undefined;
}

/** A function that stops a subscription; also usable with `using`. */
export type { Disposer } from "../core/disposer.ts";

const schema = z.strictObject({
  name: z.string({ error: "must be a string" }).optional(),
  consecutiveFailures: positiveInt().optional(),
  failureRate: z
    .strictObject({
      threshold: numberIn(0, 1).refine((v) => v > 0, { error: "must be a number from 0 to 1" }),
      windowMs: positiveInt(),
      minimumCalls: positiveInt(),
    }, { error: "must be an object { threshold, windowMs, minimumCalls }" })
    .optional(),
  resetTimeoutMs: positiveInt().optional(),
  halfOpenMaxProbes: positiveInt().optional(),
  isFailure: fn<(error: unknown) => boolean>().optional(),
  fallback: fn<(error: CircuitOpenError) => unknown>().optional(),
  clock: z
    .custom<BreakerClock>(
      (v) => typeof v === "object" && v !== null && ["now", "setTimeout", "clearTimeout"].every((m) => typeof (v as Record<string, unknown>)[m] === "function"),
      { error: "must have now(), setTimeout() and clearTimeout()" },
    )
    .optional(),
  inspect: z.any().optional(),
});

const realClock: BreakerClock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    // An open circuit must not keep the process alive on its own.
    (timer as { unref?: () => void }).unref?.();
    return timer;
  },
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

const NO_SIGNAL: BreakerCallContext = Object.freeze({ signal: undefined });

/**
 * A circuit breaker: `execute` runs calls while closed, fails them fast while open, and lets a
 * bounded number of probes through while half-open. For callers that run the work themselves
 * (the Supervisor), `tryAcquire` + `record` do the same without wrapping the call.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ name: "geo-api", consecutiveFailures: 3, resetTimeoutMs: 10_000 });
 * const off = breaker.onTransition((t) => console.log(`${t.name}: ${t.from} -> ${t.to} (${t.reason})`));
 * const data = await breaker.execute(({ signal }) => fetch(url, { signal }), { signal });
 * off();
 * ```
 */
export class CircuitBreaker implements Disposable {
  readonly #name: string;
  readonly #threshold: number;
  readonly #maxProbes: number;
  readonly #resetTimeoutMs: number;
  readonly #isFailure: ((error: unknown) => boolean) | undefined;
  readonly #fallback: ((error: CircuitOpenError) => unknown) | undefined;
  readonly #clock: BreakerClock;
  // Started on first need: a breaker that never leaves `closed` (most of a swarm's) makes no actor.
  #actor: Actor<typeof breakerMachine> | undefined;
  readonly #inspect: CircuitBreakerOptions["inspect"];
  // Present only when a failure rate was configured (the closed path then reads the clock).
  readonly #window: FailureWindow | undefined;
  readonly #rateThreshold: number;
  readonly #minimumCalls: number;
  // The actor's state, kept current by the subscription; read on every call.
  #state: BreakerState = "closed";
  // Probes in flight while half-open: mirrors the actor's context.probes.
  #probes = 0;
  // Failures in a row while closed; reset by a success or a transition.
  #consecutive = 0;
  #failures = 0;
  #successes = 0;
  #rejected = 0;
  #opened = 0;
  #lastOpenedAt: number | undefined;
  readonly #listeners = new Set<(transition: BreakerTransition) => void>();

  /** @throws {InvalidOptionsError} when an option is invalid. */
  constructor(options: CircuitBreakerOptions = {}) {
    const parsed = parseFor(schema, options, "create circuit breaker");
    this.#name = parsed.name ?? "circuit";
    this.#threshold = parsed.consecutiveFailures ?? 5;
    this.#maxProbes = parsed.halfOpenMaxProbes ?? 1;
    this.#resetTimeoutMs = parsed.resetTimeoutMs ?? 30_000;
    this.#isFailure = parsed.isFailure;
    this.#fallback = parsed.fallback;
    this.#clock = parsed.clock ?? realClock;
    this.#window = parsed.failureRate === undefined ? undefined : new FailureWindow(parsed.failureRate.windowMs);
    this.#rateThreshold = parsed.failureRate?.threshold ?? 1;
    this.#minimumCalls = parsed.failureRate?.minimumCalls ?? 1;
    this.#inspect = options.inspect;
    // Watched: the inspector sees it from its first state on.
    if (options.inspect !== undefined) this.#machine();
  }

  /** The Breaker actor, created and started the first time it is needed. */
  #machine(): Actor<typeof breakerMachine> {
    if (this.#actor !== undefined) return this.#actor;
    const actor = createActor(breakerMachine, {
      clock: this.#clock,
      input: { consecutiveFailures: this.#threshold, resetTimeoutMs: this.#resetTimeoutMs, halfOpenMaxProbes: this.#maxProbes },
      ...(this.#inspect === undefined ? {} : { inspect: this.#inspect }),
    });
    this.#actor = actor;
    actor.subscribe((snapshot) => {
      this.#probes = snapshot.context.probes;
      const to = snapshot.value;
      if (to === this.#state) return;
      const from = this.#state;
      this.#state = to;
      this.#consecutive = 0;
      this.#window?.reset();
      const at = this.#clock.now();
      if (to === "open") {
        this.#opened += 1;
        this.#lastOpenedAt = at;
      }
      this.#emit({ name: this.#name, from, to, reason: snapshot.context.reason ?? "manual-reset", at });
    });
    actor.start();
    return actor;
  }

  /** The breaker's name. */
  get name(): string {
    return this.#name;
  }

  /** The current state. */
  get state(): BreakerState {
    return this.#state;
  }

  /** The Breaker actor, for inspection or to link into an actor tree. */
  get actor(): AnyActorRef {
    return this.#machine();
  }

  /** True when a call may run now: closed, or half-open with a probe slot free. No side effect. */
  isAllowed(): boolean {
    return this.#state === "closed" || this.canProbe();
  }

  /** True when half-open with a probe slot free (the Supervisor may send one probe task). */
  canProbe(): boolean {
    return this.#state === "halfOpen" && this.#probes < this.#maxProbes;
  }

  /**
   * Takes permission for one call the caller runs itself: true while closed; while half-open,
   * takes a probe slot if one is free; false while open. Follow with {@link record} (or
   * {@link release} if the call never ran).
   */
  tryAcquire(): boolean {
    if (this.#state === "closed") return true;
    if (!this.canProbe()) return false;
    this.#machine().send({ type: "breaker.probe.start" });
    return true;
  }

  /** Gives back a probe slot taken by {@link tryAcquire} for a call that never ran. */
  release(): void {
    if (this.#state === "halfOpen") this.#machine().send({ type: "breaker.probe.abandon" });
  }

  /** Records the outcome of a call the caller ran itself. */
  record(success: boolean): void {
    if (success) this.#onSuccess();
    else this.#onFailure();
  }

  /**
   * Runs `call` through the breaker.
   *
   * @param call the work; receives the caller's `signal`.
   * @param options `signal`: aborts the wait; an error after it aborted is not a failure.
   * @returns what `call` returns, or the `fallback`'s result while open.
   * @throws {CircuitOpenError} while open (or half-open with no probe slot free) and no `fallback`.
   */
  async execute<T>(call: (context: BreakerCallContext) => T | PromiseLike<T>, options?: { signal?: AbortSignal }): Promise<T> {
    const signal = options?.signal;
    if (signal !== undefined) signal.throwIfAborted();
    if (this.#state !== "closed") return this.#executeGuarded(call, signal);
    let value: T;
    try {
      value = await call(signal === undefined ? NO_SIGNAL : { signal });
    } catch (error) {
      if (this.#counts(error, signal)) this.#onFailure();
      throw error;
    }
    this.#onSuccess();
    return value;
  }

  /** The breaker's figures. */
  stats(): BreakerStats {
    return {
      state: this.#state,
      failures: this.#failures,
      successes: this.#successes,
      rejected: this.#rejected,
      consecutiveFailures: this.#consecutive,
      opened: this.#opened,
      lastOpenedAt: this.#lastOpenedAt,
    };
  }

  /**
   * Calls `listener` on every state change. A listener that throws is ignored.
   * @returns a function that unsubscribes (also a `Disposable`).
   */
  onTransition(listener: (transition: BreakerTransition) => void): Disposer {
    this.#listeners.add(listener);
    const dispose = (): void => {
      this.#listeners.delete(listener);
    };
    return Object.assign(dispose, { [Symbol.dispose]: dispose });
  }

  /** Opens the circuit now (e.g. an operator isolating a dependency). */
  trip(): void {
    this.#machine().send({ type: "breaker.trip", reason: "manual-trip" });
  }

  /** Closes the circuit now. */
  reset(): void {
    this.#machine().send({ type: "breaker.reset" });
  }

  /** Stops the actor (and its timer) and drops the listeners. */
  [Symbol.dispose](): void {
    this.#actor?.stop();
    this.#listeners.clear();
  }

  async #executeGuarded<T>(call: (context: BreakerCallContext) => T | PromiseLike<T>, signal: AbortSignal | undefined): Promise<T> {
    if (!this.canProbe()) return this.#reject();
    this.#machine().send({ type: "breaker.probe.start" });
    let value: T;
    try {
      value = await call(signal === undefined ? NO_SIGNAL : { signal });
    } catch (error) {
      if (this.#counts(error, signal)) this.#onFailure();
      else this.release();
      throw error;
    }
    this.#onSuccess();
    return value;
  }

  #reject<T>(): T {
    this.#rejected += 1;
    const error = this.#state === "open"
      ? new CircuitOpenError(this.#openMessage())
      : new CircuitOpenError(`Circuit "${this.#name}" is half-open and its ${this.#maxProbes} probe slot(s) are taken: the call fails fast`);
    if (this.#fallback === undefined) throw error;
    return this.#fallback(error) as T;
  }

  /** Why an open circuit refused a call, with how long it stays open as a duration. */
  #openMessage(): string {
    const openedAt = this.#lastOpenedAt ?? 0;
    const left = openedAt + this.#resetTimeoutMs - this.#clock.now();
    const when = left > 0 ? `for another ${durationText(left)}` : "until its next probe is let through";
    return `Circuit "${this.#name}" is open: calls fail fast ${when} (it opened ${durationText(this.#resetTimeoutMs - Math.max(left, 0))} ago; "resetTimeoutMs" is ${this.#resetTimeoutMs})`;
  }

  #counts(error: unknown, signal: AbortSignal | undefined): boolean {
    if (signal?.aborted === true) return false;
    if (this.#isFailure === undefined) return true;
    try {
      return this.#isFailure(error);
    } catch {
      return true; // a throwing predicate must not hide a failure
    }
  }

  #onSuccess(): void {
    this.#successes += 1;
    if (this.#state === "closed") {
      this.#consecutive = 0;
      if (this.#window !== undefined) this.#window.record(false, this.#clock.now());
    } else if (this.#state === "halfOpen") {
      this.#machine().send({ type: "breaker.success" });
    }
    // while open: the outcome of a call started before the trip changes nothing
  }

  #onFailure(): void {
    this.#failures += 1;
    if (this.#state === "closed") {
      this.#consecutive += 1;
      if (this.#consecutive >= this.#threshold) {
        this.#machine().send({ type: "breaker.trip", reason: "consecutive-failures" });
        return;
      }
      const window = this.#window;
      if (window !== undefined) {
        window.record(true, this.#clock.now());
        if (window.calls >= this.#minimumCalls && window.failures >= this.#rateThreshold * window.calls) {
          this.#machine().send({ type: "breaker.trip", reason: "failure-rate" });
        }
      }
    } else if (this.#state === "halfOpen") {
      this.#machine().send({ type: "breaker.failure" });
    }
  }

  #emit(transition: BreakerTransition): void {
    for (const listener of this.#listeners) {
      try {
        listener(transition);
      } catch {
        // a throwing listener never breaks the breaker
      }
    }
  }
}

/** A duration for a message: `850 ms`, `4.2 s`, `2.5 min`. */
function durationText(ms: number): string {
  if (ms < 1_000) return `${Math.ceil(ms)} ms`;
  if (ms < 60_000) return `${trimZero((ms / 1_000).toFixed(1))} s`;
  return `${trimZero((ms / 60_000).toFixed(1))} min`;
}

function trimZero(text: string): string {
  return text.endsWith(".0") ? text.slice(0, -2) : text;
}
