/**
 * A rolling window of call outcomes, in ten buckets: the failure rate over roughly the last
 * `windowMs` milliseconds, at the cost of a few array writes per call.
 *
 * @module
 */

const BUCKETS = 10;

/** Counts calls and failures over a rolling time window. Time comes from the caller. */
export class FailureWindow {
  readonly #bucketMs: number;
  // Per bucket (slot = bucket number mod BUCKETS): calls and failures recorded in it.
  readonly #calls = new Float64Array(BUCKETS);
  readonly #failures = new Float64Array(BUCKETS);
  // Bucket number (time / bucketMs) of the newest bucket; older slots hold older buckets.
  #current = Number.NEGATIVE_INFINITY;
  // Sums over every slot: always equal to the sums of #calls and #failures.
  #totalCalls = 0;
  #totalFailures = 0;

  /** @param windowMs the window's length in milliseconds. */
  constructor(windowMs: number) {
    this.#bucketMs = Math.max(1, windowMs / BUCKETS);
  }

  /** Calls recorded in the window as of the last {@link record}. */
  get calls(): number {
    return this.#totalCalls;
  }

  /** Failures recorded in the window as of the last {@link record}. */
  get failures(): number {
    return this.#totalFailures;
  }

  /** Records one outcome at time `now` (ms) and drops buckets that fell out of the window. */
  record(failed: boolean, now: number): void {
    let bucket = Math.floor(now / this.#bucketMs);
    // A clock that went back keeps counting in the newest bucket.
    if (bucket > this.#current) this.#advance(bucket);
    else bucket = this.#current;
    const slot = slotOf(bucket);
    this.#calls[slot]! += 1;
    this.#totalCalls += 1;
    if (failed) {
      this.#failures[slot]! += 1;
      this.#totalFailures += 1;
    }
  }

  /** Forgets everything. */
  reset(): void {
    this.#calls.fill(0);
    this.#failures.fill(0);
    this.#totalCalls = 0;
    this.#totalFailures = 0;
    this.#current = Number.NEGATIVE_INFINITY;
  }

  #advance(bucket: number): void {
    const steps = Math.min(BUCKETS, bucket - this.#current);
    for (let i = 1; i <= steps; i++) {
      const slot = slotOf(bucket - steps + i);
      this.#totalCalls -= this.#calls[slot]!;
      this.#totalFailures -= this.#failures[slot]!;
      this.#calls[slot] = 0;
      this.#failures[slot] = 0;
    }
    this.#current = bucket;
  }
}

function slotOf(bucket: number): number {
  return ((bucket % BUCKETS) + BUCKETS) % BUCKETS;
}
