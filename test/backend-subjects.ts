/**
 * The backends the conformance suite runs, with their workloads — shared by the Node and Deno
 * suites. The thread backends and inline run `test/fixtures/tasks.mjs`; the simulated backend
 * runs a scenario-like workload of its own on real time; the function backend stands for a
 * user's own.
 *
 * @module
 */
import { ComlinkBackend } from "../src/backends/comlink.ts";
import { InlineBackend } from "../src/backends/inline.ts";
import { PiscinaBackend } from "../src/backends/piscina.ts";
import { realClock } from "../src/core/clock.ts";
import { SimulatedBackend } from "../src/sim/simulated-backend.ts";
import type { BackendSubject } from "./backend-conformance.ts";
import { FunctionBackend } from "./fixtures/function-backend.ts";

const tasksUrl = new URL("./fixtures/tasks.mjs", import.meta.url).href;

/** The fixture module's workload: `double`, `fail` (a RangeError) and `waitAbort`. */
const fixtureWork = {
  kinds: ["double", "fail", "waitAbort", "echo"],
  succeeds: (i: number) => ({ kind: "double", input: { n: i }, value: i * 2 }),
  throws: { kind: "fail", input: { message: "nope" }, causeName: "RangeError" },
  runs: (flag: Int32Array) => ({ kind: "waitAbort", input: { flag } }),
} as const;

const threadOptions = { tasksUrl, threads: 2, maxBatch: 32, abortGraceMs: 1_000, startTimeoutMs: 30_000 };

/** The named backends apiary ships, on the fixture task module. */
export const namedSubjects: Record<"inline" | "piscina" | "comlink", BackendSubject> = {
  inline: { ...fixtureWork, threads: 0, make: () => new InlineBackend({ tasksUrl }) },
  piscina: { ...fixtureWork, threads: 2, make: () => new PiscinaBackend(threadOptions) },
  comlink: { ...fixtureWork, threads: 2, make: () => new ComlinkBackend(threadOptions) },
};

/** The simulation's backend: no handler runs, durations are drawn (here constant) on real time. */
export const simulatedSubject: BackendSubject = {
  kinds: ["quick", "broken", "slow"],
  succeeds: () => ({ kind: "quick", input: null, value: 5 }), // its value is the drawn duration
  throws: { kind: "broken", input: null, causeName: "SimulatedFailure" },
  runs: () => ({ kind: "slow", input: null }),
  signals: false,
  threads: 0,
  make: () =>
    new SimulatedBackend({
      clock: realClock,
      kinds: [
        { name: "quick", duration: { constant: 5 } },
        { name: "broken", duration: { constant: 5 }, failureProbability: 1 },
        { name: "slow", duration: { constant: 60 } },
      ],
      seed: 1,
    }),
};

/** A user's own backend, written against the exported contract only. */
export const functionSubject: BackendSubject = {
  kinds: ["double", "fail", "waitAbort"],
  succeeds: (i: number) => ({ kind: "double", input: i, value: i * 2 }),
  throws: { kind: "fail", input: null, causeName: "RangeError" },
  runs: (flag: Int32Array) => ({ kind: "waitAbort", input: flag }),
  threads: 0,
  make: () =>
    new FunctionBackend({
      double: (n) => (n as number) * 2,
      fail: () => {
        throw new RangeError("nope");
      },
      waitAbort: (flag, signal) =>
        new Promise((resolve) =>
          signal.addEventListener("abort", () => {
            Atomics.store(flag as Int32Array, 0, 1);
            resolve("aborted");
          })
        ),
    }),
};
