/**
 * A set of small non-negative integers (agent ordinals, slot counts) as a two-level bitset:
 * add, delete and membership in O(1), and the next member at or after `i` (or the previous one at
 * or before it) by looking at one word per 32 members and one summary word per 1,024 — for
 * 10,000 agents, at most ten summary words.
 *
 * @module
 */

/** Index of the lowest set bit of a non-zero 32-bit word. */
function lowest(word: number): number {
  return 31 - Math.clz32(word & -word);
}

/** Index of the highest set bit of a non-zero 32-bit word. */
function highest(word: number): number {
  return 31 - Math.clz32(word);
}

/** Members in [0, capacity); the capacity grows as members are added. */
export class OrdinalSet {
  /** Bit `i & 31` of word `i >> 5` is set iff `i` is a member. */
  #words: Uint32Array;
  /** Bit `w & 31` of summary word `w >> 5` is set iff word `w` is not zero. */
  #summary: Uint32Array;
  #size = 0;

  constructor(capacity = 64) {
    const words = Math.max(1, Math.ceil(capacity / 32));
    this.#words = new Uint32Array(words);
    this.#summary = new Uint32Array(Math.ceil(words / 32));
  }

  /** How many members. */
  get size(): number {
    return this.#size;
  }

  has(i: number): boolean {
    const w = i >> 5;
    return w < this.#words.length && (this.#words[w]! & (1 << (i & 31))) !== 0;
  }

  add(i: number): void {
    const w = i >> 5;
    if (w >= this.#words.length) this.#grow(w + 1);
    const bit = 1 << (i & 31);
    const word = this.#words[w]!;
    if ((word & bit) !== 0) return;
    this.#words[w] = word | bit;
    this.#summary[w >> 5]! |= 1 << (w & 31);
    this.#size++;
  }

  delete(i: number): void {
    const w = i >> 5;
    if (w >= this.#words.length) return;
    const bit = 1 << (i & 31);
    const word = this.#words[w]!;
    if ((word & bit) === 0) return;
    const left = word & ~bit;
    this.#words[w] = left;
    if (left === 0) this.#summary[w >> 5]! &= ~(1 << (w & 31));
    this.#size--;
  }

  /** The smallest member ≥ `i`, or -1. */
  next(i: number): number {
    if (i < 0) i = 0;
    const words = this.#words;
    let w = i >> 5;
    if (w >= words.length) return -1;
    const here = words[w]! & (~0 << (i & 31));
    if (here !== 0) return (w << 5) | lowest(here);
    // The first non-zero word after w, from the summary.
    w++;
    const summary = this.#summary;
    let s = w >> 5;
    if (s >= summary.length) return -1;
    let bits = summary[s]! & (w & 31 ? ~0 << (w & 31) : ~0);
    while (bits === 0) {
      if (++s >= summary.length) return -1;
      bits = summary[s]!;
    }
    const word = (s << 5) | lowest(bits);
    return (word << 5) | lowest(words[word]!);
  }

  /** The largest member ≤ `i`, or -1. */
  prev(i: number): number {
    if (i < 0) return -1;
    const words = this.#words;
    let w = i >> 5;
    if (w >= words.length) {
      w = words.length - 1;
      i = (w << 5) | 31;
    }
    const keep = (i & 31) === 31 ? ~0 : (1 << ((i & 31) + 1)) - 1;
    const here = words[w]! & keep;
    if (here !== 0) return (w << 5) | highest(here);
    if (w === 0) return -1;
    w--;
    const summary = this.#summary;
    let s = w >> 5;
    let bits = summary[s]! & ((w & 31) === 31 ? ~0 : (1 << ((w & 31) + 1)) - 1);
    while (bits === 0) {
      if (--s < 0) return -1;
      bits = summary[s]!;
    }
    const word = (s << 5) | highest(bits);
    return (word << 5) | highest(words[word]!);
  }

  #grow(words: number): void {
    const n = Math.max(words, this.#words.length * 2);
    const next = new Uint32Array(n);
    next.set(this.#words);
    this.#words = next;
    const summary = new Uint32Array(Math.ceil(n / 32));
    summary.set(this.#summary);
    this.#summary = summary;
  }
}
