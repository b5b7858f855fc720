/**
 * Capability-scored allocation, as pure functions the Supervisor uses.
 *
 * An agent is eligible for a task when it has every required capability at or above the level
 * asked. Among eligible agents with a free slot, the score is a weighted sum of four terms in
 * [0, 1]: capability fit, free capacity, health, and a small preference against the agent that
 * ran the task's previous attempt. Ties break on a seeded random draw, so a seed reproduces
 * every decision.
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

/** Scores one eligible agent. `meanLatencyMs` is the swarm's mean, for the latency discount. */
export function score(agent: AgentView, requires: Capabilities, avoid: string | undefined, meanLatencyMs: number): ScoreTerms {
  const capability = capabilityTerm(agent, requires);
  const load = (agent.concurrency - agent.busy) / agent.concurrency;
  const health = healthTerm(agent, meanLatencyMs);
  const retry = agent.id === avoid ? 0 : 1;
  return { agentId: agent.id, capability, load, health, retry, score: total(capability, load, health, retry) };
}

function capabilityTerm(agent: AgentView, requires: Capabilities): number {
  let sum = 0;
  let n = 0;
  for (const name in requires) {
    sum += agent.capabilities[name] ?? 0;
    n++;
  }
  return n === 0 ? 1 : sum / n;
}

function healthTerm(agent: AgentView, meanLatencyMs: number): number {
  const latency = agent.health.latencyMs;
  const latencyFactor = latency > 0 && meanLatencyMs > 0 ? Math.min(1, meanLatencyMs / latency) : 1;
  return agent.health.successRate * (0.5 + 0.5 * latencyFactor);
}

function total(capability: number, load: number, health: number, retry: number): number {
  return WEIGHTS.capability * capability + WEIGHTS.load * load + WEIGHTS.health * health + WEIGHTS.retry * retry;
}

/** The outcome of one placement decision. */
export interface Decision {
  winner: ScoreTerms;
  runnerUp: ScoreTerms | undefined;
}

/**
 * Picks the best eligible agent with a free slot, or undefined when none has one. `draw` is a
 * seeded uniform draw in [0, 1), used only to break exact ties.
 */
export function choose(
  agents: Iterable<AgentView>,
  requires: Capabilities,
  avoid: string | undefined,
  meanLatencyMs: number,
  draw: () => number,
): Decision | undefined {
  // The requirements once as arrays: one pass per agent decides eligibility and sums the fit.
  const names: string[] = [];
  const levels: number[] = [];
  for (const name in requires) {
    names.push(name);
    levels.push(requires[name]!);
  }
  const n = names.length;
  // Scores only: the terms of the winner and the runner-up are built once, at the end.
  let best: AgentView | undefined;
  let bestScore = 0;
  let second: AgentView | undefined;
  let secondScore = 0;
  let ties = 1;
  for (const agent of agents) {
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
    const s = total(fit, (agent.concurrency - agent.busy) / agent.concurrency, healthTerm(agent, meanLatencyMs), agent.id === avoid ? 0 : 1);
    if (best === undefined || s > bestScore + 1e-12) {
      second = best;
      secondScore = bestScore;
      best = agent;
      bestScore = s;
      ties = 1;
    } else if (Math.abs(s - bestScore) <= 1e-12) {
      // Reservoir sampling among equal scores: each tied agent wins with equal probability.
      ties++;
      if (draw() * ties < 1) {
        second = best;
        secondScore = bestScore;
        best = agent;
        bestScore = s;
      } else if (second === undefined || s > secondScore) {
        second = agent;
        secondScore = s;
      }
    } else if (second === undefined || s > secondScore) {
      second = agent;
      secondScore = s;
    }
  }
  if (best === undefined) return undefined;
  return { winner: score(best, requires, avoid, meanLatencyMs), runnerUp: second === undefined ? undefined : score(second, requires, avoid, meanLatencyMs) };
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
