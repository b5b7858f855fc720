/**
 * The Cache actor: the lifecycle of the hive's result cache (systemId `cache`).
 *
 * - `loading`: warms the cache from its store (the invoked `warm` actor); a failed warm-up is
 *   recorded and the cache starts empty rather than not at all.
 * - `ready`: serving. `cache.flush` persists; `cache.close` persists and then closes.
 * - `flushing`: the invoked `persist` actor writes what changed since the last flush. A flush
 *   asked for meanwhile runs right after, so nothing written before the request is missed.
 * - `closed`: final.
 *
 * Reads and writes do not go through the actor (an event per cache hit would cost ~6 µs): the
 * {@link ResultCache} facade serves them from plain code and uses the actor for the I/O
 * lifecycle only. The facade supplies `warm` and `persist` with `cacheMachine.provide(...)`.
 *
 * @module
 */
import { assign, fromPromise, setup } from "xstate";

/** What the `warm` actor reports. */
export interface CacheWarmResult {
  /** Entries loaded into memory. */
  loaded: number;
  /** Records skipped: expired, unreadable or corrupt. */
  skipped: number;
}

/** What the `persist` actor reports. */
export interface CachePersistResult {
  /** Entries written. */
  written: number;
  /** Entries deleted from the store. */
  deleted: number;
}

/** The Cache actor's context. */
export interface CacheContext {
  /** Result of the warm-up, once done. */
  warm: CacheWarmResult | undefined;
  /** Flushes completed (successfully or not). */
  flushes: number;
  /** A flush was asked for while one was running: run another. */
  flushRequested: boolean;
  /** `cache.close` was received: close after the next flush. */
  closing: boolean;
  /** The last warm-up or flush error, with the flush number it belongs to (0: warm-up). */
  lastError: { flush: number; error: unknown } | undefined;
}

/** The events the Cache actor takes. */
export type CacheActorEvent = { type: "cache.flush" } | { type: "cache.close" };

/** The Cache machine. Provide `warm` and `persist` before creating an actor from it. */
export const cacheMachine = setup({
  types: {
    context: {} as CacheContext,
    events: {} as CacheActorEvent,
  },
  actors: {
    warm: fromPromise<CacheWarmResult>(async () => ({ loaded: 0, skipped: 0 })),
    persist: fromPromise<CachePersistResult>(async () => ({ written: 0, deleted: 0 })),
  },
  guards: {
    closing: ({ context }) => context.closing,
    flushRequested: ({ context }) => context.flushRequested,
    mustFlush: ({ context }) => context.closing || context.flushRequested,
  },
  actions: {
    requestClose: assign({ closing: true }),
    requestFlush: assign({ flushRequested: true }),
    countFlush: assign({ flushes: ({ context }) => context.flushes + 1 }),
    // Runs after countFlush, so `flushes` is already this flush's number.
    recordFlushError: assign({ lastError: ({ context, event }) => ({ flush: context.flushes, error: (event as { error?: unknown }).error }) }),
  },
}).createMachine({
  id: "cache",
  initial: "loading",
  context: { warm: undefined, flushes: 0, flushRequested: false, closing: false, lastError: undefined },
  states: {
    loading: {
      invoke: {
        src: "warm",
        onDone: { target: "ready", actions: assign({ warm: ({ event }) => event.output }) },
        onError: { target: "ready", actions: assign({ lastError: ({ event }) => ({ flush: 0, error: event.error }) }) },
      },
      on: {
        "cache.flush": { actions: "requestFlush" },
        "cache.close": { actions: "requestClose" },
      },
    },
    ready: {
      always: { guard: "mustFlush", target: "flushing" },
      on: {
        "cache.flush": { target: "flushing" },
        "cache.close": { target: "flushing", actions: "requestClose" },
      },
    },
    flushing: {
      entry: assign({ flushRequested: false }),
      invoke: {
        src: "persist",
        // A flush asked for during this one (close included) runs next; then the cache closes.
        onDone: [
          { guard: "flushRequested", target: "ready", actions: "countFlush" },
          { guard: "closing", target: "closed", actions: "countFlush" },
          { target: "ready", actions: "countFlush" },
        ],
        onError: [
          { guard: "flushRequested", target: "ready", actions: ["countFlush", "recordFlushError"] },
          { guard: "closing", target: "closed", actions: ["countFlush", "recordFlushError"] },
          { target: "ready", actions: ["countFlush", "recordFlushError"] },
        ],
      },
      on: {
        "cache.flush": { actions: "requestFlush" },
        "cache.close": { actions: ["requestClose", "requestFlush"] },
      },
    },
    closed: { type: "final" },
  },
});
