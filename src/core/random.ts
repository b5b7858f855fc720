/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32). Machines and
 * simulations take randomness from here, never from `Math.random()`, so a seed reproduces a run.
 *
 * @module
 */

/** A seeded source of uniform numbers in [0, 1). */
export interface Random {
  /** The next uniform number in [0, 1). */
  next(): number;
}

/** Creates a {@link Random} from a 32-bit integer seed; the same seed gives the same sequence. */
export function createRandom(seed: number): Random {
  let s = seed >>> 0;
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  return {
    next(): number {
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
      return (t >>> 0) / 4294967296;
    },
  };
}
