/**
 * Breaker scope: closed-path calls per second through apiary's `CircuitBreaker` against
 * cockatiel's and opossum's breakers, same process, same trivial async call.
 *
 * @module
 */
import { circuitBreaker, ConsecutiveBreaker, handleAll, SamplingBreaker } from "cockatiel";
import Opossum from "opossum";
import { CircuitBreaker } from "../src/breaker/breaker.ts";
import { type BenchScope, compare, opsPerSecond } from "./harness.ts";

const BATCH = 1_000;
const work = (): Promise<number> => Promise.resolve(1);

const scope: BenchScope = async ({ quick }) => {
  const timing = quick ? { minMs: 300, warmupMs: 100 } : { minMs: 1_000, warmupMs: 300 };
  const rounds = quick ? 2 : 3;

  const apiary = new CircuitBreaker({ consecutiveFailures: 5, resetTimeoutMs: 30_000 });
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) });
  const opossum = new Opossum(work, { resetTimeout: 30_000, timeout: false });
  // Failure rate over a rolling window: the closed path also reads the clock.
  const apiaryRate = new CircuitBreaker({ failureRate: { threshold: 0.5, windowMs: 10_000, minimumCalls: 20 } });
  const cockatielRate = circuitBreaker(handleAll, {
    halfOpenAfter: 30_000,
    breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 }),
  });

  const viaApiary = () =>
    opsPerSecond(
      async () => {
        for (let i = 0; i < BATCH; i++) await apiary.execute(work);
      },
      BATCH,
      timing,
    );
  const viaCockatiel = () =>
    opsPerSecond(
      async () => {
        for (let i = 0; i < BATCH; i++) await cockatiel.execute(work);
      },
      BATCH,
      timing,
    );
  const viaOpossum = () =>
    opsPerSecond(
      async () => {
        for (let i = 0; i < BATCH; i++) await opossum.fire();
      },
      BATCH,
      timing,
    );
  const viaApiaryRate = () =>
    opsPerSecond(
      async () => {
        for (let i = 0; i < BATCH; i++) await apiaryRate.execute(work);
      },
      BATCH,
      timing,
    );
  const viaCockatielRate = () =>
    opsPerSecond(
      async () => {
        for (let i = 0; i < BATCH; i++) await cockatielRate.execute(work);
      },
      BATCH,
      timing,
    );
  const direct = () =>
    opsPerSecond(
      async () => {
        for (let i = 0; i < BATCH; i++) await work();
      },
      BATCH,
      timing,
    );
  // The Supervisor's way: ask, run, record, without wrapping the call.
  const viaRecord = () =>
    opsPerSecond(
      async () => {
        for (let i = 0; i < BATCH; i++) {
          if (apiary.tryAcquire()) apiary.record((await work()) === 1);
        }
      },
      BATCH,
      timing,
    );

  const results = [
    await compare("breaker closed path: execute", "cockatiel", viaApiary, viaCockatiel, rounds),
    await compare("breaker closed path: execute", "opossum", viaApiary, viaOpossum, rounds),
    await compare("breaker closed path: tryAcquire+record", "cockatiel", viaRecord, viaCockatiel, rounds),
    await compare("breaker closed path: execute, failure-rate window", "cockatiel SamplingBreaker", viaApiaryRate, viaCockatielRate, rounds),
    await compare("breaker closed path: execute", "direct await (no breaker)", viaApiary, direct, rounds),
  ];
  apiary[Symbol.dispose]();
  apiaryRate[Symbol.dispose]();
  opossum.shutdown();
  return results;
};

export default scope;
