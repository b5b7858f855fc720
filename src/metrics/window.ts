/**
 * A histogram of the last minutes: a ring of {@link LogHistogram}s, one per time slot, so that
 * "p95 over the last 5 minutes" costs one record per value and a merge of at most `slots`
 * histograms per read, in bounded memory whatever the run's length. Time is whatever clock the
 * caller stamps values with (the hive clock: virtual in simulations).
 *
 * @example
 * ```ts
 * const recent = new WindowedHistogram({ windowMs: 300_000, slots: 30 });
 * recent.record(0.012, clock.now());
 * recent.summary(clock.now()).p95;
 * ```
 *
 * @module
 */
import { describeValue, InvalidOptionsError } from "../core/errors.ts";
import { type HistogramSummary, LogHistogram } from "./histogram.ts";

/** Options of {@link WindowedHistogram}. */
export interface WindowedHistogramOptions {
  /** How far back the histogram reaches, in ms. @default 300000 (5 minutes) */
  windowMs?: number;
  /** Slots the window is cut into: it moves on one slot (`windowMs / slots`) at a time. @default 30 */
  slots?: number;
}

/** A {@link HistogramSummary} of the window, with the span it covers. */
export interface WindowSummary extends HistogramSummary {
  /** The window's length, ms. */
  windowMs: number;
}

/** Values of the last `windowMs`, by slot. */
export class WindowedHistogram {
  /** The window's length, ms. */
  readonly windowMs: number;
  readonly #slotMs: number;
  readonly #histograms: LogHistogram[];
  // which slot number (floor(at / slotMs)) each histogram holds now; -1 when empty.
  readonly #epochs: Float64Array;

  /** @throws {InvalidOptionsError} When `options` is not an object, or `windowMs` or `slots` is not a positive integer. */
  constructor(options: WindowedHistogramOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new InvalidOptionsError(`Cannot create windowed histogram: options must be an object { windowMs, slots }, received ${describeValue(options)}`);
    }
    const windowMs = options.windowMs ?? 300_000;
    const slots = options.slots ?? 30;
    if (!Number.isInteger(windowMs) || windowMs <= 0) throw new InvalidOptionsError(`Cannot create windowed histogram: "windowMs" must be a positive integer, received ${describeValue(windowMs)}`);
    if (!Number.isInteger(slots) || slots <= 0 || slots > 1_000) {
      throw new InvalidOptionsError(`Cannot create windowed histogram: "slots" must be an integer from 1 to 1000, received ${describeValue(slots)}`);
    }
    this.windowMs = windowMs;
    this.#slotMs = windowMs / slots;
    this.#histograms = Array.from({ length: slots }, () => new LogHistogram());
    this.#epochs = new Float64Array(slots).fill(-1);
  }

  /** Records `value` at time `at` (ms). A value older than the window is ignored. */
  record(value: number, at: number): void {
    const epoch = Math.floor(at / this.#slotMs);
    const i = epoch % this.#histograms.length;
    const held = this.#epochs[i] as number;
    if (held !== epoch) {
      if (held > epoch) return; // the slot already holds a later time: this value is too old
      this.#histograms[i]!.reset();
      this.#epochs[i] = epoch;
    }
    this.#histograms[i]!.record(value);
  }

  /** The values recorded in the window that ends at `now` (ms). */
  summary(now: number): WindowSummary {
    const last = Math.floor(now / this.#slotMs);
    const first = last - this.#histograms.length + 1;
    const all = new LogHistogram();
    for (let i = 0; i < this.#histograms.length; i++) {
      const epoch = this.#epochs[i] as number;
      if (epoch >= first && epoch <= last) all.merge(this.#histograms[i]!);
    }
    return { ...all.summary(), windowMs: this.windowMs };
  }
}
