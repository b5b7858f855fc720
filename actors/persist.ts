/**
 * What the Queen and the Supervisor save between runs, as plain JSON: the parts of their state
 * that a restart must not lose (restart counts, backoff levels, health, the restart log, pending
 * backoff deadlines, the degraded flag). Their live contexts hold Maps, actor refs and a random
 * generator, so XState's own `getPersistedSnapshot()` of them would not survive `JSON.stringify`;
 * this projection does, and every time in it is relative (how long ago, how long to go), so it
 * can be restored on a clock that started somewhere else.
 *
 * @module
 */
import type { Health } from "./types.ts";
import type { AgentSpec, AgentStatus } from "./supervisor.ts";

/** One agent as saved. */
export interface PersistedAgent {
  spec: AgentSpec;
  status: AgentStatus;
  restarts: number;
  backoffLevel: number;
  /** How long before the save its last restart began, ms; null when it never restarted. */
  lastRestartAgoMs: number | null;
  lastCrash: string | null;
  consecutiveFailures: number;
  health: Health;
  /** While restarting: how long its backoff still had to run at the save, ms. */
  restartInMs: number | null;
}

/** The Supervisor's saved state. */
export interface PersistedSupervisor {
  agents: PersistedAgent[];
  /** How long before the save each recent restart happened, ms. */
  restartLog: number[];
  escalated: string | null;
  /** `hive.pause()` was in force: a recovered hive stays paused until `resume()`. */
  paused?: boolean | undefined;
}

/** The Queen's saved state (its tasks live in the journal). */
export interface PersistedQueen {
  degraded: { reason: string } | null;
}

/** What a hive saves beside its journal. */
export interface PersistedHive {
  version: 1;
  queen: PersistedQueen;
  supervisor: PersistedSupervisor;
  /** Last run of each schedule (`hive.schedule`), wall ms, by schedule id. */
  schedules?: Record<string, number> | undefined;
}

/** A saved Supervisor state laid onto a new hive clock: `at` is the restore time. */
export interface SupervisorRestore extends PersistedSupervisor {
  /** Hive-clock time of the restore, ms. */
  at: number;
}
