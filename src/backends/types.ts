/**
 * The one interface every execution backend implements (piscina, comlink, inline, and later
 * simulated). The Worker actor drives it; backends know nothing of actors.
 *
 * @module
 */
import type { DependencyReport } from "../../workers/protocol.ts";
import type { ApiaryError } from "../errors.ts";

/**
 * How a backend connects threads to the main thread's dependency breakers: the shared state
 * buffer every thread reads, and where the reports that come back with outcomes go.
 */
export interface DependencyChannel {
  readonly states: SharedArrayBuffer;
  onReports(reports: readonly DependencyReport[]): void;
}

/** Names of the execution backends. */
export type BackendName = "piscina" | "comlink" | "inline" | "simulated";

/** One task attempt handed to a backend. */
export interface Attempt {
  id: string;
  /** Unique per hive; identifies the attempt for abort. */
  seq: number;
  kind: string;
  input: unknown;
  attempt: number;
  /** The agent whose slot runs it (`ctx.agentId` in the handler). */
  agentId: string;
  /** Its own run's bound, ms (the Worker enforces it; a backend may use it to decide when a start is worth reporting early). */
  timeoutMs: number;
}

/** How an attempt ended, as the backend reports it. */
export type AttemptResult = { ok: true; value: unknown } | { ok: false; error: ApiaryError };

/** Called exactly once per attempt, unless the attempt was aborted first. */
export type AttemptCallback = (result: AttemptResult) => void;

/**
 * Called when an attempt begins to run, with the epoch time (ms) it began — before its
 * {@link AttemptCallback} — and again with `ended` true when it has finished running but its
 * outcome is held up (it shares a reply with an attempt still running on its thread). When its
 * thread died under it and it waits to run again, it is called with `undefined`; its new start
 * follows.
 */
export type StartCallback = (startedEpochMs: number | undefined, ended: boolean) => void;

/** Counters a backend keeps. */
export interface BackendStats {
  threads: number;
  /** Attempts handed to the backend and not yet settled. */
  inFlight: number;
  /** Messages posted to threads (one may carry a batch of attempts). */
  messages: number;
  /** Threads that died (exit, crash, forced termination) and were replaced. */
  threadRestarts: number;
}

/** An execution backend: runs attempts on threads (or inline) and reports each outcome once. */
export interface ExecutionBackend {
  readonly name: BackendName;
  /**
   * True when an attempt runs as soon as `exec` hands it over (inline, simulated): its start is
   * its dispatch. False when it may wait for a thread first: the backend then reports each start
   * through `exec`'s `onStart`, and the attempt's timeout runs from there.
   */
  readonly startsOnDispatch: boolean;
  /** Starts the threads and loads the task module; resolves to the task kinds on offer. */
  start(signal?: AbortSignal): Promise<{ kinds: string[] }>;
  /**
   * Runs an attempt; `done` is called once with its outcome (never after `abort(seq)`).
   * Backends that do not start on dispatch call `onStart` when it begins to run.
   */
  exec(attempt: Attempt, done: AttemptCallback, onStart?: StartCallback): void;
  /**
   * Aborts an attempt: its `ctx.signal` fires at once; if it has not returned after the grace
   * period, the thread running it is terminated (and replaced) — unless `kill` is false, which only
   * signals it. `done` is not called after this.
   */
  abort(seq: number, kill?: boolean): void;
  stats(): BackendStats;
  /** Stops the threads. Attempts still running are abandoned. */
  close(): Promise<void>;
}
