import { createActor, SimulatedClock } from "xstate";
import { describe, expect, it } from "vitest";
import { breakerMachine } from "../actors/breaker.ts";
import { type BreakerTransition, CircuitBreaker, type CircuitBreakerOptions } from "../src/breaker/breaker.ts";
import { isApiaryError, isCircuitOpenError } from "../src/core/errors.ts";

const boom = (): never => {
  throw new Error("boom");
};

function make(options: CircuitBreakerOptions = {}) {
  const clock = new SimulatedClock();
  const breaker = new CircuitBreaker({ clock, ...options });
  const transitions: BreakerTransition[] = [];
  breaker.onTransition((t) => transitions.push(t));
  return { clock, breaker, transitions };
}

async function fail(breaker: CircuitBreaker, times = 1): Promise<void> {
  for (let i = 0; i < times; i++) await expect(breaker.execute(boom)).rejects.toThrow("boom");
}

/** A call the test settles by hand, to hold a probe in flight. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("breakerMachine", () => {
  it("opens on consecutive failures, half-opens after the reset timeout, closes on a probe success", () => {
    const clock = new SimulatedClock();
    const actor = createActor(breakerMachine, { clock, input: { consecutiveFailures: 3, resetTimeoutMs: 1_000, halfOpenMaxProbes: 1 } }).start();
    actor.send({ type: "breaker.failure" });
    actor.send({ type: "breaker.failure" });
    actor.send({ type: "breaker.success" });
    actor.send({ type: "breaker.failure" });
    actor.send({ type: "breaker.failure" });
    expect(actor.getSnapshot().value).toBe("closed");
    actor.send({ type: "breaker.failure" });
    expect(actor.getSnapshot().value).toBe("open");
    expect(actor.getSnapshot().context.reason).toBe("consecutive-failures");
    clock.increment(999);
    expect(actor.getSnapshot().value).toBe("open");
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe("halfOpen");
    actor.send({ type: "breaker.probe.start" });
    actor.send({ type: "breaker.probe.start" }); // refused: one slot
    expect(actor.getSnapshot().context.probes).toBe(1);
    actor.send({ type: "breaker.success" });
    expect(actor.getSnapshot().value).toBe("closed");
    expect(actor.getSnapshot().context).toMatchObject({ reason: "probe-succeeded", consecutive: 0, probes: 0, opened: 1 });
  });

  it("re-opens on a probe failure and waits a full reset timeout again", () => {
    const clock = new SimulatedClock();
    const actor = createActor(breakerMachine, { clock, input: { consecutiveFailures: 1, resetTimeoutMs: 500, halfOpenMaxProbes: 1 } }).start();
    actor.send({ type: "breaker.failure" });
    clock.increment(500);
    expect(actor.getSnapshot().value).toBe("halfOpen");
    actor.send({ type: "breaker.failure" });
    expect(actor.getSnapshot().value).toBe("open");
    expect(actor.getSnapshot().context.reason).toBe("probe-failed");
    clock.increment(499);
    expect(actor.getSnapshot().value).toBe("open");
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe("halfOpen");
  });
});

describe("CircuitBreaker", () => {
  it("says how much longer an open circuit fails fast as a duration, not a clock reading", async () => {
    const { clock, breaker } = make({ name: "geo", consecutiveFailures: 1, resetTimeoutMs: 5_000 });
    clock.set(5_311);
    await fail(breaker);
    clock.increment(800);
    const error = await breaker.execute(() => 1).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "CIRCUIT_OPEN", message: 'Circuit "geo" is open: calls fail fast for another 4.2 s (it opened 800 ms ago; "resetTimeoutMs" is 5000)' });
    clock.increment(4_150);
    await expect(breaker.execute(() => 1)).rejects.toThrow("calls fail fast for another 50 ms");
  });

  it("by default opens after 5 consecutive failures and stays open 30 s of actor time", async () => {
    const { clock, breaker, transitions } = make();
    await fail(breaker, 4);
    await expect(breaker.execute(() => "ok")).resolves.toBe("ok");
    await fail(breaker, 4);
    expect(breaker.state).toBe("closed");
    clock.set(1_000);
    await fail(breaker);
    expect(breaker.state).toBe("open");
    expect(breaker.stats()).toEqual({ state: "open", failures: 9, successes: 1, rejected: 0, consecutiveFailures: 0, opened: 1, lastOpenedAt: 1_000 });

    let called = false;
    const rejection = breaker.execute(() => {
      called = true;
    });
    await expect(rejection).rejects.toSatisfy((e: unknown) => isApiaryError(e, "CIRCUIT_OPEN") && isCircuitOpenError(e));
    await expect(breaker.execute(() => 1)).rejects.toThrow('Circuit "circuit" is open: calls fail fast for another 30 s (it opened 0 ms ago; "resetTimeoutMs" is 30000)');
    expect(called).toBe(false);
    expect(breaker.stats().rejected).toBe(2);

    clock.increment(29_999);
    expect(breaker.state).toBe("open");
    clock.increment(1);
    expect(breaker.state).toBe("halfOpen");
    await expect(breaker.execute(() => "probe")).resolves.toBe("probe");
    expect(breaker.state).toBe("closed");
    expect(transitions).toEqual([
      { name: "circuit", from: "closed", to: "open", reason: "consecutive-failures", at: 1_000 },
      { name: "circuit", from: "open", to: "halfOpen", reason: "reset-timeout", at: 31_000 },
      { name: "circuit", from: "halfOpen", to: "closed", reason: "probe-succeeded", at: 31_000 },
    ]);
  });

  it("lets only halfOpenMaxProbes probes through at once while half-open", async () => {
    const { clock, breaker } = make({ consecutiveFailures: 1, resetTimeoutMs: 100, halfOpenMaxProbes: 2 });
    await fail(breaker);
    clock.increment(100);
    const first = deferred<string>();
    const second = deferred<string>();
    const p1 = breaker.execute(() => first.promise);
    const p2 = breaker.execute(() => second.promise);
    expect(breaker.canProbe()).toBe(false);
    expect(breaker.isAllowed()).toBe(false);
    await expect(breaker.execute(() => "third")).rejects.toThrow("half-open and its 2 probe slot(s) are taken");
    first.resolve("one");
    await expect(p1).resolves.toBe("one");
    expect(breaker.state).toBe("closed");
    second.resolve("two");
    await expect(p2).resolves.toBe("two");
    expect(breaker.state).toBe("closed");
  });

  it("re-opens when a probe fails, with a new lastOpenedAt", async () => {
    const { clock, breaker, transitions } = make({ consecutiveFailures: 2, resetTimeoutMs: 1_000 });
    await fail(breaker, 2);
    clock.increment(1_000);
    await fail(breaker);
    expect(breaker.state).toBe("open");
    expect(breaker.stats()).toMatchObject({ opened: 2, lastOpenedAt: 1_000 });
    expect(transitions.map((t) => `${t.to}:${t.reason}`)).toEqual(["open:consecutive-failures", "halfOpen:reset-timeout", "open:probe-failed"]);
    clock.increment(999);
    expect(breaker.state).toBe("open");
    clock.increment(1);
    expect(breaker.state).toBe("halfOpen");
  });

  it("opens on the failure rate over the rolling window once the minimum volume is reached", async () => {
    const { clock, breaker, transitions } = make({ consecutiveFailures: 100, failureRate: { threshold: 0.5, windowMs: 10_000, minimumCalls: 10 } });
    // 4 failures long ago: they leave the window before the rate is judged.
    await fail(breaker, 4);
    clock.increment(20_000);
    for (let i = 0; i < 4; i++) {
      await breaker.execute(() => "ok");
      await fail(breaker);
    }
    await breaker.execute(() => "ok");
    expect(breaker.state).toBe("closed"); // 9 calls in the window: below the minimum volume
    await fail(breaker); // 10 calls, 5 failures: 50%
    expect(breaker.state).toBe("open");
    expect(transitions[0]).toMatchObject({ to: "open", reason: "failure-rate", at: 20_000 });
  });

  it("does not open on a failure rate under the threshold", async () => {
    const { breaker } = make({ consecutiveFailures: 100, failureRate: { threshold: 0.5, windowMs: 10_000, minimumCalls: 4 } });
    for (let i = 0; i < 20; i++) {
      await breaker.execute(() => "ok");
      await breaker.execute(() => "ok");
      await fail(breaker);
    }
    expect(breaker.state).toBe("closed");
  });

  it("calls the fallback instead of failing fast while open", async () => {
    const { breaker } = make({ consecutiveFailures: 1, fallback: (error) => `cached (${error.code})` });
    await fail(breaker);
    await expect(breaker.execute(() => "fresh")).resolves.toBe("cached (CIRCUIT_OPEN)");
    expect(breaker.stats().rejected).toBe(1);
  });

  it("serves a supervisor that runs work itself: tryAcquire, record, release", async () => {
    const { clock, breaker } = make({ consecutiveFailures: 2, resetTimeoutMs: 50 });
    expect(breaker.isAllowed()).toBe(true);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.record(false);
    breaker.record(false);
    expect(breaker.state).toBe("open");
    expect(breaker.isAllowed()).toBe(false);
    expect(breaker.tryAcquire()).toBe(false);
    clock.increment(50);
    expect(breaker.canProbe()).toBe(true);
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.canProbe()).toBe(false);
    breaker.release(); // the probe task was never dispatched
    expect(breaker.canProbe()).toBe(true);
    expect(breaker.tryAcquire()).toBe(true);
    breaker.record(true);
    expect(breaker.state).toBe("closed");
  });

  it("ignores the outcome of a call that started before the circuit opened", async () => {
    const { breaker } = make({ consecutiveFailures: 1 });
    const slow = deferred<string>();
    const pending = breaker.execute(() => slow.promise);
    await fail(breaker);
    slow.resolve("late");
    await expect(pending).resolves.toBe("late");
    expect(breaker.state).toBe("open");
  });

  it("counts only failures isFailure accepts, and never a call its own signal aborted", async () => {
    const { breaker } = make({ consecutiveFailures: 1, isFailure: (e) => !(e instanceof TypeError) });
    await expect(breaker.execute(() => Promise.reject(new TypeError("bad input")))).rejects.toThrow("bad input");
    expect(breaker.state).toBe("closed");
    const controller = new AbortController();
    const running = breaker.execute(
      ({ signal }) => new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason as Error))),
      { signal: controller.signal },
    );
    controller.abort(new Error("caller left"));
    await expect(running).rejects.toThrow("caller left");
    expect(breaker.state).toBe("closed");
    let called = false;
    await expect(breaker.execute(() => (called = true), { signal: controller.signal })).rejects.toThrow("caller left");
    expect(called).toBe(false);
    await fail(breaker);
    expect(breaker.state).toBe("open");
  });

  it("keeps working when a transition listener throws, and stops notifying after dispose", async () => {
    const { clock, breaker, transitions } = make({ consecutiveFailures: 1, resetTimeoutMs: 10 });
    breaker.onTransition(() => {
      throw new Error("listener bug");
    });
    const seen: string[] = [];
    {
      using _off = breaker.onTransition((t) => seen.push(t.to));
      await fail(breaker);
    }
    clock.increment(10);
    expect(seen).toEqual(["open"]);
    expect(transitions.map((t) => t.to)).toEqual(["open", "halfOpen"]);
  });

  it("can be tripped and reset by hand", () => {
    const { breaker, transitions } = make();
    breaker.trip();
    expect(breaker.state).toBe("open");
    breaker.reset();
    expect(breaker.state).toBe("closed");
    expect(transitions.map((t) => t.reason)).toEqual(["manual-trip", "manual-reset"]);
  });

  it("stops its timer when disposed", async () => {
    const { clock, breaker } = make({ consecutiveFailures: 1, resetTimeoutMs: 10 });
    await fail(breaker);
    breaker[Symbol.dispose]();
    clock.increment(100);
    expect(breaker.state).toBe("open");
  });

  it("rejects invalid options naming the option and the value", () => {
    expect(() => new CircuitBreaker({ resetTimeoutMs: 0 })).toThrow('Cannot create circuit breaker: "resetTimeoutMs" must be a positive integer, received 0');
    expect(() => new CircuitBreaker({ consecutiveFailures: 2.5 })).toThrow('"consecutiveFailures" must be a positive integer, received 2.5');
    expect(() => new CircuitBreaker({ failureRate: { threshold: 1.5, windowMs: 1_000, minimumCalls: 5 } })).toThrow(
      '"failureRate.threshold" must be a number from 0 to 1, received 1.5',
    );
    expect(() => new CircuitBreaker({ clock: {} as never })).toThrow('"clock" must have now(), setTimeout() and clearTimeout()');
    expect(() => new CircuitBreaker({ resetTimeout: 5 } as never)).toThrow('"resetTimeout" is not a known option');
    expect(() => new CircuitBreaker({ halfOpenMaxProbes: -1 })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS", name: "InvalidOptionsError" }));
  });
});
