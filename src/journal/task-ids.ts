/**
 * Generated task ids — `t1`, `t2`, … — that never repeat on one journal: not across restarts,
 * crashes or compactions, nor once every result of an earlier run has expired.
 *
 * A run reserves ids ahead of the ones it hands out, and the reservation rides in writes the
 * journal makes anyway (the snapshot written at start, then the group commit after the run
 * crosses into its reserve), so handing out an id costs no I/O. A clean stop writes the exact
 * figure and the next run carries on from the next id; after a crash the next run starts above
 * the reservation, the next thousand or two up.
 *
 * @module
 */
import { generatedNumber } from "./records.ts";

/** Ids are reserved in whole thousands, between one and two thousand ahead of the last one. */
const BLOCK = 1_000;

/** The id generator of one hive. Without a journal it is a plain counter. */
export class TaskIds {
  /** The highest number handed out, or seen in a `t<n>` id a caller chose. */
  #last = 0;
  /** Handing out a number above this first reserves more; Infinity while nothing is journaled. */
  #renewAt = Number.POSITIVE_INFINITY;
  /** Journals a reservation (appended to the next group write); undefined without a journal. */
  #reserve: ((upTo: number) => void) | undefined;

  /** The highest number handed out so far. */
  get last(): number {
    return this.#last;
  }

  /** Whether ids are being reserved in a journal (after {@link TaskIds.resume}). */
  get journaled(): boolean {
    return this.#reserve !== undefined;
  }

  /**
   * Continues above `lastId` (what the journal says may have been handed out) and journals
   * later reservations through `reserve`.
   * @returns the number this run reserves up to at first, for the journal's start snapshot
   */
  resume(lastId: number, reserve: (upTo: number) => void): number {
    this.#last = Math.max(this.#last, lastId);
    this.#reserve = reserve;
    return this.#reservation();
  }

  /** A new id. */
  next(): string {
    const n = ++this.#last;
    if (n > this.#renewAt) this.#reserve?.(this.#reservation());
    return `t${n}`;
  }

  /** An id a caller chose: one of the generated shape moves the counter past it. */
  saw(id: string): void {
    const n = generatedNumber(id);
    if (n <= this.#last) return;
    this.#last = n;
    if (n > this.#renewAt) this.#reserve?.(this.#reservation());
  }

  #reservation(): number {
    const upTo = (Math.floor(this.#last / BLOCK) + 2) * BLOCK;
    this.#renewAt = upTo - BLOCK;
    return upTo;
  }
}
