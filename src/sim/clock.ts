/**
 * The virtual clock simulations run on: `now`, `setTimeout` and `clearTimeout` over a binary
 * heap of timers, advanced by the driver from one due time to the next. It has the shape of
 * XState's `SimulatedClock` (what the hive's `clock` option takes), but `SimulatedClock` sorts
 * every pending timer on each advance, which a simulation with thousands of timers cannot afford:
 * here setting a timer is O(log n), clearing one O(1) (it is marked dead and skipped when it
 * surfaces), and firing the next one O(log n).
 *
 * Timers due at the same time fire in the order they were set, so a run is reproducible.
 *
 * @module
 */
import type { HiveClock } from "../core/clock.ts";

/** A pending timer. Its handle is the object itself. */
interface Timer {
  at: number;
  /** Order of creation: breaks ties between timers due at the same time. */
  seq: number;
  /** Null once cleared or fired. */
  fn: (() => void) | null;
}

/** A clock whose time moves only when {@link VirtualClock.fireNext} says so. */
export class VirtualClock implements HiveClock {
  /** Timers fall due on multiples of this many ms (0: exactly when asked). */
  readonly #resolutionMs: number;
  /** Min-heap on (at, seq); may hold dead (cleared) timers, skipped when they reach the top. */
  #heap: Timer[] = [];
  /** Dead timers still in the heap: compacted away when they outnumber the live ones. */
  #dead = 0;
  #now = 0;
  #seq = 0;
  #cleared = 0;
  /** Timers fired since creation. */
  fired = 0;
  /** Wall time at virtual 0, epoch ms (what cron schedules read). */
  readonly epochMs: number | undefined;

  /**
   * @param resolutionMs timers fall due on the nearest multiple of this many ms (never before
   *   now), so events close in time happen together and the hive handles them in one batch, as
   *   a live hive does within one tick of its timers. 0 keeps every time exact. @default 0
   * @param epochMs wall time at virtual 0, epoch ms. @default none (the hive takes the real time)
   */
  constructor(resolutionMs = 0, epochMs?: number) {
    this.#resolutionMs = resolutionMs > 0 ? resolutionMs : 0;
    this.epochMs = epochMs;
  }

  /** Current virtual time, ms. */
  now(): number {
    return this.#now;
  }

  /** Calls `fn` once, `ms` of virtual time from now (at once on the next step if `ms` ≤ 0). */
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown {
    const delay = ms > 0 ? ms : 0;
    const res = this.#resolutionMs;
    let at = this.#now + delay;
    if (res > 0) {
      at = Math.round(at / res) * res;
      if (at < this.#now) at = this.#now;
    }
    const timer: Timer = { at, seq: this.#seq++, fn: fn as () => void };
    this.#push(timer);
    return timer;
  }

  /** Cancels a timer from {@link VirtualClock.setTimeout}; anything else is ignored. */
  clearTimeout(id: unknown): void {
    const timer = id as Timer | null | undefined;
    if (timer === null || typeof timer !== "object" || typeof timer.seq !== "number" || timer.fn === null) return;
    timer.fn = null;
    this.#cleared++;
    this.#dead++;
    if (this.#dead > 1_024 && this.#dead * 2 > this.#heap.length) this.#compact();
  }

  /** Grows with every timer set or cleared: a cheap sign that something ran. */
  get activity(): number {
    return this.#seq + this.#cleared;
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#heap.length - this.#dead;
  }

  /** When the next live timer is due, or `Infinity` when none is. */
  nextAt(): number {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.fn === null) {
      this.#pop();
      this.#dead--;
    }
    return heap.length === 0 ? Infinity : heap[0]!.at;
  }

  /**
   * Moves time to the next due timer (never past `limit`) and fires every timer due then that
   * existed before this call; timers they set for the same instant fire on the next call.
   * Returns how many fired (0 when the next timer is past `limit`: time then moves to `limit`).
   */
  fireNext(limit = Infinity): number {
    const at = this.nextAt();
    if (at > limit) {
      if (limit !== Infinity && limit > this.#now) this.#now = limit;
      return 0;
    }
    if (at > this.#now) this.#now = at;
    const before = this.#seq;
    const heap = this.#heap;
    let n = 0;
    while (heap.length > 0) {
      const top = heap[0]!;
      if (top.fn === null) {
        this.#pop();
        this.#dead--;
        continue;
      }
      if (top.at > at || top.seq >= before) break;
      this.#pop();
      const fn = top.fn;
      top.fn = null;
      n++;
      fn();
    }
    this.fired += n;
    return n;
  }

  /** Moves time forward to `at` without firing anything (there must be nothing due before it). */
  advanceTo(at: number): void {
    if (at > this.#now) this.#now = at;
  }

  /** Drops every timer. */
  clear(): void {
    for (const t of this.#heap) t.fn = null;
    this.#heap = [];
    this.#dead = 0;
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    let i = heap.length;
    heap.push(timer);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.at < timer.at || (p.at === timer.at && p.seq < timer.seq)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = timer;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    const n = heap.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let child = heap[l]!;
      if (r < n) {
        const right = heap[r]!;
        if (right.at < child.at || (right.at === child.at && right.seq < child.seq)) {
          c = r;
          child = right;
        }
      }
      if (last.at < child.at || (last.at === child.at && last.seq < child.seq)) break;
      heap[i] = child;
      i = c;
    }
    heap[i] = last;
  }

  /** Rebuilds the heap without its dead timers. */
  #compact(): void {
    const live = this.#heap.filter((t) => t.fn !== null);
    this.#heap = [];
    this.#dead = 0;
    for (const t of live) this.#push(t);
  }
}
