// A sweep replica's job and result cross Redis as JSON; the encoding keeps what JSON alone
// loses, so the figures that come back are those a local thread returns.
import { describe, expect, it } from "vitest";
import { decodeReplica, encodeReplica } from "../src/sim/replica-wire.ts";

describe("replica wire encoding", () => {
  it("keeps non-finite numbers, -0 and undefined fields that plain JSON would turn into null or drop", () => {
    const value = { a: Infinity, b: -Infinity, c: Number.NaN, d: -0, e: undefined, f: [1, undefined, Infinity], g: { h: 0.1 + 0.2, i: "x", j: null, k: true } };
    const back = decodeReplica<typeof value>(encodeReplica(value));
    expect(back.a).toBe(Infinity);
    expect(back.b).toBe(-Infinity);
    expect(back.c).toBeNaN();
    expect(Object.is(back.d, -0)).toBe(true);
    expect("e" in back).toBe(true);
    expect(back.e).toBeUndefined();
    expect(back.f).toEqual([1, undefined, Infinity]);
    expect(back.g).toEqual({ h: 0.30000000000000004, i: "x", j: null, k: true });
    expect(JSON.parse(JSON.stringify(value))).not.toEqual(back); // what plain JSON would have given
  });
});
