import { SimulatedClock } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { type AgentView, Candidates, FRESH_HEALTH, gatherCandidates, ScanPool, updateHealth } from "../actors/allocation.ts";
import { ALLOCATION_STRATEGIES, type AllocationFunction, type AllocationOption, type Choice, createStrategy } from "../actors/allocation-strategies.ts";
import type { ReadyTask } from "../actors/types.ts";
import { parseVary } from "../src/cli/sweep-command.ts";
import { createHive, type Hive, type HiveEvent, type HiveOptions, parseScenario, type ScenarioInput, simulate } from "../src/index.ts";
import { createRandom } from "../src/core/random.ts";
import { setPath } from "../src/sim/sweep.ts";
import { fixtureTasks, settle } from "./helpers.ts";

let ordinal = 0;
function agent(id: string, capabilities: Record<string, number>, busy = 0, concurrency = 2, extra: Partial<AgentView> = {}): AgentView {
  return { id, capabilities, concurrency, busy, health: FRESH_HEALTH, available: true, breaker: "closed", ordinal: ordinal++, tieKey: 0, ...extra };
}

function task(requires: Record<string, number> = {}, avoid?: string): ReadyTask {
  return { id: "t1", kind: "work", input: null, requires, priority: "normal", timeoutMs: 1_000, attempt: avoid === undefined ? 1 : 2, avoid, enqueuedAt: 0 };
}

/** Places `t` with `option` on `views` as the Supervisor does: eligibility first, then the strategy. */
function decide(option: AllocationOption, views: AgentView[], t = task(), seed = 1, strategy = createStrategy(option)): Choice | undefined {
  const candidates = new Candidates();
  if (gatherCandidates(views, t.requires, candidates) === 0) return undefined;
  return strategy.choose(t, new ScanPool(candidates), 0, createRandom(seed));
}

describe("least-loaded", () => {
  it("picks the most free slots relative to concurrency and explains them", () => {
    const views = [agent("half", {}, 2, 4), agent("one", {}, 0, 1), agent("big", {}, 1, 8)];
    const d = decide("least-loaded", views)!;
    expect(d.strategy).toBe("least-loaded");
    expect(d.winner).toMatchObject({ agentId: "one", load: 1, freeSlots: 1 });
    expect(d.runnerUp).toMatchObject({ agentId: "big", load: 0.875, freeSlots: 7 });
  });

  it("breaks exact ties by success rate, then by the higher tie key", () => {
    const views = [agent("a", {}, 0, 2, { tieKey: 0.3 }), agent("b", {}, 0, 2, { tieKey: 0.8 }), agent("c", {}, 0, 2, { tieKey: 0.5 })];
    expect([decide("least-loaded", views)!.winner.agentId, decide("least-loaded", views)!.runnerUp?.agentId]).toEqual(["b", "c"]);
    views[2]!.health = updateHealth(FRESH_HEALTH, false, 10);
    views[0]!.health = { ...FRESH_HEALTH, completed: 1 };
    expect(decide("least-loaded", views)!.runnerUp?.agentId).toBe("a");
  });

  it("prefers another agent for a retry, even a busier one", () => {
    expect(decide("least-loaded", [agent("last", {}, 0, 2), agent("other", {}, 1, 2)], task({}, "last"))!.winner.agentId).toBe("other");
    expect(decide("least-loaded", [agent("last", {}, 0, 2)], task({}, "last"))!.winner.agentId).toBe("last");
  });
});

describe("round-robin", () => {
  it("rotates over the agents in declaration order, skipping those without a free slot", () => {
    const views = [agent("a", {}), agent("b", {}), agent("c", {})];
    const strategy = createStrategy("round-robin");
    const picks: string[] = [];
    for (let i = 0; i < 4; i++) picks.push(decide("round-robin", views, task(), 1, strategy)!.winner.agentId);
    views[1]!.busy = 2; // b is full: its turns pass to the next agent
    for (let i = 0; i < 3; i++) picks.push(decide("round-robin", views, task(), 1, strategy)!.winner.agentId);
    views[1]!.busy = 0;
    picks.push(decide("round-robin", views, task(), 1, strategy)!.winner.agentId);
    expect(picks.join("")).toBe("abcaca" + "c" + "a");
  });

  it("names the agent whose turn comes next as the runner-up, and skips the last attempt's agent on a retry", () => {
    const views = [agent("a", {}), agent("b", {}), agent("c", {})];
    const strategy = createStrategy("round-robin");
    const first = decide("round-robin", views, task(), 1, strategy)!;
    expect([first.strategy, first.winner.agentId, first.runnerUp?.agentId]).toEqual(["round-robin", "a", "b"]);
    const retry = decide("round-robin", views, task({}, "b"), 1, strategy)!;
    expect([retry.winner.agentId, retry.runnerUp?.agentId]).toEqual(["c", "a"]);
  });
});

describe("weighted-random", () => {
  it("draws each agent about as often as its share of the scores, reproducibly", () => {
    const views = [agent("strong", { s: 1 }), agent("mid", { s: 0.6 }), agent("weak", { s: 0.2 })];
    const strategy = createStrategy("weighted-random");
    const rng = createRandom(11);
    const candidates = new Candidates();
    const counts = new Map<string, number>();
    const probabilities: Record<string, number> = {};
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      gatherCandidates(views, { s: 0.1 }, candidates);
      const d = strategy.choose(task({ s: 0.1 }), new ScanPool(candidates), 0, rng)!;
      counts.set(d.winner.agentId, (counts.get(d.winner.agentId) ?? 0) + 1);
      probabilities[d.winner.agentId] = d.winner.probability!;
    }
    // Scores: 0.4 · fit + 0.3 + 0.2 + 0.1 → 1.0, 0.84, 0.68 of a 2.52 total.
    expect(probabilities).toEqual({ strong: expect.closeTo(1 / 2.52, 9), mid: expect.closeTo(0.84 / 2.52, 9), weak: expect.closeTo(0.68 / 2.52, 9) });
    for (const [id, p] of Object.entries(probabilities)) expect(counts.get(id)! / n).toBeCloseTo(p, 1);
    const again = createStrategy("weighted-random");
    const rng2 = createRandom(11);
    const first = Array.from({ length: 50 }, () => (gatherCandidates(views, {}, candidates), again.choose(task(), new ScanPool(candidates), 0, rng2)!.winner.agentId));
    const rng3 = createRandom(11);
    const second = Array.from({ length: 50 }, () => (gatherCandidates(views, {}, candidates), again.choose(task(), new ScanPool(candidates), 0, rng3)!.winner.agentId));
    expect(first).toEqual(second);
  });
});

describe("a user's allocation function", () => {
  const views = () => [agent("a", { s: 0.9 }), agent("b", { s: 0.5 }, 1, 2), agent("full", { s: 1 }, 2, 2)];

  it("picks among the eligible agents with a free slot, given frozen views of them and of the task", () => {
    let seen: unknown[] = [];
    const fn: AllocationFunction = (t, agents, context) => {
      seen = [t, agents.map((a) => [a.id, a.busy, a.concurrency, a.breaker]), typeof context.random(), context.meanLatencyMs];
      expect(() => ((agents[0] as { busy: number }).busy = 99)).toThrow(TypeError);
      expect(() => ((t.requires as Record<string, number>).s = 0)).toThrow(TypeError);
      return { agentId: "b", reason: "b is warm" };
    };
    const list = views();
    const d = decide(fn, list, task({ s: 0.4 }))!;
    expect(d).toMatchObject({ strategy: "custom", winner: { agentId: "b", capability: 0.5 }, runnerUp: undefined, reason: "b is warm" });
    expect(d.fallback).toBeUndefined();
    expect(seen).toEqual([{ id: "t1", kind: "work", requires: { s: 0.4 }, priority: "normal", attempt: 1, avoid: undefined }, [["a", 0, 2, "closed"], ["b", 1, 2, "closed"]], "number", 0]);
    expect(list[0]!.busy).toBe(0);
  });

  it("takes a bare agent id", () => {
    expect(decide(() => "b", views(), task())!.winner.agentId).toBe("b");
  });

  it("leaves the task queued when it returns undefined or null", () => {
    expect(decide(() => undefined, views())).toBeUndefined();
    expect(decide(() => null, views())).toBeUndefined();
  });

  it("falls back to the scored strategy, saying why, when it throws or names an agent it was not given", () => {
    const threw = decide(() => {
      throw new RangeError("no idea");
    }, views())!;
    expect(threw).toMatchObject({ strategy: "scored", winner: { agentId: "a" } });
    expect(threw.fallback).toBe("the allocation function threw: RangeError: no idea; placed by the scored strategy instead");
    const unknown = decide(() => "zz", views())!;
    expect(unknown.winner.agentId).toBe("a");
    expect(unknown.fallback).toContain('returned "zz", which is not one of the 2 agents it was given');
    // "full" exists but has no free slot: not a candidate either.
    expect(decide(() => "full", views())!.fallback).toContain('returned "full"');
    expect(decide(() => 42 as never, views())!.fallback).toContain("returned 42; it must return an agent id, { agentId, reason? } or undefined");
  });
});

describe("every built-in strategy", () => {
  it("picks only an eligible agent with a free slot, reproducibly from the seed", () => {
    for (const name of ALLOCATION_STRATEGIES) {
      for (let seed = 1; seed <= 30; seed++) {
        const rng = createRandom(seed * 7919);
        const views = Array.from({ length: 1 + Math.floor(rng.next() * 6) }, (_, i) =>
          agent(`x${i}`, { s: Math.round(rng.next() * 10) / 10 }, Math.floor(rng.next() * 3), 2, {
            available: rng.next() > 0.1,
            breaker: (["closed", "closed", "open", "halfOpen"] as const)[Math.floor(rng.next() * 4)]!,
            health: updateHealth(FRESH_HEALTH, rng.next() > 0.3, 10 + rng.next() * 100),
          }));
        const t = task({ s: 0.3 }, rng.next() > 0.5 ? "x0" : undefined);
        const candidates = new Candidates();
        gatherCandidates(views, t.requires, candidates);
        const allowed = new Set(candidates.agents.slice(0, candidates.length).map((a) => a.id));
        const d = decide(name, views, t, seed);
        if (allowed.size === 0) {
          expect(d).toBeUndefined();
          continue;
        }
        expect(d?.strategy).toBe(name);
        expect(allowed.has(d!.winner.agentId)).toBe(true);
        if (d!.runnerUp !== undefined) expect(allowed.has(d!.runnerUp.agentId) && d!.runnerUp.agentId !== d!.winner.agentId).toBe(true);
        expect(decide(name, views, t, seed)).toEqual(d);
      }
    }
  });
});

describe("allocation in a hive", () => {
  const hives: Hive[] = [];
  afterEach(async () => {
    await Promise.all(hives.splice(0).map((h) => h.stop()));
  });

  async function hive(options: Partial<HiveOptions>): Promise<{ hive: Hive; events: HiveEvent[]; clock: SimulatedClock }> {
    const clock = new SimulatedClock();
    const h = createHive({ backend: "inline", tasks: fixtureTasks, clock, agents: [{ id: "a" }, { id: "b" }, { id: "c" }], breaker: false, ...options });
    hives.push(h);
    const events: HiveEvent[] = [];
    h.on("*", (e) => void events.push(e));
    await h.start();
    return { hive: h, events, clock };
  }

  it("rotates tasks over the agents with round-robin and names the strategy in every decision", async () => {
    const { hive: h, events } = await hive({ allocation: "round-robin" });
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) {
      const handle = h.submit({ kind: "double", input: { n } });
      expect(await handle.result).toBe(n * 2);
      ids.push(handle.id);
    }
    const decided = events.filter((e): e is Extract<HiveEvent, { type: "allocation.decided" }> => e.type === "allocation.decided");
    expect(decided.map((d) => d.winner.agentId).join("")).toBe("abcabc");
    expect(new Set(decided.map((d) => d.strategy))).toEqual(new Set(["round-robin"]));
    expect(h.explain(ids[4]!)).toMatchObject({ strategy: "round-robin", winner: { agentId: "b" }, runnerUp: { agentId: "c" } });
  });

  it("follows a user's function, keeps a task it declines queued until it is offered again, and switches strategy while running", async () => {
    let hold = true;
    const { hive: h, events } = await hive({ allocation: (t, agents) => (hold && t.kind === "asyncDouble" ? undefined : agents.at(-1)!.id) });
    expect(await h.run({ kind: "double", input: { n: 1 } })).toBe(2);
    const held = h.submit({ kind: "asyncDouble", input: { n: 2 } });
    await settle();
    expect(h.stats().tasks).toMatchObject({ queued: 1, running: 0, completed: 1 });
    expect(events.some((e) => e.type === "task.started" && e.taskId === held.id)).toBe(false);
    hold = false;
    // Offered again at the next placement: another task arriving.
    expect(await h.run({ kind: "double", input: { n: 3 } })).toBe(6);
    expect(await held.result).toBe(4);
    expect(h.explain(held.id)).toMatchObject({ strategy: "custom", winner: { agentId: "c" } });
    h.setAllocation("least-loaded");
    const after = h.submit({ kind: "double", input: { n: 4 } });
    await after.result;
    expect(h.explain(after.id)?.strategy).toBe("least-loaded");
  });

  it("offers queued tasks to the new strategy at once when it changes", async () => {
    const { hive: h } = await hive({ allocation: () => undefined });
    const handle = h.submit({ kind: "double", input: { n: 5 } });
    await settle();
    expect(h.stats().tasks.queued).toBe(1);
    h.setAllocation("scored");
    expect(await handle.result).toBe(10);
    expect(h.explain(handle.id)?.strategy).toBe("scored");
  });

  it("falls back to scored when the function throws, and says so once as allocation.fallback", async () => {
    const { hive: h, events } = await hive({
      allocation: () => {
        throw new Error("broken picker");
      },
    });
    const results = await Promise.all([1, 2, 3].map((n) => h.run({ kind: "double", input: { n } })));
    expect(results).toEqual([2, 4, 6]);
    const fallbacks = events.filter((e) => e.type === "allocation.fallback");
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]).toMatchObject({ reason: expect.stringContaining("the allocation function threw: Error: broken picker") });
    const decided = events.filter((e): e is Extract<HiveEvent, { type: "allocation.decided" }> => e.type === "allocation.decided");
    expect(decided.every((d) => d.strategy === "scored" && d.fallback?.includes("broken picker"))).toBe(true);
    // A new function reports its own first fallback.
    h.setAllocation(() => "nobody");
    await h.run({ kind: "double", input: { n: 4 } });
    expect(events.filter((e) => e.type === "allocation.fallback")).toHaveLength(2);
  });

  it("rejects an unknown strategy, at creation and on setAllocation", async () => {
    for (const allocation of ["fastest", 42, { name: "scored" }]) {
      expect(() => createHive({ agents: [{ id: "a" }], allocation: allocation as never })).toThrow(
        expect.objectContaining({
          code: "INVALID_OPTIONS",
          message: expect.stringContaining('Cannot create hive: "allocation" must be one of scored, least-loaded, round-robin, weighted-random, or a function'),
        }),
      );
    }
    const { hive: h } = await hive({});
    expect(() => h.setAllocation("fastest" as never)).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringMatching(/^Cannot set allocation: "allocation" must be one of .*, received "fastest"$/) }),
    );
    await h.stop();
    expect(() => h.setAllocation("scored")).toThrow(expect.objectContaining({ code: "HIVE_STOPPED" }));
  });
});

describe("allocation in a scenario", () => {
  const scenario: ScenarioInput = {
    name: "rotation",
    agents: [{ name: "w", count: 4, capabilities: { s: 1 }, concurrency: 2 }],
    workload: { kinds: [{ name: "k", requires: { s: 0.5 }, duration: { exponential: { meanMs: 200 } } }], arrivals: { poisson: { ratePerSec: 10 } } },
    policies: { allocation: "round-robin" },
    run: { tasks: 400 },
  };

  it("runs the strategy it names, reproducibly, and refuses a name that is not a strategy", async () => {
    expect(parseScenario(scenario).policies.allocation).toBe("round-robin");
    const a = await simulate(scenario, { seed: 4 });
    const b = await simulate(scenario, { seed: 4 });
    expect(a.tasks.completed).toBe(400);
    expect(JSON.stringify({ ...a, wallMs: 0 })).toBe(JSON.stringify({ ...b, wallMs: 0 }));
    // Round-robin spreads the work evenly (an agent whose slots are full passes its turn on).
    const done = a.agents.map((ag) => ag.completed);
    expect(Math.max(...done) - Math.min(...done)).toBeLessThanOrEqual(2);
    const byScore = await simulate({ ...scenario, policies: {} }, { seed: 4 });
    expect(byScore.agents.map((ag) => ag.completed)).not.toEqual(done);
    expect(() => parseScenario({ ...scenario, policies: { allocation: "fastest" as never } })).toThrow(
      /"policies\.allocation" must be one of scored, least-loaded, round-robin, weighted-random, received "fastest"/,
    );
  });

  it("can be varied by a sweep: names pass through --vary as strings, into a scenario without policies", () => {
    expect(parseVary("policies.allocation=scored,least-loaded,round-robin")).toEqual(["policies.allocation", ["scored", "least-loaded", "round-robin"]]);
    const { policies: _policies, ...bare } = scenario;
    const varied = setPath(bare, "policies.allocation", "least-loaded") as ScenarioInput;
    expect(parseScenario(varied).policies.allocation).toBe("least-loaded");
  });
});
