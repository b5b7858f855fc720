/**
 * Blame: whose fault a failed attempt is, as a pure function of recent outcomes the Supervisor
 * keeps.
 *
 * A task fault — the handler throws, its thread exits, hangs or runs out of memory — is the
 * task's: it spends the task's retries and ends with its own code, and does not count towards
 * the agent's crash streak or its breaker. An agent fault is a failure where others succeed at
 * the same work: the agent that fails a kind much more often than the rest of the swarm fails it.
 *
 * The evidence, per task kind: the last {@link SWARM_WINDOW} outcomes of that kind across the
 * swarm, and each agent's last {@link AGENT_WINDOW}. A failure of kind K on agent A is A's fault
 * when A's recent failures are too many to be chance at the rate the other agents fail K: with
 * that rate estimated as (failures + 1) / (attempts + 2) over at least {@link MIN_OTHERS} of
 * their attempts, the probability of A failing at least as often (binomial tail) is below
 * {@link SIGNIFICANCE}. A broken agent among healthy ones is blamed from about its fourth
 * failure; a poison task or kind (it fails wherever it runs), or a kind nobody else ran to
 * compare with, is the task's fault.
 *
 * @module
 */

/** Whose fault a failed attempt was, and why, in words. */
export interface Blame {
  /** `task`: the task's own (spends its retries only); `agent`: the agent's (counts towards its crash and breaker); `dependency`: a named dependency's circuit was open. */
  to: "task" | "agent" | "dependency";
  reason: string;
}

/** Outcomes of one kind across the swarm kept for comparison. */
export const SWARM_WINDOW = 64;
/** Outcomes of one kind per agent kept for comparison (at most 30: they are bits of a number). */
export const AGENT_WINDOW = 16;
/** Outcomes of other agents needed before an agent can be blamed. */
export const MIN_OTHERS = 4;
/** How unlikely an agent's failures must be, at the others' failure rate, to be its fault. */
export const SIGNIFICANCE = 1e-5;

/** One agent's recent outcomes of a kind: a bit per outcome, 1 = failed. */
interface OwnWindow {
  bits: number;
  n: number;
}

interface KindWindow {
  agents: (string | undefined)[];
  failed: Uint8Array;
  next: number;
  own: Map<string, OwnWindow>;
}

/** Recent outcomes per kind and agent: the evidence {@link FaultEvidence.blame} weighs. Mutable (hot path). */
export class FaultEvidence {
  readonly #kinds = new Map<string, KindWindow>();

  /** Records an attempt's outcome. */
  record(kind: string, agentId: string, ok: boolean): void {
    let w = this.#kinds.get(kind);
    if (w === undefined) {
      w = { agents: new Array<string | undefined>(SWARM_WINDOW), failed: new Uint8Array(SWARM_WINDOW), next: 0, own: new Map() };
      this.#kinds.set(kind, w);
    }
    w.agents[w.next] = agentId;
    w.failed[w.next] = ok ? 0 : 1;
    w.next = (w.next + 1) % SWARM_WINDOW;
    let own = w.own.get(agentId);
    if (own === undefined) w.own.set(agentId, own = { bits: 0, n: 0 });
    own.bits = ((own.bits << 1) | (ok ? 0 : 1)) & ((1 << AGENT_WINDOW) - 1);
    if (own.n < AGENT_WINDOW) own.n++;
  }

  /** Whose fault a failure of `kind` on `agentId` is; call it after {@link record} of that failure. */
  blame(kind: string, agentId: string): Blame {
    const w = this.#kinds.get(kind);
    const own = w?.own.get(agentId);
    if (w === undefined || own === undefined) return { to: "task", reason: `no record of kind "${kind}" on agent ${agentId}` };
    let n = 0;
    let f = 0;
    for (let i = 0; i < SWARM_WINDOW; i++) {
      const a = w.agents[i];
      if (a === undefined || a === agentId) continue;
      n++;
      f += w.failed[i]!;
    }
    const ownFailed = popcount(own.bits);
    if (n < MIN_OTHERS) return { to: "task", reason: `too few recent attempts of kind "${kind}" on other agents (${n}) to compare agent ${agentId} with` };
    const figures = `${ownFailed} of its last ${own.n} attempts of kind "${kind}" failed, against ${f} of ${n} on other agents`;
    const chance = binomialTail(own.n, ownFailed, (f + 1) / (n + 2));
    if (chance < SIGNIFICANCE) return { to: "agent", reason: `agent ${agentId} fails where others succeed: ${figures}` };
    if (f / n >= 0.5) return { to: "task", reason: `kind "${kind}" fails on other agents too: ${figures}` };
    return { to: "task", reason: `agent ${agentId} fails no more than chance allows: ${figures}` };
  }
}

/** P(X >= k) for X ~ Binomial(n, p). */
export function binomialTail(n: number, k: number, p: number): number {
  let sum = 0;
  let c = 1; // C(n, 0)
  for (let i = 0; i <= n; i++) {
    if (i >= k) sum += c * p ** i * (1 - p) ** (n - i);
    c = (c * (n - i)) / (i + 1);
  }
  return sum;
}

function popcount(bits: number): number {
  let n = 0;
  for (let b = bits; b !== 0; b &= b - 1) n++;
  return n;
}
