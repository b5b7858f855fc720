// Scenarios that state per-kind dispatch limits (`policies.limits`) and repeating tasks
// (`workload.schedules`): the simulation runs both through the hive's own code in virtual time.
import { describe, expect, it } from "vitest";
import { type ApiaryError, parseScenario, type RunReport, type ScenarioInput, simulate } from "../src/index.ts";

/** The report without its wall time (the one figure a seed does not reproduce). */
function canonical(report: RunReport): string {
  const { wallMs: _wall, ...rest } = report;
  return JSON.stringify(rest);
}

function failure(input: unknown): ApiaryError {
  try {
    parseScenario(input);
  } catch (error) {
    return error as ApiaryError;
  }
  throw new Error("expected parseScenario to throw");
}

/** A valid scenario with a limit and two schedules; `change` edits a copy. */
function scenario(change: (s: ScenarioInput) => void = () => {}): ScenarioInput {
  const s: ScenarioInput = {
    name: "limits",
    agents: [{ name: "w", count: 10, concurrency: 4 }],
    workload: {
      kinds: [
        { name: "call", duration: { constant: 100 } },
        { name: "tick", weight: 0, duration: { constant: 50 } },
        { name: "cron", weight: 0, duration: { constant: 50 } },
      ],
      arrivals: { closed: { inFlight: 20 } },
      schedules: [{ kind: "tick", everyMs: 10_000 }, { kind: "cron", cron: "* * * * *", priority: "high" }],
    },
    policies: { limits: { call: { max: 5, perMs: 1_000 } } },
    run: { durationMs: 300_000 },
  };
  change(s);
  return s;
}

describe("limits and schedules in scenarios", () => {
  it("a limited kind completes about max ÷ perMs × duration, though its agents could do far more", async () => {
    const report = await simulate(scenario(), { seed: 3 });
    const call = report.byKind!["call"]!;
    // 40 slots of 100 ms runs could do 400/s; the limit lets 5/s through.
    expect(call.throughputPerSec).toBeGreaterThan(4.9);
    expect(call.throughputPerSec).toBeLessThanOrEqual(5.01);
    expect(call.waitMs.p50).toBeGreaterThan(1_000); // 20 in flight at 5/s wait about 4 s each
    expect(report.bottleneck?.findings.some((f) => /call is paced by its dispatch limit \(5 per 1\.00 s/.test(f.text))).toBe(true);
  });

  it("runs each schedule in virtual time: everyMs and a cron pattern give the expected number of runs", async () => {
    const report = await simulate(scenario(), { seed: 3 });
    // 300 s: every 10 s is 30 runs, every minute 5; neither kind arrives otherwise (weight 0).
    expect(report.byKind!["tick"]).toMatchObject({ accepted: 30, completed: 30 });
    expect(report.byKind!["cron"]).toMatchObject({ accepted: 5, completed: 5 });
    expect(report.byPriority?.["high"]).toMatchObject({ completed: 5 });
    // Scheduled tasks of an unlimited kind are not held back by the limited one.
    expect(report.byKind!["tick"]!.waitMs.max).toBe(0);
  });

  it("reads cron patterns against run.startAt in the schedule's time zone, the same on every run", async () => {
    const at = (startAt: string, timezone?: string) =>
      scenario((s) => {
        s.workload.schedules = [{ kind: "cron", cron: "0 9 * * *", ...(timezone !== undefined ? { timezone } : {}) }];
        s.run = { durationMs: 120_000, startAt };
      });
    expect((await simulate(at("2026-03-02T08:59:00Z"))).byKind!["cron"]?.completed).toBe(1);
    expect((await simulate(at("2026-03-02T07:59:00Z"))).byKind!["cron"]?.completed ?? 0).toBe(0);
    expect((await simulate(at("2026-03-02T07:59:00Z", "Europe/Paris"))).byKind!["cron"]?.completed).toBe(1);
    expect(canonical(await simulate(scenario(), { seed: 5 }))).toBe(canonical(await simulate(scenario(), { seed: 5 })));
  });

  it("fills in the defaults: no schedules, UTC for a cron, normal priority, the fixed start", () => {
    const s = parseScenario(scenario());
    expect(s.workload.schedules).toEqual([{ kind: "tick", priority: "normal", everyMs: 10_000 }, { kind: "cron", priority: "high", cron: "* * * * *", timezone: "UTC" }]);
    expect(s.policies.limits).toEqual({ call: { max: 5, perMs: 1_000 } });
    expect(s.run.startAt).toBe(Date.UTC(2026, 0, 1));
    expect(parseScenario(scenario((x) => (x.run = { durationMs: 1_000, startAt: "2026-06-01T12:00:00+02:00" }))).run.startAt).toBe(Date.UTC(2026, 5, 1, 10));
  });

  it("refuses bad limits and schedules, naming the field", () => {
    const cases: [(s: ScenarioInput) => void, RegExp][] = [
      [(s) => (s.policies = { limits: { call: { max: 0, perMs: 1_000 } } }), /"policies\.limits\.call\.max" must be an integer from 1 to 1000000, received 0/],
      [(s) => (s.policies = { limits: { nope: { max: 1, perMs: 1_000 } } }), /"policies\.limits\.nope" must be keyed by a task kind listed in "workload\.kinds"/],
      [(s) => (s.workload.schedules = [{ kind: "nope", everyMs: 10 }]), /"workload\.schedules\[0\]\.kind" must name a task kind listed in "workload\.kinds"/],
      [(s) => (s.workload.schedules = [{ kind: "tick", everyMs: 10, cron: "* * * * *" } as Loose]), /"workload\.schedules\[0\]" must give "everyMs" or "cron" \(exactly one of the two\)/],
      [(s) => (s.workload.schedules = [{ kind: "tick" } as Loose]), /"workload\.schedules\[0\]" must give "everyMs" or "cron"/],
      [(s) => (s.workload.schedules = [{ kind: "tick", everyMs: 0 }]), /"workload\.schedules\[0\]\.everyMs" must be an integer from 1 to 2147483647, received 0/],
      [(s) => (s.workload.schedules = [{ kind: "tick", cron: "every day" }]), /"workload\.schedules\[0\]\.cron" must be a cron pattern/],
      [(s) => (s.workload.schedules = [{ kind: "tick", cron: "* * * * *", timezone: "Mars/Base" }]), /"workload\.schedules\[0\]\.timezone" must be an IANA time zone name, received "Mars\/Base"/],
      [(s) => (s.workload.schedules = [{ kind: "tick", everyMs: 5, timezone: "UTC" } as Loose]), /"workload\.schedules\[0\]\.timezone" is only for "cron" schedules/],
      [(s) => (s.workload.kinds[0]!.weight = 0), /"workload\.kinds\[0\]\.weight" must be positive for at least one task kind/],
      [(s) => (s.run = { durationMs: 1_000, startAt: "yesterday" }), /"run\.startAt" must be an ISO 8601 date-time .* or epoch ms, received "yesterday"/],
      [(s) => {
        s.workload.schedules = [{ kind: "tick", everyMs: 1 }];
        s.run = { durationMs: 300 * 86_400_000 };
      }, /"run\.durationMs" must keep the expected tasks within 100,000,000/],
      [(s) => {
        s.workload.schedules = [{ kind: "tick", cron: "* * * * * *" }];
        s.run = { durationMs: 300 * 86_400_000 };
      }, /"run\.durationMs" must keep the expected tasks within 100,000,000/],
    ];
    for (const [change, message] of cases) {
      const error = failure(scenario(change));
      expect(error.code).toBe("INVALID_OPTIONS");
      expect(error.message).toMatch(/^Cannot load scenario: /);
      expect(error.message).toMatch(message);
    }
  });
});

// deno-lint-ignore no-explicit-any
type Loose = any;
