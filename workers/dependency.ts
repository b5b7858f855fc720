/**
 * The worker side of named dependency breakers. The breaker lives on the main thread (its one
 * owner); a thread reads its state lock-free from a SharedArrayBuffer the main thread mirrors
 * every transition into (see {@link DEP_LAYOUT}), so an open circuit fails fast in the thread
 * with no message. Outcomes travel back with the attempt's outcome ({@link DependencyReport}),
 * and the main thread records them. Half-open: a thread takes one of the shared probe tokens
 * with `Atomics.compareExchange`, so the probe bound holds across every thread.
 *
 * Imports nothing from `actors/` or `src/`.
 *
 * @module
 */
import { DEP_LAYOUT, DEP_STATE, type DependencyCallResult, type DependencyReport } from "./protocol.ts";
import { acquireRate, RateRequests, RateWindows } from "./rate-window.ts";

/** A dependency's breaker state as a thread sees it. */
export type DependencyState = "closed" | "open" | "halfOpen";

/** Options of {@link WorkerDependency.call}. */
export interface DependencyCallOptions<T> {
  /** Called instead of failing fast while the circuit is open. */
  fallback?: (error: Error) => T | Promise<T>;
}

/** A named dependency guarded by the main thread's breaker, as a handler uses it. */
export interface WorkerDependency {
  /** Its name (as given to `hive.dependency` on the main thread). */
  readonly name: string;
  /** The breaker's state now (read from shared memory). */
  readonly state: DependencyState;
  /**
   * Runs `fn` unless the circuit is open: then the fallback's result, or an error with
   * `code` `CIRCUIT_OPEN`. Under a rate limit it first waits for a call of the window (or fails
   * with `code` `RATE_LIMITED` when the limit does not wait). The outcome is reported to the main
   * thread with the attempt's outcome.
   */
  call<T>(fn: () => T | Promise<T>, options?: DependencyCallOptions<T>): Promise<T>;
}

const STATES: readonly DependencyState[] = ["closed", "open", "halfOpen"];

/** Reads the shared dependency-state buffer. One per thread. */
export class DependencyMirror {
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  // Slot by name, as of #version; re-read when the main thread registers a dependency.
  #slots = new Map<string, number>();
  #version = 0;
  /** The rate limits beside the states (absent in a buffer from before they existed). */
  readonly rates: RateWindows | null;
  /** Asks the main thread for calls of limits counted beyond this process (a worker node's); null without a rate channel. */
  readonly elsewhere: RateRequests | null;

  constructor(buffer: SharedArrayBuffer, rateChannel: string | null = null) {
    this.rates = buffer.byteLength > DEP_LAYOUT.bytes ? new RateWindows(buffer) : null;
    this.elsewhere = rateChannel === null ? null : new RateRequests(rateChannel);
    this.#words = new Int32Array(buffer, 0, DEP_LAYOUT.namesAt / 4);
    this.#bytes = new Uint8Array(buffer, DEP_LAYOUT.namesAt, DEP_LAYOUT.NAME_BYTES);
  }

  /** The slot of `name`, or -1 when no dependency of that name is registered. */
  slotOf(name: string): number {
    const version = Atomics.load(this.#words, 0);
    if (version !== this.#version) this.#reload();
    return this.#slots.get(name) ?? -1;
  }

  #reload(): void {
    for (;;) {
      const before = Atomics.load(this.#words, 0);
      if ((before & 1) === 1) continue; // the main thread is rewriting the names
      const length = Atomics.load(this.#words, 1);
      const copy = this.#bytes.slice(0, length); // a non-shared copy TextDecoder accepts
      if (Atomics.load(this.#words, 0) !== before) continue;
      const names = length === 0 ? [] : (JSON.parse(new TextDecoder().decode(copy)) as string[]);
      this.#slots = new Map(names.map((n, i) => [n, i]));
      this.#version = before;
      return;
    }
  }

  /** The state of `slot`. */
  state(slot: number): DependencyState {
    return STATES[Atomics.load(this.#words, DEP_LAYOUT.SLOTS_AT + slot * DEP_LAYOUT.WORDS_PER_SLOT)] ?? "closed";
  }

  /** Takes a half-open probe token of `slot`; false when none is free. */
  takeProbe(slot: number): boolean {
    const at = DEP_LAYOUT.SLOTS_AT + slot * DEP_LAYOUT.WORDS_PER_SLOT;
    const max = Atomics.load(this.#words, at + 2);
    for (;;) {
      if (Atomics.load(this.#words, at) !== DEP_STATE.halfOpen) return false;
      const taken = Atomics.load(this.#words, at + 1);
      if (taken >= max) return false;
      if (Atomics.compareExchange(this.#words, at + 1, taken, taken + 1) === taken) return true;
    }
  }
}

function circuitOpen(name: string, state: DependencyState): Error {
  const error = new Error(
    state === "open"
      ? `Circuit "${name}" is open: the call fails fast in the worker thread`
      : `Circuit "${name}" is half-open and its probe slot(s) are taken: the call fails fast in the worker thread`,
  );
  error.name = "CircuitOpenError";
  (error as Error & { code: string }).code = "CIRCUIT_OPEN";
  return error;
}

/**
 * The dependency handle `ctx.dependency(name)` returns; its calls append to `reports`.
 * @throws Error when no dependency of that name is registered on the main thread
 */
export function workerDependency(mirror: DependencyMirror | null, name: string, reports: DependencyReport[]): WorkerDependency {
  const slot = mirror === null ? -1 : mirror.slotOf(name);
  if (mirror === null || slot < 0) {
    const error = new Error(`Unknown dependency ${JSON.stringify(name)}: register it on the main thread with hive.dependency(${JSON.stringify(name)}, fn, options) before tasks use it`);
    (error as Error & { code: string }).code = "INVALID_OPTIONS";
    throw error;
  }
  const report = (result: DependencyCallResult): void => {
    reports.push([slot, result]);
  };
  return {
    name,
    get state() {
      return mirror.state(slot);
    },
    async call<T>(fn: () => T | Promise<T>, options?: DependencyCallOptions<T>): Promise<T> {
      const state = mirror.state(slot);
      let probe = false;
      if (state !== "closed") {
        probe = mirror.takeProbe(slot);
        if (!probe) {
          report("rejected");
          const error = circuitOpen(name, state);
          if (options?.fallback === undefined) throw error;
          return options.fallback(error);
        }
      }
      // A rate limit (set on the main thread) counts this call with every other thread's — and,
      // on a worker node, with every node's and the coordinator's (asked of the main thread).
      const waiting = mirror.rates === null ? undefined : acquireRate(mirror.rates, slot, name, undefined, undefined, mirror.elsewhere?.take ?? null);
      if (waiting !== undefined) await waiting;
      try {
        const value = await fn();
        report(probe ? "probe-ok" : "ok");
        return value;
      } catch (error) {
        report(probe ? "probe-fail" : "fail");
        throw error;
      }
    },
  };
}
