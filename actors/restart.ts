/**
 * Restart policy, as pure functions the Supervisor uses: OTP strategies, restart intensity and
 * backoff.
 *
 * @module
 */

/** Which agents restart when one crashes (Erlang/OTP names). */
export type Strategy = "one-for-one" | "one-for-all" | "rest-for-one";

/** Whether a crashed agent is restarted: `permanent` always, `transient` after an abnormal exit
 * (every crash is one), `temporary` never (it leaves the swarm). */
export type RestartType = "permanent" | "transient" | "temporary";

/** The Supervisor's restart policy. */
export interface SupervisionPolicy {
  strategy: Strategy;
  restart: RestartType;
  /** More than this many restarts within `withinMs` escalates instead of restarting. */
  maxRestarts: number;
  withinMs: number;
  /** Backoff before an agent comes back: exponential from minMs to maxMs, ± jitter; reset after a stable period. */
  backoff: { minMs: number; maxMs: number; jitter: number; resetAfterMs: number };
  /** Consecutive failed attempts blamed on the agent (see blame.ts) that count as it crashing. */
  failAfter: number;
  /**
   * What follows an escalation: `restart` — after `cooldownMs` the agents it failed restart with
   * backoff on a fresh intensity window and the hive heals (as an OTP application's top
   * supervisor would be restarted); `stop` — they stay failed for good.
   */
  escalation: { action: "restart" | "stop"; cooldownMs: number };
}

/** The agents a crash of `failed` takes down, in declaration order. */
export function affected(strategy: Strategy, order: readonly string[], failed: string): string[] {
  if (strategy === "one-for-one") return [failed];
  if (strategy === "one-for-all") return [...order];
  const at = order.indexOf(failed);
  return at < 0 ? [failed] : order.slice(at);
}

/**
 * Records a restart at `at` in `log` (pruned to the window) and says whether it is within the
 * intensity: false means more than `maxRestarts` within `withinMs`, so escalate.
 */
export function withinIntensity(log: number[], at: number, policy: Pick<SupervisionPolicy, "maxRestarts" | "withinMs">): boolean {
  while (log.length > 0 && log[0]! <= at - policy.withinMs) log.shift();
  if (log.length + 1 > policy.maxRestarts) return false;
  log.push(at);
  return true;
}

/** Backoff before restart number `level` (0 for the first): the one backoff rule. */
export { backoffMs } from "../src/core/backoff.ts";

/** The backoff level of the next restart: back to 0 once the agent ran `resetAfterMs` without one. */
export function nextLevel(level: number, lastRestartAt: number | undefined, at: number, resetAfterMs: number): number {
  return lastRestartAt === undefined || at - lastRestartAt >= resetAfterMs ? 0 : level + 1;
}

/** Default policy: one-for-one, permanent, 5 restarts in 60 s, backoff 100 ms → 10 s, 5 failures, heal after 30 s. */
export const DEFAULT_SUPERVISION: SupervisionPolicy = {
  strategy: "one-for-one",
  restart: "permanent",
  maxRestarts: 5,
  withinMs: 60_000,
  backoff: { minMs: 100, maxMs: 10_000, jitter: 0.2, resetAfterMs: 30_000 },
  failAfter: 5,
  escalation: { action: "restart", cooldownMs: 30_000 },
};
