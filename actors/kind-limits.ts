/**
 * Per-kind dispatch limits: at most `max` attempts of a kind start in any window of `perMs` on the
 * hive clock. The Supervisor asks a kind's {@link DispatchWindow} before it places an attempt of
 * that kind and tells it of each placement and each start; tasks of a kind whose window is full
 * stay queued (the ready queue passes over them) until a timer on the hive clock, or a start or
 * end reported, frees it.
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

/**
 * The sliding window of one kind's recent starts. A window of `perMs` may hold at most `max`
 * starts, so an attempt is placed only while fewer than `max` are counted: the starts within the
 * last `perMs`, plus the attempts placed whose start is not known yet (`pending`: on a backend that
 * reports starts, an attempt starts some time after its placement — on a thread that frees, on a
 * worker node across Redis — and until its start is reported it counts as starting any moment).
 * Counting the reported starts rather than the placements keeps the limit on the times the
 * attempts began, however long they took to get there. Where placement is the start (inline,
 * simulated) a placement is recorded as a start at once.
 */
export class DispatchWindow {
  readonly kind: string;
  readonly max: number;
  readonly perMs: number;
  /** The latest `max` start times, ascending from `#head` (a ring of `#count` entries). */
  readonly #times: Float64Array;
  #head = 0;
  /** Entries of `#times` in use (up to `max`). */
  #count = 0;
  /** Attempts placed whose start has not been reported (and that have not ended). */
  #pending = 0;
  /** When the Supervisor's wake-up for this kind is due (hive clock, ms); undefined when none is set. */
  wakeAt: number | undefined;

  constructor(kind: string, limit: KindLimit) {
    this.kind = kind;
    this.max = limit.max;
    this.perMs = limit.perMs;
    this.#times = new Float64Array(limit.max);
  }

  /** Attempts placed whose start is not known yet. */
  get pending(): number {
    return this.#pending;
  }

  /** True when one more attempt placed at `at` keeps every window of `perMs` within `max` starts. */
  allows(at: number): boolean {
    const free = this.max - this.#pending;
    if (free <= 0) return false;
    // Fewer than `free` starts after at − perMs: the one `free` places from the newest is out of it.
    return this.#count < free || this.#at(this.#count - free) + this.perMs <= at;
  }

  /**
   * The earliest time, at or after `at`, an attempt may be placed; undefined while the attempts
   * placed and not yet started fill the window (a reported start or an end decides then).
   */
  freeAt(at: number): number | undefined {
    const free = this.max - this.#pending;
    if (free <= 0) return undefined;
    return this.#count < free ? at : Math.max(at, this.#at(this.#count - free) + this.perMs);
  }

  /** Counts an attempt that started when it was placed, at `at`. */
  record(at: number): void {
    this.#insert(at);
  }

  /** Counts an attempt placed whose start will be reported ({@link started}, or {@link unstarted} if it never starts). */
  placed(): void {
    this.#pending++;
  }

  /** A placed attempt started at `at`. */
  started(at: number): void {
    if (this.#pending > 0) this.#pending--;
    this.#insert(at);
  }

  /** A placed attempt ended without starting (cancelled while it waited for a thread, say). */
  unstarted(): void {
    if (this.#pending > 0) this.#pending--;
  }

  /** The `i`-th oldest start kept. */
  #at(i: number): number {
    return this.#times[(this.#head + i) % this.max]!;
  }

  /**
   * Keeps `at` among the latest `max` starts, in order. Starts arrive almost in order (O(1));
   * one older than every start kept, with the ring full, changes no answer and is dropped.
   */
  #insert(at: number): void {
    const times = this.#times;
    const max = this.max;
    if (this.#count === max) {
      if (at <= times[this.#head]!) return;
      this.#head = (this.#head + 1) % max;
      this.#count--;
    }
    let i = this.#count;
    while (i > 0 && this.#at(i - 1) > at) {
      times[(this.#head + i) % max] = this.#at(i - 1);
      i--;
    }
    times[(this.#head + i) % max] = at;
    this.#count++;
  }

  /** Plain data for the inspector. */
  toJSON(): { kind: string; max: number; perMs: number; recent: number; pending: number } {
    return { kind: this.kind, max: this.max, perMs: this.perMs, recent: this.#count, pending: this.#pending };
  }
}

/** The windows of a hive's limits, or undefined without any (the Supervisor's fast path). */
export function dispatchWindows(limits: KindLimits | undefined): Map<string, DispatchWindow> | undefined {
  if (limits === undefined) return undefined;
  const kinds = Object.keys(limits);
  if (kinds.length === 0) return undefined;
  return new Map(kinds.map((kind) => [kind, new DispatchWindow(kind, limits[kind]!)]));
}
