import { describe, expect, it } from "vitest";
import { type AgentView, breakerAllows, Candidates, FRESH_HEALTH, gatherCandidates, isEligible, ScanPool } from "../actors/allocation.ts";
import { AllocationIndex } from "../actors/allocation-index.ts";
import { ALLOCATION_STRATEGIES, type AllocationStrategy, createStrategy } from "../actors/allocation-strategies.ts";
import { OrdinalSet } from "../actors/ordinal-set.ts";
import type { ReadyTask } from "../actors/types.ts";
import { createRandom, type Random } from "../src/core/random.ts";

const PROFILES: Record<string, number>[] = [{ a: 0.8 }, { a: 0.8 }, { a: 0.4, b: 0.9 }, { b: 0.6 }, {}, { a: 1, b: 1, c: 0.7 }];
const REQUIREMENTS: Record<string, number>[] = [{}, { a: 0.3 }, { a: 0.5 }, { b: 0.5, a: 0.3 }, { c: 0.5 }, { z: 0.1 }];

/** A random swarm the index and a plain list both follow, changed at random. */
class Swarm {
  readonly views: AgentView[] = [];
  readonly returnable = new Map<AgentView, boolean>();
  readonly index: AllocationIndex;
  #ordinal = 0;
  readonly #rng: Random;

  constructor(rng: Random, size: number) {
    this.#rng = rng;
    this.index = new AllocationIndex(createRandom(Math.floor(rng.next() * 1e9)));
    for (let i = 0; i < size; i++) this.add();
  }

  #pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.#rng.next() * list.length)]!;
  }

  #health(): AgentView["health"] {
    const r = this.#rng;
    // Success rates and latencies collide on purpose: ties are what the index must get right.
    const successRate = this.#pick([1, 1, 1, 0.8, 0.84, r.next()]);
    const latencyMs = this.#pick([0, 100, 100, 250, 1 + r.next() * 500]);
    return { successRate, latencyMs, completed: latencyMs === 0 ? 0 : 3, failed: 0 };
  }

  add(): void {
    const r = this.#rng;
    const concurrency = this.#pick([1, 2, 4, 4, 7]);
    // Half the agents share one of a few profiles; the rest declare their own levels.
    const capabilities = r.next() < 0.5 ? this.#pick(PROFILES) : { a: Math.round(r.next() * 10) / 10, ...(r.next() < 0.5 ? { b: Math.round(r.next() * 10) / 10 } : {}) };
    const view: AgentView = {
      id: `x${this.#ordinal}`,
      capabilities,
      concurrency,
      busy: Math.floor(r.next() * (concurrency + 1)),
      health: r.next() < 0.3 ? FRESH_HEALTH : this.#health(),
      available: r.next() > 0.1,
      breaker: this.#pick(["closed", "closed", "closed", "open", "halfOpen"] as const),
      ordinal: this.#ordinal++,
      tieKey: 0,
    };
    this.views.push(view);
    this.returnable.set(view, r.next() > 0.1);
    this.index.add(view, this.returnable.get(view)!);
  }

  /** One random change, told to the index as the Supervisor tells it. */
  change(): void {
    const r = this.#rng;
    const roll = r.next();
    if (roll < 0.05 || this.views.length === 0) return this.add();
    const at = Math.floor(r.next() * this.views.length);
    const view = this.views[at]!;
    if (roll < 0.08) {
      this.views.splice(at, 1);
      this.index.remove(view);
      return;
    }
    if (roll < 0.5) view.busy = Math.max(0, Math.min(view.concurrency, view.busy + (r.next() < 0.5 ? -1 : 1)));
    else if (roll < 0.75) {
      view.busy = Math.max(0, view.busy - 1);
      view.health = this.#health();
    } else if (roll < 0.85) view.available = !view.available;
    else if (roll < 0.95) view.breaker = this.#pick(["closed", "open", "halfOpen"] as const);
    else this.returnable.set(view, !this.returnable.get(view));
    this.index.update(view, this.returnable.get(view)!);
  }

  task(): ReadyTask {
    const requires = this.#pick(REQUIREMENTS);
    const avoid = this.#rng.next() < 0.4 && this.views.length > 0 ? this.#pick(this.views).id : undefined;
    return { id: "t", kind: "k", input: null, requires, priority: "normal", timeoutMs: 1_000, attempt: avoid === undefined ? 1 : 2, avoid, enqueuedAt: 0 };
  }

  meanLatencyMs(): number {
    return this.#pick([0, 100, 180, 250, 1_000]);
  }
}

describe("the allocation index", () => {
  it("makes every decision a scan over all candidates makes, with the same explanation, on random swarms", () => {
    let decisions = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rng = createRandom(seed);
      const swarm = new Swarm(rng, 1 + Math.floor(rng.next() * 80));
      // Each strategy twice, fed the same decisions: one reads the index, the other a scan.
      const pairs: [AllocationStrategy, AllocationStrategy, Random, Random][] = ALLOCATION_STRATEGIES.map((
        name,
      ) => [createStrategy(name), createStrategy(name), createRandom(seed), createRandom(seed)]);
      const custom = (_t: unknown, agents: readonly { id: string }[]) => agents[Math.floor(agents.length / 2)]!.id;
      pairs.push([createStrategy(custom), createStrategy(custom), createRandom(seed), createRandom(seed)]);
      const candidates = new Candidates();
      for (let step = 0; step < 150; step++) {
        swarm.change();
        const task = swarm.task();
        const mean = swarm.meanLatencyMs();
        const count = gatherCandidates(swarm.views, task.requires, candidates);
        const pool = swarm.index.poolFor(task.requires);
        expect(pool.count).toBe(count);
        expect(pool.runnable).toBe(swarm.views.some((v) => swarm.returnable.get(v) && isEligible(v.capabilities, task.requires)));
        expect(pool.all().agents.slice(0, pool.all().length).map((v) => v.id)).toEqual(candidates.agents.slice(0, count).map((v) => v.id));
        expect(pool.all().fits.slice(0, count)).toEqual(candidates.fits.slice(0, count));
        if (count === 0) continue;
        for (const [indexed, scanned, r1, r2] of pairs) {
          const a = indexed.choose(task, swarm.index.poolFor(task.requires), mean, r1);
          const b = scanned.choose(task, new ScanPool(candidates), mean, r2);
          expect(a).toEqual(b);
          decisions++;
        }
      }
    }
    expect(decisions).toBeGreaterThan(20_000);
  });

  it("walks the agents that can take work in declaration order, all of them or those some requirements suit", () => {
    const rng = createRandom(99);
    const swarm = new Swarm(rng, 300);
    for (let step = 0; step < 500; step++) {
      swarm.change();
      const walked: string[] = [];
      for (let v = swarm.index.nextCandidate(-1); v !== undefined; v = swarm.index.nextCandidate(v.ordinal)) walked.push(v.id);
      expect(walked).toEqual(swarm.views.filter((v) => v.available && v.busy < v.concurrency && breakerAllows(v)).map((v) => v.id));
      // Only those that suit one of some waiting requirement sets (what a fill looks at).
      const waiting = REQUIREMENTS.filter(() => rng.next() < 0.4);
      const suited: string[] = [];
      for (let v = swarm.index.nextCandidateFor(-1, waiting); v !== undefined; v = swarm.index.nextCandidateFor(v.ordinal, waiting)) suited.push(v.id);
      expect(suited).toEqual(swarm.views.filter((v) => v.available && v.busy < v.concurrency && breakerAllows(v) && waiting.some((r) => isEligible(v.capabilities, r))).map((v) => v.id));
    }
  });

  it("gives an exact tie to the agent that has waited longest in its state, so work spreads over equals", () => {
    const index = new AllocationIndex(createRandom(5));
    const views: AgentView[] = Array.from(
      { length: 8 },
      (_, i) => ({ id: `a${i}`, capabilities: {}, concurrency: 2, busy: 0, health: FRESH_HEALTH, available: true, breaker: "closed", ordinal: i, tieKey: 0 }),
    );
    for (const v of views) index.add(v, true);
    const scored = createStrategy("scored");
    const task: ReadyTask = { id: "t", kind: "k", input: null, requires: {}, priority: "normal", timeoutMs: 1, attempt: 1, avoid: undefined, enqueuedAt: 0 };
    const winners = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const d = scored.choose(task, index.poolFor({}), 0, createRandom(1))!;
      winners.add(d.winner.agentId);
      // The winner takes the task and finishes it at once: same load as before, last in line.
      const v = views.find((x) => x.id === d.winner.agentId)!;
      v.busy++;
      index.update(v, true);
      v.busy--;
      index.update(v, true);
    }
    expect(winners.size).toBe(8);
  });
});

describe("OrdinalSet", () => {
  it("finds the next and the previous member like a sorted list does", () => {
    const rng = createRandom(3);
    const set = new OrdinalSet(8);
    const model = new Set<number>();
    for (let step = 0; step < 4_000; step++) {
      const i = Math.floor(rng.next() * 3_000);
      if (rng.next() < 0.55) {
        set.add(i);
        model.add(i);
      } else {
        set.delete(i);
        model.delete(i);
      }
      const q = Math.floor(rng.next() * 3_100) - 50;
      const sorted = [...model].sort((a, b) => a - b);
      expect(set.size).toBe(model.size);
      expect(set.has(i)).toBe(model.has(i));
      expect(set.next(q)).toBe(sorted.find((x) => x >= q) ?? -1);
      expect(set.prev(q)).toBe([...sorted].reverse().find((x) => x <= q) ?? -1);
    }
  });
});
