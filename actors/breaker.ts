/**
 * The Breaker actor: a circuit breaker's states, `closed → open → halfOpen → closed`.
 *
 * - `closed`: calls flow. `breaker.failure` counts consecutive failures (a `breaker.success`
 *   resets the count); reaching `consecutiveFailures` opens the circuit. `breaker.trip` opens it
 *   at once: the {@link CircuitBreaker} facade counts the closed path itself (an event per call
 *   would cost ~6 µs) and sends `breaker.trip` only when its counters say so.
 * - `open`: calls fail fast. After `resetTimeoutMs` (an `after` delay, so the actor clock, a
 *   `SimulatedClock` in tests and simulations, drives it) the circuit goes half-open.
 * - `halfOpen`: up to `halfOpenMaxProbes` probes may run (`breaker.probe.start` takes a slot,
 *   `breaker.probe.abandon` gives one back); one success closes the circuit, one failure opens it
 *   again for another `resetTimeoutMs`.
 *
 * `breaker.reset` closes the circuit from any state. The context says why the last transition
 * happened (`reason`), so observers can report it.
 *
 * @module
 */
import { assign, setup } from "xstate";

/** The states of a circuit breaker. */
export type BreakerState = "closed" | "open" | "halfOpen";

/** Why a breaker moved to its current state. */
export type BreakerReason =
  | "consecutive-failures"
  | "failure-rate"
  | "manual-trip"
  | "reset-timeout"
  | "probe-succeeded"
  | "probe-failed"
  | "manual-reset";

/** What a breaker machine starts from. */
export interface BreakerInput {
  /** Consecutive failures (while closed) that open the circuit. */
  consecutiveFailures: number;
  /** How long (ms, actor clock) the circuit stays open before letting probes through. */
  resetTimeoutMs: number;
  /** How many probes may run at once while half-open. */
  halfOpenMaxProbes: number;
}

/** A breaker machine's context. */
export interface BreakerContext extends BreakerInput {
  /** Consecutive failures counted by `breaker.failure` while closed. */
  consecutive: number;
  /** Probes running while half-open. */
  probes: number;
  /** Why the last transition happened; `undefined` before the first. */
  reason: BreakerReason | undefined;
  /** How many times the circuit has opened. */
  opened: number;
}

/** The events a breaker machine takes. */
export type BreakerEvent =
  | { type: "breaker.success" }
  | { type: "breaker.failure" }
  | { type: "breaker.trip"; reason: "consecutive-failures" | "failure-rate" | "manual-trip" }
  | { type: "breaker.probe.start" }
  | { type: "breaker.probe.abandon" }
  | { type: "breaker.reset" };

/** The circuit breaker machine. Create it with `createActor(breakerMachine, { input, clock })`. */
export const breakerMachine = setup({
  types: {
    context: {} as BreakerContext,
    events: {} as BreakerEvent,
    input: {} as BreakerInput,
  },
  delays: {
    resetTimeout: ({ context }) => context.resetTimeoutMs,
  },
  guards: {
    reachesThreshold: ({ context }) => context.consecutive + 1 >= context.consecutiveFailures,
    hasFreeProbe: ({ context }) => context.probes < context.halfOpenMaxProbes,
  },
  actions: {
    countFailure: assign({ consecutive: ({ context }) => context.consecutive + 1 }),
    clearFailures: assign({ consecutive: 0 }),
    takeProbe: assign({ probes: ({ context }) => context.probes + 1 }),
    returnProbe: assign({ probes: ({ context }) => Math.max(0, context.probes - 1) }),
    markOpened: assign({ opened: ({ context }) => context.opened + 1, consecutive: 0, probes: 0 }),
  },
}).createMachine({
  id: "breaker",
  context: ({ input }) => ({ ...input, consecutive: 0, probes: 0, reason: undefined, opened: 0 }),
  initial: "closed",
  on: {
    "breaker.reset": { target: ".closed", actions: assign({ reason: "manual-reset" }) },
  },
  states: {
    closed: {
      entry: assign({ consecutive: 0, probes: 0 }),
      on: {
        "breaker.success": { actions: "clearFailures" },
        "breaker.failure": [
          { guard: "reachesThreshold", target: "open", actions: assign({ reason: "consecutive-failures" }) },
          { actions: "countFailure" },
        ],
        "breaker.trip": { target: "open", actions: assign({ reason: ({ event }) => event.reason }) },
      },
    },
    open: {
      entry: "markOpened",
      after: {
        resetTimeout: { target: "halfOpen", actions: assign({ reason: "reset-timeout" }) },
      },
      on: {
        "breaker.trip": {}, // already open; the timer keeps running
      },
    },
    halfOpen: {
      entry: assign({ probes: 0 }),
      on: {
        "breaker.probe.start": { guard: "hasFreeProbe", actions: "takeProbe" },
        "breaker.probe.abandon": { actions: "returnProbe" },
        "breaker.success": { target: "closed", actions: assign({ reason: "probe-succeeded" }) },
        "breaker.failure": { target: "open", actions: assign({ reason: "probe-failed" }) },
        "breaker.trip": { target: "open", actions: assign({ reason: ({ event }) => event.reason }) },
      },
    },
  },
});
