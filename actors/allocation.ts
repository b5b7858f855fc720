/**
 * Eligibility and the capability score, as pure functions the Supervisor and the allocation
 * strategies (`allocation-strategies.ts`) use.
 *
 * An agent is eligible for a task when it has every required capability at or above the level
 * asked. Among eligible agents with a free slot, the score is a weighted sum of four terms in
 * [0, 1]: capability fit, free capacity, health, and a small preference against the agent that
 * ran the task's previous attempt. Ties break on a seeded random draw, so a seed reproduces
 * every decision. The formula lives in one place: {@link scoreOf} (the total alone, for the
 * scan) and {@link scoreTerms} (every term, for explanations) share its terms and weights.
 *
 * @module
 */
import type { Capabilities, Health } from "./types.ts";

/** What allocation needs to know about an agent. */
export interface AgentView {
  id: string;
  capabilities: Capabilities;
  concurrency: number;
  /** Attempts running on it now. */
  busy: number;
  health: Health;
  /** False while the agent is stopping, failed or restarting. */
  available: boolean;
  /** The agent's circuit breaker: open = not eligible, halfOpen = one probe attempt at a time. */
  breaker: "closed" | "open" | "halfOpen";
  /** Position in declaration order (agents added later come after): round-robin rotates by it. */
  ordinal: number;
}

/** True when the agent's breaker lets another attempt through now. */
export function breakerAllows(agent: AgentView): boolean {
  return agent.breaker === "closed" || (agent.breaker === "halfOpen" && agent.busy === 0);
}

/** The terms of one agent's score, for explanations. */
export interface ScoreTerms {
  agentId: string;
  /** Mean of the agent's level over the required capabilities (1 when nothing is required). */
  capability: number;
  /** Free slots ÷ concurrency. */
  load: number;
  /** Success rate, discounted by latency relative to the swarm's mean. */
  health: number;
  /** 0 when the agent ran the previous attempt, else 1. */
  retry: number;
  /** Weighted total. */
  score: number;
}

/** Weights of the score terms. */
export const WEIGHTS = { capability: 0.4, load: 0.3, health: 0.2, retry: 0.1 } as const;

/** True when `capabilities` meets every level in `requires`. */
export function isEligible(capabilities: Capabilities, requires: Capabilities): boolean {
  for (const name in requires) {
    const have = capabilities[name];
    if (have === undefined || have < requires[name]!) return false;
  }
  return true;
}

/**
 * The terms of one agent's score. `fit` is its capability term (as {@link gatherCandidates} computes it); `meanLatencyMs`
 * is the swarm's mean, for the latency discount.
 */
export function scoreTerms(agent: AgentView, fit: number, avoid: string | undefined, meanLatencyMs: number): ScoreTerms {
  const load = loadTerm(agent);
  const health = healthTerm(agent, meanLatencyMs);
  const retry = retryTerm(agent, avoid);
  return { agentId: agent.id, capability: fit, load, health, retry, score: total(fit, load, health, retry) };
}

/** The weighted total of {@link scoreTerms}, without building them (the hot path of a placement). */
export function scoreOf(agent: AgentView, fit: number, avoid: string | undefined, meanLatencyMs: number): number {
  return total(fit, loadTerm(agent), healthTerm(agent, meanLatencyMs), retryTerm(agent, avoid));
}

/** Scores one eligible agent against a task's requirements. */
export function score(agent: AgentView, requires: Capabilities, avoid: string | undefined, meanLatencyMs: number): ScoreTerms {
  let sum = 0;
  let n = 0;
  for (const name in requires) {
    sum += agent.capabilities[name] ?? 0;
    n++;
  }
  return scoreTerms(agent, n === 0 ? 1 : sum / n, avoid, meanLatencyMs);
}

function loadTerm(agent: AgentView): number {
  return (agent.concurrency - agent.busy) / agent.concurrency;
}

function healthTerm(agent: AgentView, meanLatencyMs: number): number {
  const latency = agent.health.latencyMs;
  const latencyFactor = latency > 0 && meanLatencyMs > 0 ? Math.min(1, meanLatencyMs / latency) : 1;
  return agent.health.successRate * (0.5 + 0.5 * latencyFactor);
}

function retryTerm(agent: AgentView, avoid: string | undefined): number {
  return agent.id === avoid ? 0 : 1;
}

function total(capability: number, load: number, health: number, retry: number): number {
  return WEIGHTS.capability * capability + WEIGHTS.load * load + WEIGHTS.health * health + WEIGHTS.retry * retry;
}

/**
 * The agents a task may be placed on now, in declaration order, each with its capability fit.
 * Filled by {@link gatherCandidates} and reused from one placement to the next: only the first
 * `length` entries are live.
 */
export class Candidates {
  /** Eligible agents with a free slot; entries from `length` on are stale. */
  readonly agents: AgentView[] = [];
  /** `fits[i]`: mean level of `agents[i]` over the required capabilities (1 when none is required). */
  readonly fits: number[] = [];
  length = 0;
}

/**
 * Fills `out` with the agents of `views` that can take a task requiring `requires` now: up, a free
 * slot, a breaker that lets an attempt through (closed, or half-open with nothing running), and
 * every required capability at or above the level asked. Returns how many there are.
 */
export function gatherCandidates(views: readonly AgentView[], requires: Capabilities, out: Candidates): number {
  // The requirements once as arrays: one pass per agent decides eligibility and sums the fit.
  const names: string[] = [];
  const levels: number[] = [];
  for (const name in requires) {
    names.push(name);
    levels.push(requires[name]!);
  }
  const n = names.length;
  const agents = out.agents;
  const fits = out.fits;
  let count = 0;
  for (const agent of views) {
    if (!agent.available || agent.busy >= agent.concurrency || !breakerAllows(agent)) continue;
    let fit = 1;
    if (n > 0) {
      const caps = agent.capabilities;
      let sum = 0;
      let i = 0;
      for (; i < n; i++) {
        const have = caps[names[i]!];
        if (have === undefined || have < levels[i]!) break;
        sum += have;
      }
      if (i < n) continue; // lacks a required capability: not eligible
      fit = sum / n;
    }
    agents[count] = agent;
    fits[count] = fit;
    count++;
  }
  out.length = count;
  return count;
}

/** The winner and the runner-up of a scored placement. */
export interface Scored {
  winner: ScoreTerms;
  runnerUp: ScoreTerms | undefined;
}

/**
 * Capability-scored choice among `candidates` (at least one): the best {@link scoreOf}, exact
 * ties broken by `draw`, a seeded uniform draw in [0, 1) taken only on a tie.
 */
export function chooseScored(candidates: Candidates, avoid: string | undefined, meanLatencyMs: number, draw: () => number): Scored {
  const { agents, fits } = candidates;
  // Scores only: the terms of the winner and the runner-up are built once, at the end.
  let best = -1;
  let bestScore = 0;
  let second = -1;
  let secondScore = 0;
  let ties = 1;
  for (let i = 0; i < candidates.length; i++) {
    const s = scoreOf(agents[i]!, fits[i]!, avoid, meanLatencyMs);
    if (best < 0 || s > bestScore + 1e-12) {
      second = best;
      secondScore = bestScore;
      best = i;
      bestScore = s;
      ties = 1;
    } else if (Math.abs(s - bestScore) <= 1e-12) {
      // Reservoir sampling among equal scores: each tied agent wins with equal probability.
      ties++;
      if (draw() * ties < 1) {
        second = best;
        secondScore = bestScore;
        best = i;
        bestScore = s;
      } else if (second < 0 || s > secondScore) {
        second = i;
        secondScore = s;
      }
    } else if (second < 0 || s > secondScore) {
      second = i;
      secondScore = s;
    }
  }
  return {
    winner: scoreTerms(agents[best]!, fits[best]!, avoid, meanLatencyMs),
    runnerUp: second < 0 ? undefined : scoreTerms(agents[second]!, fits[second]!, avoid, meanLatencyMs),
  };
}

/** Folds one attempt's outcome into an agent's health (EWMA, weight `alpha`). */
export function updateHealth(health: Health, ok: boolean, durationMs: number, alpha = 0.2): Health {
  return {
    successRate: health.successRate + alpha * ((ok ? 1 : 0) - health.successRate),
    latencyMs: health.completed + health.failed === 0 ? durationMs : health.latencyMs + alpha * (durationMs - health.latencyMs),
    completed: health.completed + (ok ? 1 : 0),
    failed: health.failed + (ok ? 0 : 1),
  };
}

/**
 * The swarm's mean latency — over agents that have run something — kept as a running sum as
 * their health changes, so a placement does not scan every agent for it.
 */
export class MeanLatency {
  #sum = 0;
  #n = 0;

  /** Counts an agent's health in. */
  add(health: Health): void {
    if (health.completed + health.failed === 0) return;
    this.#sum += health.latencyMs;
    this.#n++;
  }

  /** Counts an agent's health out (before it changes, or as the agent leaves). */
  remove(health: Health): void {
    if (health.completed + health.failed === 0) return;
    this.#sum -= health.latencyMs;
    if (--this.#n === 0) this.#sum = 0; // no rounding residue carried into the next agent
  }

  /** Mean latency in ms, 0 while no agent has run anything. */
  get value(): number {
    return this.#n === 0 ? 0 : this.#sum / this.#n;
  }
}

/** Health of an agent that has run nothing yet. */
export const FRESH_HEALTH: Health = { successRate: 1, latencyMs: 0, completed: 0, failed: 0 };
