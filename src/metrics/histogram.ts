/**
 * A bounded log-linear histogram (the layout HDR histograms use): each power of two is split
 * into `2^subBucketBits` equal buckets, so any quantile it reports is within a relative error of
 * `2^-(subBucketBits+1)` of a recorded value (1.6 % at the default 5 bits), whatever the range.
 * Recording is a few arithmetic operations on the float's bits and one array increment; memory
 * is bounded (at most 64 powers of two × 32 buckets × 8 bytes = 16 KiB, usually far less, since
 * the counts cover only the range of values seen).
 *
 * @module
 */
import { describeValue, InvalidOptionsError } from "../core/errors.ts";

// Powers of two covered: values below 2^MIN_EXP count as zero, values at or above 2^(MAX_EXP+1)
// count in the top bucket (min/max/sum stay exact either way).
const MIN_EXP = -24;
const MAX_EXP = 39;
const EXP_BIAS = 1023;

// One scratch float and a view of its high 32 bits (sign, 11 exponent bits, 20 mantissa bits).
const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);
const HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** A summary of a histogram: plain numbers, JSON-safe (NaN becomes `null` only via JSON). */
export interface HistogramSummary {
  /** Values recorded. */
  count: number;
  /** Sum of the values recorded (exact). */
  sum: number;
  /** `sum / count`, or 0 when empty. */
  mean: number;
  /** Smallest value recorded (exact), or 0 when empty. */
  min: number;
  /** Largest value recorded (exact), or 0 when empty. */
  max: number;
  /** Median, within the histogram's relative error; 0 when empty. */
  p50: number;
  /** 95th percentile; 0 when empty. */
  p95: number;
  /** 99th percentile; 0 when empty. */
  p99: number;
}

/** Options of {@link LogHistogram}. */
export interface LogHistogramOptions {
  /**
   * Buckets per power of two, as a power of two: relative error ≤ 2^-(bits+1). From 1 to 8.
   * @default 5
   */
  subBucketBits?: number;
}

/**
 * A histogram of non-negative numbers with bounded memory and bounded relative error.
 * Negative and NaN values are ignored (they are not latencies).
 *
 * @example
 * ```ts
 * const h = new LogHistogram();
 * for (const ms of [1, 2, 3, 100]) h.record(ms);
 * h.quantile(0.5); // ≈ 2
 * ```
 */
export class LogHistogram {
  readonly #bits: number;
  // counts[i] counts bucket (i + #offset); bucket 0 is "below 2^MIN_EXP" (zero included).
  #counts: Float64Array = new Float64Array(0);
  #offset = 0;
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;

  /** @throws {InvalidOptionsError} when `options` is not an object or `subBucketBits` is out of range */
  constructor(options: LogHistogramOptions = {}) {
    if (options === null || typeof options !== "object") throw new InvalidOptionsError(`Cannot create log histogram: options must be an object { subBucketBits }, received ${describeValue(options)}`);
    const bits = options.subBucketBits ?? 5;
    if (!Number.isInteger(bits) || bits < 1 || bits > 8) {
      throw new InvalidOptionsError(`Cannot create log histogram: "subBucketBits" must be an integer from 1 to 8, received ${describeValue(bits)}`);
    }
    this.#bits = bits;
  }

  /** Records one value (cheap: no allocation once its range is covered). */
  record(value: number): void {
    if (!(value >= 0)) return;
    const index = this.#indexOf(value);
    let slot = index - this.#offset;
    if (slot < 0 || slot >= this.#counts.length) slot = this.#grow(index);
    this.#counts[slot]! += 1;
    this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** Values recorded. */
  get count(): number {
    return this.#count;
  }

  /** Sum of the values recorded. */
  get sum(): number {
    return this.#sum;
  }

  /**
   * The value below which a fraction `q` of the recorded values lie (0 ≤ q ≤ 1), within the
   * relative error; exact at 0 (min) and 1 (max). 0 when empty.
   */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    if (q <= 0) return this.#min;
    if (q >= 1) return this.#max;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    const counts = this.#counts;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i] as number;
      if (seen >= rank) {
        const value = this.#middleOf(i + this.#offset);
        return Math.min(this.#max, Math.max(this.#min, value));
      }
    }
    return this.#max;
  }

  /** count, sum, mean, min, max, p50, p95, p99. */
  summary(): HistogramSummary {
    const empty = this.#count === 0;
    return {
      count: this.#count,
      sum: this.#sum,
      mean: empty ? 0 : this.#sum / this.#count,
      min: empty ? 0 : this.#min,
      max: empty ? 0 : this.#max,
      p50: this.quantile(0.5),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
    };
  }

  /**
   * Adds every value recorded in `other` (same `subBucketBits`) to this histogram.
   * @throws {InvalidOptionsError} when `other` is not a LogHistogram or its `subBucketBits` differ
   */
  merge(other: LogHistogram): void {
    if (typeof other !== "object" || other === null || !(#bits in other)) throw new InvalidOptionsError(`Cannot merge histograms: "other" must be a LogHistogram, received ${describeValue(other)}`);
    if (other.#bits !== this.#bits) {
      throw new InvalidOptionsError(`Cannot merge histograms: "other.subBucketBits" must equal this one's (${this.#bits}), received ${other.#bits}`);
    }
    if (other.#count === 0) return;
    const counts = other.#counts;
    for (let i = 0; i < counts.length; i++) {
      const n = counts[i] as number;
      if (n === 0) continue;
      const index = i + other.#offset;
      let slot = index - this.#offset;
      if (slot < 0 || slot >= this.#counts.length) slot = this.#grow(index);
      this.#counts[slot]! += n;
    }
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /** Forgets every value. */
  reset(): void {
    this.#counts = new Float64Array(0);
    this.#offset = 0;
    this.#count = 0;
    this.#sum = 0;
    this.#min = Infinity;
    this.#max = -Infinity;
  }

  /** Bytes held by the bucket counts (for tests and capacity notes). */
  get bucketBytes(): number {
    return this.#counts.byteLength;
  }

  #indexOf(value: number): number {
    scratch[0] = value;
    const high = scratchWords[HIGH] as number;
    const exponent = ((high >>> 20) & 0x7ff) - EXP_BIAS;
    if (exponent < MIN_EXP) return 0;
    const bits = this.#bits;
    if (exponent > MAX_EXP) return (MAX_EXP - MIN_EXP + 1) << bits;
    const sub = (high >>> (20 - bits)) & ((1 << bits) - 1);
    return (((exponent - MIN_EXP) << bits) | sub) + 1;
  }

  /** Representative value of bucket `index`: the middle of its range (0 for the zero bucket). */
  #middleOf(index: number): number {
    if (index === 0) return 0;
    const bits = this.#bits;
    const j = index - 1;
    const exponent = (j >> bits) + MIN_EXP;
    const sub = j & ((1 << bits) - 1);
    return 2 ** exponent * (1 + (sub + 0.5) / (1 << bits));
  }

  /** Widens the counts to cover `index` (with slack, so growth is rare); returns its slot. */
  #grow(index: number): number {
    const old = this.#counts;
    const total = ((MAX_EXP - MIN_EXP + 1) << this.#bits) + 1;
    const slack = 1 << this.#bits;
    let low = old.length === 0 ? index : Math.min(this.#offset, index);
    let high = old.length === 0 ? index : Math.max(this.#offset + old.length - 1, index);
    low = Math.max(0, low - slack);
    high = Math.min(total - 1, high + slack);
    const counts = new Float64Array(high - low + 1);
    if (old.length > 0) counts.set(old, this.#offset - low);
    this.#counts = counts;
    this.#offset = low;
    return index - low;
  }
}
