import { describe, expect, it } from "vitest";
import { FailureWindow } from "../src/breaker/failure-window.ts";

describe("FailureWindow", () => {
  it("counts outcomes over the last windowMs and forgets older buckets", () => {
    const window = new FailureWindow(1_000); // ten buckets of 100 ms
    window.record(true, 0);
    window.record(false, 50);
    window.record(true, 450);
    expect([window.calls, window.failures]).toEqual([3, 2]);
    window.record(false, 999);
    expect([window.calls, window.failures]).toEqual([4, 2]);
    window.record(false, 1_000); // bucket 0 (t 0-99) leaves the window
    expect([window.calls, window.failures]).toEqual([3, 1]);
    window.record(false, 1_450); // bucket 4 leaves too
    expect([window.calls, window.failures]).toEqual([3, 0]);
    window.record(true, 60_000); // everything older is gone
    expect([window.calls, window.failures]).toEqual([1, 1]);
  });

  it("keeps counting in the newest bucket when the clock goes back", () => {
    const window = new FailureWindow(1_000);
    window.record(true, 5_000);
    window.record(true, 4_000);
    expect([window.calls, window.failures]).toEqual([2, 2]);
    window.reset();
    expect([window.calls, window.failures]).toEqual([0, 0]);
  });
});
