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
 * when the other agents ran K at least {@link MIN_OTHERS} times in the swarm window, A ran it at
 * least {@link MIN_OWN} times in its own window, and A's failure rate exceeds theirs by
 * {@link MARGIN} or more. Otherwise it is the task's: a kind that fails everywhere (a poison
 * kind), a bad input that fails wherever it runs, or a kind nobody else ran to compare with.
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
/** Outcomes of one kind per agent kept for comparison. */
export const AGENT_WINDOW = 8;
/** Outcomes of other agents needed before an agent can be blamed. */
export const MIN_OTHERS = 4;
/** Outcomes of the agent's own needed before it can be blamed. */
export const MIN_OWN = 2;
/** How much more often (failure rate, 0..1) an agent must fail a kind than the others to be blamed. */
export const MARGIN = 0.5;

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
    if (own === undefined) w.own.set(agentId, (own = { bits: 0, n: 0 }));
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
    const theirs = f / n;
    const mine = ownFailed / own.n;
    const figures = `${ownFailed} of its last ${own.n} attempts of kind "${kind}" failed, against ${f} of ${n} on other agents`;
    if (own.n >= MIN_OWN && mine - theirs >= MARGIN) return { to: "agent", reason: `agent ${agentId} fails where others succeed: ${figures}` };
    if (theirs >= MARGIN) return { to: "task", reason: `kind "${kind}" fails on other agents too: ${figures}` };
    return { to: "task", reason: `agent ${agentId} fails no more than the swarm allows: ${figures}` };
  }
}

function popcount(bits: number): number {
  let n = 0;
  for (let b = bits; b !== 0; b &= b - 1) n++;
  return n;
}
