/**
 * The message shapes that cross between the main thread and a worker thread, defined once.
 * Imported by both sides; imports nothing.
 *
 * @module
 */

/** One task attempt as the worker thread receives it. */
export interface TaskMessage {
  /** The task id (stable across attempts). */
  id: string;
  /** Attempt sequence number, unique per hive; indexes the shared abort flags. */
  seq: number;
  /** Handler name in the task module. */
  kind: string;
  /** The handler's input (structured-cloneable). */
  input: unknown;
  /** 1 for the first attempt. */
  attempt: number;
  /** The swarm agent whose slot runs it. */
  agentId: string;
  /** Outcomes of the tasks it ran after (`after`), in order (`ctx.after`); absent without `after`. */
  after?: unknown[] | undefined;
}

/** What a worker thread does with one message: run a batch of attempts, or describe itself. */
export type WorkerRequest = { op: "run"; tasks: TaskMessage[] } | { op: "describe" };

/** An error as it crosses back from a worker thread. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/**
 * The outcome of one attempt, as the worker thread reports it. `async` is set when the handler
 * returned a promise: the main thread then stops batching that kind, so a slow async handler
 * never holds back the attempts it would share a message with.
 */
export type TaskOutcome =
  | { ok: true; value: unknown; async?: true; deps?: DependencyReport[]; progress?: { value: unknown } }
  | { ok: false; error: SerializedError; kind?: "handler" | "result" | "unknown-kind"; async?: true; deps?: DependencyReport[]; progress?: { value: unknown } };

/**
 * What one guarded dependency call inside a handler came to, reported back to the main thread
 * (which owns the breaker) with the attempt's outcome: `[slot, result]`.
 */
export type DependencyReport = [slot: number, result: DependencyCallResult];

/**
 * `ok` / `fail`: a call made while closed; `probe-ok` / `probe-fail`: a half-open probe the
 * thread took the shared probe token for; `rejected`: failed fast (open, or no probe token).
 */
export type DependencyCallResult = "ok" | "fail" | "probe-ok" | "probe-fail" | "rejected";

/** The reply to `describe`: the task kinds the loaded module offers. */
export interface Description {
  kinds: string[];
}

/** Data every worker thread starts with. */
export interface WorkerInit {
  /** URL (as a string) of the user's task module, or null for the built-ins only. */
  tasksUrl: string | null;
  /** Shared abort flags: slot `seq % length` holds `seq` once attempt `seq` is aborted. */
  abortFlags: SharedArrayBuffer;
  /** The dependency breakers' states, mirrored by the main thread (layout: {@link DEP_LAYOUT}). */
  dependencyStates?: SharedArrayBuffer | null;
  /** Where a thread stamps each attempt as it starts running (layout: {@link START_LAYOUT}). */
  startStamps?: SharedArrayBuffer | null;
  /** Name of the `BroadcastChannel` that carries `ctx.progress` reports to the main thread. */
  progressChannel?: string | null;
  /**
   * Name of the `BroadcastChannel` on which a thread asks its process's main thread for a call of
   * a rate limit counted beyond the process (a worker node's: in Redis); see {@link RateRequest}.
   */
  rateChannel?: string | null;
  /** The hive's `workerData`: handlers' `ctx.workerData`. */
  userData?: unknown;
  /**
   * Two counters (layout: {@link LOAD_GUARD}): threads loading a module synchronously now, and a
   * flag the pool raises before it terminates its threads. See `guardedLoad` in load-module.ts.
   */
  loadGuard?: SharedArrayBuffer | null;
}

/** Slots of {@link WorkerInit.loadGuard} (Int32). */
export const LOAD_GUARD = { LOADING: 0, CLOSING: 1, bytes: 8 } as const;

/** A handler's `ctx.progress(value)`, on its way to the main thread. */
export interface ProgressReport {
  taskId: string;
  attempt: number;
  value: unknown;
}

/** The part of a `BroadcastChannel` progress reports use (a global on Node and Deno). */
export interface ProgressPort {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  /** Node: lets the process exit while the channel is open. */
  unref?: () => void;
}

/** Opens a `BroadcastChannel` named `name`, unref'd where the runtime can. */
export function openProgressPort(name: string): ProgressPort {
  const port = new (globalThis as unknown as { BroadcastChannel: new (name: string) => ProgressPort }).BroadcastChannel(name);
  port.unref?.();
  return port;
}

/**
 * A thread's request for one call of a rate limit its process counts elsewhere (a worker node's
 * limits are counted in Redis, over every node and the coordinator): posted on the rate channel.
 */
export interface RateRequest {
  /** Unique across the process's threads; the reply carries it back. */
  id: string;
  slot: number;
  name: string;
}

/** The main thread's answer to a {@link RateRequest}: 0 when the call may go, else ms until one may; or why it could not ask. */
export interface RateReply {
  id: string;
  waitMs?: number;
  error?: string;
}

/** Least time between two progress reports of one attempt, ms; the latest value in between wins. */
export const PROGRESS_INTERVAL_MS = 100;

/**
 * Layout of the shared run stamps. A thread writes, as an attempt begins to run, the epoch time
 * (ms, fractional) into float slot `seq % SLOTS` and then `seq` into start slot `seq % SLOTS`
 * (the int is the commit: a reader that sees `seq` there sees its time); as it returns, `seq`
 * into end slot `seq % SLOTS`. The main thread reads them to learn which attempts have really
 * started — one queued behind another on its thread has not, and its timeout does not run yet —
 * and which have finished while their batch's reply is still held up by another attempt.
 */
export const START_LAYOUT = {
  SLOTS: 65_536,
  /** Byte offset of the Int32 end marks, after the Int32 start marks. */
  endsAt: 65_536 * 4,
  /** Byte offset of the Float64 start times, after both. */
  timesAt: 65_536 * 8,
  bytes: 65_536 * 8 + 65_536 * 8,
} as const;

/** Views of a run-stamp buffer. */
export interface StartStamps {
  seqs: Int32Array;
  ends: Int32Array;
  times: Float64Array;
}

/** Typed views over a run-stamp buffer. */
export function startStampViews(buffer: SharedArrayBuffer): StartStamps {
  return {
    seqs: new Int32Array(buffer, 0, START_LAYOUT.SLOTS),
    ends: new Int32Array(buffer, START_LAYOUT.endsAt, START_LAYOUT.SLOTS),
    times: new Float64Array(buffer, START_LAYOUT.timesAt, START_LAYOUT.SLOTS),
  };
}

/** Stamps attempt `seq` as started now (thread side). */
export function stampStart(stamps: StartStamps, seq: number, epochMs: number): void {
  const slot = seq % START_LAYOUT.SLOTS;
  stamps.times[slot] = epochMs;
  Atomics.store(stamps.seqs, slot, seq);
}

/** Stamps attempt `seq` as finished (thread side): its outcome waits for its batch's reply. */
export function stampEnd(stamps: StartStamps, seq: number): void {
  Atomics.store(stamps.ends, seq % START_LAYOUT.SLOTS, seq);
}

/** True when attempt `seq` has finished running (main thread side). */
export function endedOf(stamps: StartStamps, seq: number): boolean {
  return Atomics.load(stamps.ends, seq % START_LAYOUT.SLOTS) === seq;
}

/** Forgets attempt `seq`'s stamp (main thread side, before it is sent to run again). */
export function clearStart(stamps: StartStamps, seq: number): void {
  Atomics.compareExchange(stamps.seqs, seq % START_LAYOUT.SLOTS, seq, -1);
  Atomics.compareExchange(stamps.ends, seq % START_LAYOUT.SLOTS, seq, -1);
}

/** The epoch time attempt `seq` started at, or undefined when it has not (main thread side). */
export function startOf(stamps: StartStamps, seq: number): number | undefined {
  const slot = seq % START_LAYOUT.SLOTS;
  return Atomics.load(stamps.seqs, slot) === seq ? stamps.times[slot] : undefined;
}

/** Number of slots in the shared abort-flag array. */
export const ABORT_SLOTS = 4096;

/**
 * Layout of the shared dependency-state buffer. The main thread is its only writer.
 *
 * Int32 words: `[0]` names version (a seqlock: odd while the names are being rewritten), `[1]`
 * byte length of the names, then per slot `i` three words from `SLOTS_AT + i * 3`: state
 * (0 closed, 1 open, 2 halfOpen), probe tokens taken, probe tokens allowed. After the words,
 * `NAME_BYTES` bytes hold the slot names as UTF-8 JSON (an array, index = slot).
 */
export const DEP_LAYOUT = {
  SLOTS: 256,
  SLOTS_AT: 2,
  WORDS_PER_SLOT: 3,
  NAME_BYTES: 32_768,
  /** Byte offset of the names. */
  namesAt: (2 + 256 * 3) * 4,
  /** Total bytes of the buffer. */
  bytes: (2 + 256 * 3) * 4 + 32_768,
} as const;

/**
 * Layout of the rate limits of dependencies (`rateLimit: { max, perMs }`), after the names in the
 * same buffer. Per slot six Int32 words from `wordsAt`: a spin lock, the ring's head, `max` (0:
 * no limit), `perMs`, where the slot's ring starts in the pool (-1: the limit is counted beyond
 * this process, and a thread asks its main thread on the rate channel), and whether a call waits
 * (1) or fails fast (0) when none may go. The pool holds Float64 epoch
 * times of calls, each limited dependency owning `max` of them: a sliding log, so no window of
 * `perMs` ever holds more than `max` calls, whichever thread makes them.
 */
export const RATE_LAYOUT = {
  WORDS_PER_SLOT: 6,
  /** Byte offset of the words (8-aligned, after the names). */
  wordsAt: Math.ceil(DEP_LAYOUT.bytes / 8) * 8,
  /** Float64 entries shared by every limited dependency's ring. */
  POOL: 16_384,
  /** Byte offset of the pool. */
  poolAt: Math.ceil(DEP_LAYOUT.bytes / 8) * 8 + 256 * 6 * 4,
  /** Total bytes of the dependency buffer, rate limits included. */
  bytes: Math.ceil(DEP_LAYOUT.bytes / 8) * 8 + 256 * 6 * 4 + 16_384 * 8,
} as const;

/** State codes in the shared dependency-state buffer. */
export const DEP_STATE = { closed: 0, open: 1, halfOpen: 2 } as const;

/** Marks attempt `seq` aborted in the shared flags and wakes whoever waits on its slot. */
export function raiseAbortFlag(flags: Int32Array, seq: number): void {
  const slot = seq % flags.length;
  Atomics.store(flags, slot, seq);
  Atomics.notify(flags, slot);
}
