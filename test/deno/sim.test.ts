/**
 * The Deno suite for simulations: `simulate` runs on Deno from the source as is, and a seed
 * reproduces the report byte for byte there too.
 *
 * @module
 */
import { type ApiaryError, parseScenario, type RunReport, type ScenarioInput, simulate } from "../../src/index.ts";
import { assertEquals, assertThrows } from "./assert.ts";

const scenario: ScenarioInput = {
  name: "deno",
  agents: [{ name: "w", count: 4, concurrency: 2, capabilities: { llm: 0.9 } }],
  workload: {
    kinds: [
      { name: "ask", requires: { llm: 0.5 }, duration: { lognormal: { medianMs: 300, sigma: 0.5 } }, dependsOn: ["llm"], retries: 2 },
      { name: "sum", duration: { exponential: { meanMs: 100 } }, weight: 2 },
    ],
    arrivals: { poisson: { ratePerSec: 15 } },
  },
  dependencies: [{ name: "llm", consecutiveFailures: 3, resetTimeoutMs: 5_000 }],
  faults: { taskFailureProbability: 0.02, agentCrashesPerHour: 60, outages: [{ dependency: "llm", atMs: 60_000, forMs: 20_000 }] },
  run: { durationMs: 180_000, warmupMs: 5_000 },
};

function canonical(report: RunReport): string {
  const { wallMs: _wall, ...rest } = report;
  return JSON.stringify(rest);
}

Deno.test("simulate runs on Deno and the same seed gives the same report", async () => {
  const a = await simulate(scenario, { seed: 9 });
  const b = await simulate(scenario, { seed: 9 });
  assertEquals(canonical(a), canonical(b));
  const t = a.tasks;
  assertEquals(t.accepted, t.completed + t.failed + t.cancelled + t.deadLettered + t.shed);
  assertEquals(a.extra["dependencyBreakerTrips"] !== 0, true);
  assertEquals(a.agents.length, 4);
});

Deno.test("parseScenario names the field and the value received", () => {
  const error = assertThrows(() => parseScenario({ ...scenario, run: { durationMs: -1 } })) as ApiaryError;
  assertEquals(error.code, "INVALID_OPTIONS");
  assertEquals(error.message, 'Cannot load scenario: "run.durationMs" must be a positive finite number, received -1');
});
