/**
 * Allocation strategies: which of the agents that can take a task now gets it. The Supervisor
 * decides eligibility first (capability levels, breaker, free slot — see `allocation.ts`); a
 * strategy only picks among those candidates, read through a {@link CandidatePool} (the
 * Supervisor's index, which looks only at the agents that can win; or a scan of all of them), and
 * explains its pick. The built-in strategies ask the pool for their top two; weighted-random and
 * a user's function see every candidate.
 *
 * Built in: `scored` (the capability score, the default), `least-loaded`, `round-robin` and
 * `weighted-random`; or a user's {@link AllocationFunction}. Every strategy is pure apart from
 * its own bookkeeping (the round-robin cursor) and draws only from the seeded generator it is
 * given, so a seed reproduces every decision.
 *
 * @module
 */
import type { Random } from "../src/core/random.ts";
import { type AgentView, type CandidatePool, chooseScored, scoreOf, type ScoreTerms, scoreTerms, Top2 } from "./allocation.ts";
import type { Capabilities, Health, Priority, ReadyTask } from "./types.ts";

/** The built-in allocation strategies, by name. */
export type AllocationStrategyName = "scored" | "least-loaded" | "round-robin" | "weighted-random";

/** Names of the built-in strategies, the default first. */
export const ALLOCATION_STRATEGIES: readonly AllocationStrategyName[] = ["scored", "least-loaded", "round-robin", "weighted-random"];

/** The task being placed, as an {@link AllocationFunction} sees it (a frozen copy). */
export interface AllocationTask {
  readonly id: string;
  readonly kind: string;
  readonly requires: Readonly<Capabilities>;
  readonly priority: Priority;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The agent of the previous attempt, if any: built-in strategies prefer another. */
  readonly avoid: string | undefined;
}

/** An agent that can take the task now, as an {@link AllocationFunction} sees it (a frozen copy). */
export interface AllocationAgent {
  readonly id: string;
  readonly capabilities: Readonly<Capabilities>;
  /** Attempts it runs at once. */
  readonly concurrency: number;
  /** Attempts running on it now (below `concurrency`: it has a free slot). */
  readonly busy: number;
  /** Success rate and latency, as moving averages. */
  readonly health: Readonly<Health>;
  /** `halfOpen`: this attempt would be its single probe. */
  readonly breaker: "closed" | "halfOpen";
}

/** What an {@link AllocationFunction} is given besides the task and the agents. */
export interface AllocationContext {
  /** A seeded uniform draw in [0, 1): use it instead of `Math.random()` to keep runs reproducible. */
  random(): number;
  /** The swarm's mean attempt latency, ms (0 while nothing has run). */
  readonly meanLatencyMs: number;
}

/**
 * What an {@link AllocationFunction} returns: the id of one of the agents it was given, or
 * `{ agentId, reason }` to have the reason shown in the decision, or `undefined` (or `null`) to
 * leave the task queued.
 */
export type AllocationChoice = string | { agentId: string; reason?: string } | undefined | null;

/**
 * A user's allocation strategy: picks one of `agents` (the eligible ones with a free slot, never
 * empty, in declaration order) for `task`. If it throws or names an agent not in `agents`, the
 * placement falls back to the `scored` strategy and the decision says why.
 */
export type AllocationFunction = (task: AllocationTask, agents: readonly AllocationAgent[], context: AllocationContext) => AllocationChoice;

/** The hive's `allocation` option: a built-in strategy's name, or a function. */
export type AllocationOption = AllocationStrategyName | AllocationFunction;

/** One agent in a decision: the terms of its capability score, and what its strategy went by. */
export interface DecisionTerms extends ScoreTerms {
  /** `least-loaded`: free slots (concurrency − busy) when the decision was made. */
  freeSlots?: number;
  /** `weighted-random`: the chance it had of being drawn (its score ÷ the sum of all). */
  probability?: number;
}

/** A strategy's pick among the candidates, and its explanation. */
export interface Choice {
  /** The strategy that made the decision (`custom` for a user's function). */
  strategy: AllocationStrategyName | "custom";
  winner: DecisionTerms;
  /** The next best by the strategy's own measure; undefined when it had no other candidate (or for `custom`). */
  runnerUp: DecisionTerms | undefined;
  /** `custom`: the reason the function gave. */
  reason?: string;
  /** Why a user's function was not followed (it threw, or named an agent it was not given): `scored` decided instead. */
  fallback?: string;
}

/** A strategy instance, owned by one Supervisor (it may keep state, as round-robin's cursor). */
export interface AllocationStrategy {
  readonly name: AllocationStrategyName | "custom";
  /** Picks among the candidates of `pool` (at least one); undefined leaves the task queued. */
  choose(task: ReadyTask, pool: CandidatePool, meanLatencyMs: number, random: Random): Choice | undefined;
}

/** Creates the strategy an `allocation` option names (validated by the hive beforehand). */
export function createStrategy(option: AllocationOption): AllocationStrategy {
  if (typeof option === "function") return new CustomStrategy(option);
  switch (option) {
    case "least-loaded":
      return leastLoaded;
    case "round-robin":
      return new RoundRobin();
    case "weighted-random":
      return new WeightedRandom();
    default:
      return scored;
  }
}

/** Scratch space of the strategies' top-two queries (placements run one at a time). */
const top = new Top2();

/** `scored`: the best capability score; exact ties to the higher success rate, then the higher tie key. */
const scored: AllocationStrategy = {
  name: "scored",
  choose(task, pool, meanLatencyMs) {
    const { winner, runnerUp } = chooseScored(pool, task.avoid, meanLatencyMs, top);
    return { strategy: "scored", winner, runnerUp };
  },
};

/**
 * `least-loaded`: the most free slots relative to concurrency; a retry prefers another agent
 * than its last; exact ties to the higher success rate, then the higher tie key.
 */
const leastLoaded: AllocationStrategy = {
  name: "least-loaded",
  choose(task, pool, meanLatencyMs) {
    const avoid = task.avoid;
    pool.topLeastLoaded(avoid, top);
    const terms = (a: AgentView, fit: number): DecisionTerms => ({ ...scoreTerms(a, fit, avoid, meanLatencyMs), freeSlots: a.concurrency - a.busy });
    return { strategy: "least-loaded", winner: terms(top.first!, top.firstFit), runnerUp: top.second === undefined ? undefined : terms(top.second, top.secondFit) };
  },
};

/**
 * `round-robin`: the next candidate in declaration order after the last agent it picked,
 * wrapping around; a retry skips its last agent unless that is the only candidate. The
 * runner-up is the candidate whose turn would come next.
 */
class RoundRobin implements AllocationStrategy {
  readonly name = "round-robin";
  /** Ordinal of the agent picked last (-1 before the first pick). */
  #last = -1;

  choose(task: ReadyTask, pool: CandidatePool, meanLatencyMs: number): Choice {
    const avoid = task.avoid;
    let winner = pool.nextInTurn(this.#last)!;
    if (winner.id === avoid) winner = pool.nextInTurn(winner.ordinal)!; // itself when it is the only candidate
    let second = pool.nextInTurn(winner.ordinal);
    if (second === winner) second = undefined;
    else if (second !== undefined && second.id === avoid) {
      // The agent to avoid comes next only if no other does.
      const after = pool.nextInTurn(second.ordinal)!;
      if (after !== winner) second = after;
    }
    this.#last = winner.ordinal;
    const terms = (a: AgentView): DecisionTerms => scoreTerms(a, pool.fitOf(a), avoid, meanLatencyMs);
    return { strategy: "round-robin", winner: terms(winner), runnerUp: second === undefined ? undefined : terms(second) };
  }
}

/**
 * `weighted-random`: one seeded draw, each candidate drawn with probability proportional to its
 * capability score (every score is positive: a candidate has a free slot). The runner-up is the
 * likeliest of the others.
 */
class WeightedRandom implements AllocationStrategy {
  readonly name = "weighted-random";
  /** Scores of the current candidates (scratch, reused). */
  readonly #scores: number[] = [];

  choose(task: ReadyTask, pool: CandidatePool, meanLatencyMs: number, random: Random): Choice {
    const { agents, fits, length: n } = pool.all();
    const scores = this.#scores;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const s = scoreOf(agents[i]!, fits[i]!, task.avoid, meanLatencyMs);
      scores[i] = s;
      sum += s;
    }
    let x = random.next() * sum;
    let winner = n - 1; // rounding can leave x a hair above the last cumulative sum
    for (let i = 0; i < n; i++) {
      x -= scores[i]!;
      if (x < 0) {
        winner = i;
        break;
      }
    }
    let second = -1;
    for (let i = 0; i < n; i++) {
      if (i !== winner && (second < 0 || scores[i]! > scores[second]!)) second = i;
    }
    const terms = (i: number): DecisionTerms => ({ ...scoreTerms(agents[i]!, fits[i]!, task.avoid, meanLatencyMs), probability: scores[i]! / sum });
    return { strategy: "weighted-random", winner: terms(winner), runnerUp: second < 0 ? undefined : terms(second) };
  }
}

/** A user's function: handed frozen copies; whatever it does wrong, `scored` places the task instead. */
class CustomStrategy implements AllocationStrategy {
  readonly name = "custom";
  readonly #fn: AllocationFunction;

  constructor(fn: AllocationFunction) {
    this.#fn = fn;
  }

  choose(task: ReadyTask, pool: CandidatePool, meanLatencyMs: number, random: Random): Choice | undefined {
    const candidates = pool.all();
    const n = candidates.length;
    const views: AllocationAgent[] = new Array(n);
    for (let i = 0; i < n; i++) views[i] = agentView(candidates.agents[i]!);
    const taskView: AllocationTask = Object.freeze({ id: task.id, kind: task.kind, requires: Object.freeze({ ...task.requires }), priority: task.priority, attempt: task.attempt, avoid: task.avoid });
    const context: AllocationContext = Object.freeze({ random: () => random.next(), meanLatencyMs });
    let picked: AllocationChoice;
    try {
      picked = this.#fn(taskView, Object.freeze(views), context);
    } catch (error) {
      return fallback(task, pool, meanLatencyMs, random, `the allocation function threw: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    }
    if (picked === undefined || picked === null) return undefined;
    const agentId = typeof picked === "string" ? picked : typeof picked === "object" && typeof picked.agentId === "string" ? picked.agentId : undefined;
    if (agentId === undefined) {
      return fallback(task, pool, meanLatencyMs, random, `the allocation function returned ${describe(picked)}; it must return an agent id, { agentId, reason? } or undefined`);
    }
    for (let i = 0; i < n; i++) {
      if (candidates.agents[i]!.id !== agentId) continue;
      const reason = typeof picked === "object" && typeof picked.reason === "string" ? picked.reason : undefined;
      return { strategy: "custom", winner: scoreTerms(candidates.agents[i]!, candidates.fits[i]!, task.avoid, meanLatencyMs), runnerUp: undefined, ...(reason !== undefined ? { reason } : {}) };
    }
    return fallback(task, pool, meanLatencyMs, random, `the allocation function returned ${JSON.stringify(agentId)}, which is not one of the ${n} agent${n === 1 ? "" : "s"} it was given`);
  }
}

function agentView(a: AgentView): AllocationAgent {
  return Object.freeze({
    id: a.id,
    capabilities: Object.freeze({ ...a.capabilities }),
    concurrency: a.concurrency,
    busy: a.busy,
    health: Object.freeze({ ...a.health }),
    breaker: a.breaker === "halfOpen" ? "halfOpen" : "closed",
  });
}

function fallback(task: ReadyTask, pool: CandidatePool, meanLatencyMs: number, random: Random, why: string): Choice {
  return { ...scored.choose(task, pool, meanLatencyMs, random)!, fallback: `${why}; placed by the scored strategy instead` };
}

/** A short description of a returned value, for the fallback's explanation. */
function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.stringify(value).slice(0, 120);
    } catch {
      return "an object";
    }
  }
  return typeof value === "function" ? "a function" : String(value);
}
