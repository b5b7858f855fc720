import { describe, expect, it } from "vitest";
import { type AgentView, Candidates, chooseScored, FRESH_HEALTH, gatherCandidates, isEligible, MeanLatency, ScanPool, score, type Scored, updateHealth } from "../actors/allocation.ts";

let ordinal = 0;
const agent = (id: string, capabilities: Record<string, number>, busy = 0, concurrency = 2, health = FRESH_HEALTH, tieKey = 0): AgentView => ({
  id,
  capabilities,
  concurrency,
  busy,
  health,
  available: true,
  breaker: "closed",
  ordinal: ordinal++,
  tieKey,
});

/** Eligibility as the Supervisor decides it, then the scored choice over every candidate (undefined when no agent can take the task). */
function choose(agents: AgentView[], requires: Record<string, number>, avoid: string | undefined, meanLatencyMs: number): Scored | undefined {
  const candidates = new Candidates();
  if (gatherCandidates(agents, requires, candidates) === 0) return undefined;
  return chooseScored(new ScanPool(candidates), avoid, meanLatencyMs);
}

describe("eligibility", () => {
  it("rejects an agent that lacks a required capability", () => {
    expect(isEligible({ plan: 1 }, { simulate: 0.1 })).toBe(false);
  });
  it("rejects an agent below the level asked and accepts one at or above it", () => {
    expect(isEligible({ simulate: 0.4 }, { simulate: 0.5 })).toBe(false);
    expect(isEligible({ simulate: 0.5 }, { simulate: 0.5 })).toBe(true);
    expect(isEligible({ simulate: 0.9, plan: 0.2 }, { simulate: 0.5, plan: 0.2 })).toBe(true);
  });
  it("accepts every agent for a task that requires nothing", () => {
    expect(isEligible({}, {})).toBe(true);
  });
});

describe("scored choice", () => {
  it("picks the eligible agent with the best capability fit", () => {
    const d = choose([agent("low", { simulate: 0.6 }), agent("high", { simulate: 0.9 }), agent("none", { plan: 1 })], { simulate: 0.5 }, undefined, 0);
    expect(d?.winner.agentId).toBe("high");
    expect(d?.runnerUp?.agentId).toBe("low");
    expect(d?.winner.capability).toBeCloseTo(0.9);
  });
  it("prefers free capacity when capabilities are equal", () => {
    const d = choose([agent("busy", { s: 1 }, 1, 2), agent("free", { s: 1 }, 0, 2)], { s: 1 }, undefined, 0);
    expect(d?.winner.agentId).toBe("free");
    expect(d?.winner.load).toBe(1);
    expect(d?.runnerUp?.load).toBe(0.5);
  });
  it("skips saturated and unavailable agents, and returns undefined when none is left", () => {
    const full = agent("full", { s: 1 }, 2, 2);
    const gone = { ...agent("gone", { s: 1 }), available: false };
    expect(choose([full, gone], { s: 1 }, undefined, 0)).toBeUndefined();
  });
  it("prefers another agent for a retry", () => {
    const d = choose([agent("a", { s: 1 }), agent("b", { s: 1 })], { s: 1 }, "a", 0);
    expect(d?.winner.agentId).toBe("b");
    expect(d?.runnerUp?.retry).toBe(0);
  });
  it("breaks exact ties by the higher tie key, and between equal keys by declaration order", () => {
    const agents = [agent("a", { s: 1 }, 0, 2, FRESH_HEALTH, 0.2), agent("b", { s: 1 }, 0, 2, FRESH_HEALTH, 0.9), agent("c", { s: 1 }, 0, 2, FRESH_HEALTH, 0.5)];
    const d = choose(agents, { s: 1 }, undefined, 0)!;
    expect([d.winner.agentId, d.runnerUp?.agentId]).toEqual(["b", "c"]);
    expect(d.winner.score).toBe(d.runnerUp!.score);
    const same = [agent("x", { s: 1 }), agent("y", { s: 1 })];
    expect(choose(same, { s: 1 }, undefined, 0)!.winner.agentId).toBe("x");
  });
  it("gives an exact tie to the higher success rate before the tie key", () => {
    // sure: rate 1, latency 4× the mean → health 1 · (0.5 + 0.5 · 0.25) = 0.625;
    // shaky: rate 0.625, latency under the mean → health 0.625. Equal scores.
    const sure = agent("sure", { s: 1 }, 0, 2, { successRate: 1, latencyMs: 400, completed: 9, failed: 0 }, 0);
    const shaky = agent("shaky", { s: 1 }, 0, 2, { successRate: 0.625, latencyMs: 50, completed: 5, failed: 3 }, 0.99);
    const d = choose([shaky, sure], { s: 1 }, undefined, 100)!;
    expect(d.winner.score).toBe(d.runnerUp!.score);
    expect(d.winner.agentId).toBe("sure");
  });
  it("explains each term and the weighted total", () => {
    const t = score(agent("x", { s: 0.8 }, 1, 4), { s: 0.5 }, undefined, 0);
    expect(t).toMatchObject({ agentId: "x", capability: 0.8, load: 0.75, health: 1, retry: 1 });
    expect(t.score).toBeCloseTo(0.4 * 0.8 + 0.3 * 0.75 + 0.2 * 1 + 0.1 * 1);
  });
});

describe("breaker state", () => {
  it("skips an agent whose breaker is open and lets a halfOpen one take a single probe", () => {
    const open = { ...agent("open", { s: 1 }), breaker: "open" as const };
    const probing = { ...agent("probe", { s: 1 }, 0, 4), breaker: "halfOpen" as const };
    expect(choose([open, probing], { s: 1 }, undefined, 0)?.winner.agentId).toBe("probe");
    const busyProbe = { ...probing, busy: 1 };
    expect(choose([open, busyProbe], { s: 1 }, undefined, 0)).toBeUndefined();
  });
});

describe("health", () => {
  it("moves the success rate and latency towards each outcome", () => {
    let h = updateHealth(FRESH_HEALTH, true, 100);
    expect(h).toMatchObject({ successRate: 1, latencyMs: 100, completed: 1, failed: 0 });
    h = updateHealth(h, false, 200);
    expect(h.successRate).toBeCloseTo(0.8);
    expect(h.latencyMs).toBeCloseTo(120);
    expect(h.failed).toBe(1);
  });
  it("ranks a failing agent below a healthy one", () => {
    let sick = FRESH_HEALTH;
    for (let i = 0; i < 5; i++) sick = updateHealth(sick, false, 10);
    const d = choose([agent("sick", { s: 1 }, 0, 2, sick), agent("well", { s: 1 })], { s: 1 }, undefined, 10);
    expect(d?.winner.agentId).toBe("well");
  });
});

describe("MeanLatency", () => {
  it("averages the agents that have run something, following their health as it changes", () => {
    const mean = new MeanLatency();
    const fresh = FRESH_HEALTH;
    const a = updateHealth(FRESH_HEALTH, true, 100);
    const b = updateHealth(FRESH_HEALTH, true, 300);
    mean.add(fresh); // has run nothing: not counted
    mean.add(a);
    mean.add(b);
    expect(mean.value).toBe(200);
    const b2 = updateHealth(b, true, 500); // 300 + 0.2 · (500 − 300) = 340
    mean.remove(b);
    mean.add(b2);
    expect(mean.value).toBeCloseTo((100 + 340) / 2, 12);
    mean.remove(a);
    expect(mean.value).toBeCloseTo(340, 12);
    mean.remove(b2);
    expect(mean.value).toBe(0);
    // Empty again: nothing carried over from the sums before.
    mean.add(updateHealth(FRESH_HEALTH, true, 7));
    expect(mean.value).toBe(7);
  });

  it("feeds choose's latency discount: the slower agent scores lower on health", () => {
    const views = [agent("fast", { s: 1 }, 0, 2, updateHealth(FRESH_HEALTH, true, 10)), agent("slow", { s: 1 }, 0, 2, updateHealth(FRESH_HEALTH, true, 40))];
    const mean = new MeanLatency();
    for (const v of views) mean.add(v.health);
    const d = choose(views, { s: 1 }, undefined, mean.value);
    expect(d?.winner.agentId).toBe("fast");
    // slow: latency factor = mean 25 / 40, health = 1 · (0.5 + 0.5 · 0.625)
    expect(d?.runnerUp?.health).toBeCloseTo(0.8125, 12);
  });
});
