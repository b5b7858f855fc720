import { assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { SimulatedClock } from "xstate";
import { type BreakerTransition, CircuitBreaker } from "../../src/breaker/breaker.ts";
import { CircuitOpenError, InvalidOptionsError } from "../../src/core/errors.ts";

const boom = (): never => {
  throw new Error("boom");
};

Deno.test("breaker opens after consecutive failures, half-opens on the simulated clock, closes on a probe success", async () => {
  const clock = new SimulatedClock();
  using breaker = new CircuitBreaker({ name: "dep", clock, consecutiveFailures: 3, resetTimeoutMs: 1_000 });
  const transitions: BreakerTransition[] = [];
  breaker.onTransition((t) => transitions.push(t));
  for (let i = 0; i < 3; i++) await assertRejects(() => breaker.execute(boom), Error, "boom");
  assertEquals(breaker.state, "open");
  const error = await assertRejects(() => breaker.execute(() => 1), CircuitOpenError);
  assertEquals(error.code, "CIRCUIT_OPEN");
  clock.increment(999);
  assertEquals(breaker.isAllowed(), false);
  clock.increment(1);
  assertEquals(breaker.canProbe(), true);
  assertEquals(await breaker.execute(() => "probe"), "probe");
  assertEquals(breaker.state, "closed");
  assertEquals(
    transitions.map((t) => [t.from, t.to, t.reason, t.at]),
    [
      ["closed", "open", "consecutive-failures", 0],
      ["open", "halfOpen", "reset-timeout", 1_000],
      ["halfOpen", "closed", "probe-succeeded", 1_000],
    ],
  );
  assertEquals(breaker.stats(), { state: "closed", failures: 3, successes: 1, rejected: 1, consecutiveFailures: 0, opened: 1, lastOpenedAt: 0 });
});

Deno.test("breaker opens on a failure rate over its rolling window", async () => {
  const clock = new SimulatedClock();
  using breaker = new CircuitBreaker({ clock, consecutiveFailures: 100, failureRate: { threshold: 0.5, windowMs: 1_000, minimumCalls: 4 } });
  await breaker.execute(() => 1);
  await assertRejects(() => breaker.execute(boom));
  await breaker.execute(() => 1);
  assertEquals(breaker.state, "closed");
  await assertRejects(() => breaker.execute(boom));
  assertEquals(breaker.state, "open");
});

Deno.test("breaker rejects invalid options naming the option", () => {
  assertThrows(() => new CircuitBreaker({ resetTimeoutMs: 0 }), InvalidOptionsError, '"resetTimeoutMs" must be a positive integer, received 0');
});
