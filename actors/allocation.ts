/**
 * Eligibility and the capability score, as pure functions the Supervisor and the allocation
 * strategies (`allocation-strategies.ts`) use.
 *
 * An agent is eligible for a task when it has every required capability at or above the level
 * asked. Among eligible agents with a free slot, the score is a weighted sum of four terms in
 * [0, 1]: capability fit, free capacity, health, and a small preference against the agent that
 * ran the task's previous attempt. Exact ties go to the higher success rate, then to the higher
 * tie key — a seeded draw the Supervisor renews whenever an agent's free slots or success rate
 * change — so a seed reproduces every decision (see {@link tieBefore}). The formula lives in one
 * place: {@link scoreOf} (the total alone, for the scan) and {@link scoreTerms} (every term, for
 * explanations) share its terms and weights.
 *
 * A strategy reads the agents that can take a task through a {@link CandidatePool}: the
 * Supervisor's index (`allocation-index.ts`, which looks only at the few agents that can win) or
 * {@link ScanPool}, a plain scan over every candidate — the reference the index is tested against.
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
  /** Seeded draw in [0, 1) that breaks exact ties (see {@link tieBefore}); renewed by the Supervisor's index. */
  tieKey: number;
}

/**
 * True when `a` goes before `b` among agents a strategy's measure puts level: the higher success
 * rate, then the higher tie key, then the earlier declared.
 */
export function tieBefore(a: AgentView, b: AgentView): boolean {
  const sa = a.health.successRate;
  const sb = b.health.successRate;
  if (sa !== sb) return sa > sb;
  if (a.tieKey !== b.tieKey) return a.tieKey > b.tieKey;
  return a.ordinal < b.ordinal;
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
  return healthOf(agent.health.successRate, agent.health.latencyMs, meanLatencyMs);
}

/**
 * The health term of a success rate and a latency: the rate, discounted by up to half as the
 * latency exceeds the swarm's mean. Grows with the rate and shrinks with the latency (in floating
 * point too), so it bounds every agent with a lower rate or a higher latency.
 */
export function healthOf(successRate: number, latencyMs: number, meanLatencyMs: number): number {
  const latencyFactor = latencyMs > 0 && meanLatencyMs > 0 ? Math.min(1, meanLatencyMs / latencyMs) : 1;
  return successRate * (0.5 + 0.5 * latencyFactor);
}

function retryTerm(agent: AgentView, avoid: string | undefined): number {
  return agent.id === avoid ? 0 : 1;
}

function total(capability: number, load: number, health: number, retry: number): number {
  return WEIGHTS.capability * capability + WEIGHTS.load * load + WEIGHTS.health * health + WEIGHTS.retry * retry;
}

/**
 * The most an agent with free share `load` and a health term of at most `health` can score for a
 * task it fits by `fit`: its score if it is not the agent to avoid. Never below the score
 * ({@link total} grows with each term, in floating point too).
 */
export function scoreBound(fit: number, load: number, health: number): number {
  return total(fit, load, health, 1);
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
  const names = requiredNames(requires);
  const levels: number[] = [];
  for (const name of names) levels.push(requires[name]!);
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

/** The names a requirement set asks for, sorted: every fit sums its levels in this order. */
export function requiredNames(requires: Capabilities): string[] {
  const names = Object.keys(requires);
  if (names.length > 1) names.sort();
  return names;
}

/** The mean level of `capabilities` over `names` (1 when there are none); the caller checked eligibility. */
export function fitOf(capabilities: Capabilities, names: readonly string[]): number {
  if (names.length === 0) return 1;
  let sum = 0;
  for (const name of names) sum += capabilities[name]!;
  return sum / names.length;
}

/**
 * The best two agents by a strategy's measure: a `primary` rank first (least-loaded puts the
 * agent to avoid last), then the measure, then {@link tieBefore}. Reused from one placement to
 * the next.
 */
export class Top2 {
  first: AgentView | undefined;
  firstFit = 0;
  firstPrimary = 0;
  firstMeasure = 0;
  second: AgentView | undefined;
  secondFit = 0;
  secondPrimary = 0;
  secondMeasure = 0;

  reset(): void {
    this.first = undefined;
    this.second = undefined;
  }

  /** True when an agent ranked (`primary`, `measure`, `view`) would go before the runner-up (or there is none yet). */
  beatsSecond(primary: number, measure: number, view: AgentView): boolean {
    const s = this.second;
    if (s === undefined) return true;
    return primary > this.secondPrimary || (primary === this.secondPrimary && (measure > this.secondMeasure || (measure === this.secondMeasure && tieBefore(view, s))));
  }

  offer(view: AgentView, fit: number, primary: number, measure: number): void {
    const f = this.first;
    if (f === undefined || primary > this.firstPrimary || (primary === this.firstPrimary && (measure > this.firstMeasure || (measure === this.firstMeasure && tieBefore(view, f))))) {
      this.second = f;
      this.secondFit = this.firstFit;
      this.secondPrimary = this.firstPrimary;
      this.secondMeasure = this.firstMeasure;
      this.first = view;
      this.firstFit = fit;
      this.firstPrimary = primary;
      this.firstMeasure = measure;
    } else if (this.beatsSecond(primary, measure, view)) {
      this.second = view;
      this.secondFit = fit;
      this.secondPrimary = primary;
      this.secondMeasure = measure;
    }
  }
}

/**
 * The agents that can take one task now, as a strategy queries them. Every answer is the same
 * whichever pool gives it: {@link ScanPool} scans all of them, the Supervisor's index only those
 * that can win.
 */
export interface CandidatePool {
  /** The best two by {@link scoreOf} (`measure` = the score), ties by {@link tieBefore}. */
  topScored(avoid: string | undefined, meanLatencyMs: number, out: Top2): void;
  /**
   * The best two by least-loaded's measure: another agent than `avoid` first (`primary` 1, the
   * agent to avoid 0), then the larger free share (`measure`), ties by {@link tieBefore}.
   */
  topLeastLoaded(avoid: string | undefined, out: Top2): void;
  /** The first candidate declared after `ordinal`, wrapping around to the first one; undefined when there is none. */
  nextInTurn(ordinal: number): AgentView | undefined;
  /** The capability fit of a candidate. */
  fitOf(view: AgentView): number;
  /** Every candidate, in declaration order (user functions and weighted-random need them all). */
  all(): Candidates;
}

/** A {@link CandidatePool} over a gathered {@link Candidates} list: scans every candidate. */
export class ScanPool implements CandidatePool {
  readonly #candidates: Candidates;

  constructor(candidates: Candidates) {
    this.#candidates = candidates;
  }

  topScored(avoid: string | undefined, meanLatencyMs: number, out: Top2): void {
    const { agents, fits, length } = this.#candidates;
    out.reset();
    for (let i = 0; i < length; i++) out.offer(agents[i]!, fits[i]!, 0, scoreOf(agents[i]!, fits[i]!, avoid, meanLatencyMs));
  }

  topLeastLoaded(avoid: string | undefined, out: Top2): void {
    const { agents, fits, length } = this.#candidates;
    out.reset();
    for (let i = 0; i < length; i++) {
      const a = agents[i]!;
      out.offer(a, fits[i]!, a.id === avoid ? 0 : 1, (a.concurrency - a.busy) / a.concurrency);
    }
  }

  nextInTurn(ordinal: number): AgentView | undefined {
    const { agents, length } = this.#candidates;
    for (let i = 0; i < length; i++) if (agents[i]!.ordinal > ordinal) return agents[i];
    return length > 0 ? agents[0] : undefined;
  }

  fitOf(view: AgentView): number {
    const { agents, fits, length } = this.#candidates;
    for (let i = 0; i < length; i++) if (agents[i] === view) return fits[i]!;
    return 0;
  }

  all(): Candidates {
    return this.#candidates;
  }
}

/** The winner and the runner-up of a scored placement. */
export interface Scored {
  winner: ScoreTerms;
  runnerUp: ScoreTerms | undefined;
}

/**
 * Capability-scored choice from `pool` (at least one candidate): the best {@link scoreOf}, exact
 * ties by {@link tieBefore}. `top` is scratch space.
 */
export function chooseScored(pool: CandidatePool, avoid: string | undefined, meanLatencyMs: number, top: Top2 = new Top2()): Scored {
  pool.topScored(avoid, meanLatencyMs, top);
  return {
    winner: scoreTerms(top.first!, top.firstFit, avoid, meanLatencyMs),
    runnerUp: top.second === undefined ? undefined : scoreTerms(top.second, top.secondFit, avoid, meanLatencyMs),
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
