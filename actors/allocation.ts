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
  let sum = 0;
  let n = 0;
  for (const name in requires) {
    sum += agent.capabilities[name] ?? 0;
    n++;
  }
  const capability = n === 0 ? 1 : sum / n;
  const load = (agent.concurrency - agent.busy) / agent.concurrency;
  const latency = agent.health.latencyMs;
  const latencyFactor = latency > 0 && meanLatencyMs > 0 ? Math.min(1, meanLatencyMs / latency) : 1;
  const health = agent.health.successRate * (0.5 + 0.5 * latencyFactor);
  const retry = agent.id === avoid ? 0 : 1;
  return {
    agentId: agent.id,
    capability,
    load,
    health,
    retry,
    score: WEIGHTS.capability * capability + WEIGHTS.load * load + WEIGHTS.health * health + WEIGHTS.retry * retry,
  };
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
  let best: ScoreTerms | undefined;
  let second: ScoreTerms | undefined;
  let ties = 1;
  for (const agent of agents) {
    if (!agent.available || agent.busy >= agent.concurrency || !breakerAllows(agent) || !isEligible(agent.capabilities, requires)) continue;
    const terms = score(agent, requires, avoid, meanLatencyMs);
    if (best === undefined || terms.score > best.score + 1e-12) {
      second = best;
      best = terms;
      ties = 1;
    } else if (Math.abs(terms.score - best.score) <= 1e-12) {
      // Reservoir sampling among equal scores: each tied agent wins with equal probability.
      ties++;
      if (draw() * ties < 1) {
        second = best;
        best = terms;
      } else if (second === undefined || terms.score > second.score) second = terms;
    } else if (second === undefined || terms.score > second.score) {
      second = terms;
    }
  }
  return best === undefined ? undefined : { winner: best, runnerUp: second };
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

/** Health of an agent that has run nothing yet. */
export const FRESH_HEALTH: Health = { successRate: 1, latencyMs: 0, completed: 0, failed: 0 };
