/**
 * Per-kind dispatch limits: at most `max` attempts of a kind start on an agent in any window of
 * `perMs` on the hive clock. The Supervisor asks a kind's {@link DispatchWindow} before it places
 * an attempt of that kind and tells it of each placement; tasks of a kind whose window is full
 * stay queued (the ready queue passes over them) until a timer on the hive clock frees it.
 *
 * @module
 */

/** One kind's limit: at most `max` dispatches in any window of `perMs` ms. */
export interface KindLimit {
  max: number;
  perMs: number;
}

/** Kind → its dispatch limit (the hive's `limits` option). */
export type KindLimits = Record<string, KindLimit>;

/** The sliding window of one kind's recent dispatches. */
export class DispatchWindow {
  readonly kind: string;
  readonly max: number;
  readonly perMs: number;
  /** Times of the last `max` dispatches, a ring: once full, `#times[#next]` is the oldest. */
  readonly #times: Float64Array;
  #next = 0;
  /** Entries of `#times` in use (up to `max`). */
  #count = 0;
  /** When the Supervisor's wake-up for this kind is due (hive clock, ms); undefined when none is set. */
  wakeAt: number | undefined;

  constructor(kind: string, limit: KindLimit) {
    this.kind = kind;
    this.max = limit.max;
    this.perMs = limit.perMs;
    this.#times = new Float64Array(limit.max);
  }

  /** True when one more dispatch at `at` keeps every window of `perMs` within `max`. */
  allows(at: number): boolean {
    return this.#count < this.max || this.#times[this.#next]! + this.perMs <= at;
  }

  /** The earliest time, at or after `at`, a dispatch is allowed. */
  freeAt(at: number): number {
    return this.#count < this.max ? at : Math.max(at, this.#times[this.#next]! + this.perMs);
  }

  /** Counts a dispatch at `at`. */
  record(at: number): void {
    this.#times[this.#next] = at;
    this.#next = (this.#next + 1) % this.max;
    if (this.#count < this.max) this.#count++;
  }

  /** Plain data for the inspector. */
  toJSON(): { kind: string; max: number; perMs: number; recent: number } {
    return { kind: this.kind, max: this.max, perMs: this.perMs, recent: this.#count };
  }
}

/** The windows of a hive's limits, or undefined without any (the Supervisor's fast path). */
export function dispatchWindows(limits: KindLimits | undefined): Map<string, DispatchWindow> | undefined {
  if (limits === undefined) return undefined;
  const kinds = Object.keys(limits);
  if (kinds.length === 0) return undefined;
  return new Map(kinds.map((kind) => [kind, new DispatchWindow(kind, limits[kind]!)]));
}
