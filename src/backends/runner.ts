/**
 * What the thread backends share: micro-batching, the shared abort flags, settling each attempt
 * exactly once, and recovery when a thread dies.
 *
 * Attempts handed over in the same tick are sent as few messages as keep every thread busy,
 * which is how the hive beats a raw pool on tiny tasks. A batch whose thread dies is split up:
 * its attempts re-run one per message, so only the culprit fails.
 *
 * @module
 */
import {
  ABORT_SLOTS,
  clearStart,
  type DependencyReport,
  endedOf,
  type ProgressReport,
  raiseAbortFlag,
  START_LAYOUT,
  startOf,
  type StartStamps,
  startStampViews,
  type TaskMessage,
  type TaskOutcome,
} from "../../workers/protocol.ts";
import { isDetached } from "../../workers/transfer.ts";
import { InvalidTaskError, WorkerCrashedError } from "../core/errors.ts";
import { toResult } from "./outcome.ts";
import type { Attempt, AttemptCallback, AttemptResult, StartCallback } from "./types.ts";

/**
 * What a thread pool says to the other batches on a thread it terminated (Piscina's
 * `Errors.ThreadTermination`): they are re-run as they were, not treated as crashed.
 */
export const COLLATERAL = "Terminating worker thread";

/** One attempt waiting for, or travelling in, a batch. */
interface Pending {
  attempt: Attempt;
  done: AttemptCallback;
  onStart: StartCallback | undefined;
  /** Its current run's start, once reported (epoch ms). */
  startedAt: number | undefined;
  /** True once its current run's end was reported ahead of its outcome. */
  endReported: boolean;
  /** Run alone: set after its batch's thread died, to isolate a crashing task. */
  solo: boolean;
  /** Times its thread died while none of its batch was running. */
  idleLosses: number;
  /** The batch it travels in, once sent. */
  batch: Batch | undefined;
}

/** A message in flight to a thread. */
export interface Batch {
  readonly entries: Pending[];
  readonly tasks: TaskMessage[];
  /** Aborting it makes the transport give up on the batch and kill its thread. */
  readonly controller: AbortController;
  /** Set once the transport answered or failed. */
  settled: boolean;
  /** Grace timers of attempts aborted inside this batch. */
  timers: ReturnType<typeof setTimeout>[];
  /** Counts towards the in-flight message limit. */
  counted: boolean;
  /** The buffers its attempts move to the thread (`Attempt.transfer`); undefined when none. */
  transfer: ArrayBuffer[] | undefined;
}

/** Sends one batch to a thread; rejects if the thread died or the batch's signal aborted. */
export type Transport = (batch: Batch) => Promise<TaskOutcome[]>;

/** Options of a {@link BatchRunner}. */
export interface BatchRunnerOptions {
  maxBatch: number;
  /** Most batch messages in flight at once. */
  spread: number;
  abortGraceMs: number;
  /** Receives the dependency reports outcomes carry (even of attempts aborted meanwhile). */
  onReports?: ((reports: readonly DependencyReport[]) => void) | undefined;
  /** Receives the last progress value a thread's throttle held when its attempt ended, before the outcome. */
  onProgress?: ((report: ProgressReport) => void) | undefined;
}

/** Times an attempt may be lost with a thread that died while none of its batch ran, before it fails. */
export const MAX_IDLE_LOSSES = 3;

/** How often attempts sent to a thread are checked for having started, ms. */
export const START_POLL_MS = 5;

/** How long an attempt runs before a poll reports its start (if its outcome has not brought it), ms. */
export const START_REPORT_AFTER_MS = 20;

/** Collects attempts, sends them in batches through a transport, and settles each once. */
export class BatchRunner {
  readonly abortFlags: SharedArrayBuffer = new SharedArrayBuffer(ABORT_SLOTS * 4);
  readonly #flags = new Int32Array(this.abortFlags);
  /** Where threads stamp each attempt as it starts (see `START_LAYOUT`). */
  readonly startStamps: SharedArrayBuffer = new SharedArrayBuffer(START_LAYOUT.bytes);
  readonly #stamps: StartStamps = startStampViews(this.startStamps);
  /** Attempts sent to a thread whose start, or end ahead of their outcome, has not been reported yet. */
  readonly #unstarted = new Set<Pending>();
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #options: BatchRunnerOptions;
  readonly #transport: Transport;
  /** Attempts handed over and neither settled nor aborted, by seq. */
  readonly #live = new Map<number, Pending>();
  /** Attempts waiting for the next flush, in arrival order. */
  #queue: Pending[] = [];
  #scheduled = false;
  /** Batch messages in flight that count towards `spread`. */
  #outstanding = 0;
  /** Kinds whose handler returned a promise: sent one per message from then on. */
  readonly #asyncKinds = new Set<string>();
  messages = 0;
  /** Threads lost under a batch (crash, exit, out of memory, forced termination). */
  threadDeaths = 0;
  /**
   * Most attempts in one batch now: `maxBatch`, halved at each thread death and grown back by one
   * with each batch that comes back. Whatever of a batch ran before its thread died is lost with
   * it and runs again, so while threads die, batches stay small.
   */
  #batchCap: number;
  /** The errors batches were lost with, each counted as one thread's death. */
  readonly #deaths = new WeakSet<object>();

  constructor(options: BatchRunnerOptions, transport: Transport) {
    this.#options = options;
    this.#batchCap = options.maxBatch;
    this.#transport = transport;
  }

  get inFlight(): number {
    return this.#live.size;
  }

  exec(attempt: Attempt, done: AttemptCallback, onStart?: StartCallback): void {
    const entry: Pending = { attempt, done, onStart, startedAt: undefined, endReported: false, solo: false, idleLosses: 0, batch: undefined };
    this.#live.set(attempt.seq, entry);
    this.#enqueue(entry);
  }

  #enqueue(entry: Pending): void {
    this.#queue.push(entry);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /**
   * Sends what is waiting. At most `spread` batch messages are in flight at once (enough to keep
   * every thread busy with one running and one waiting); attempts that arrive meanwhile wait and
   * leave together when a message comes back. So batches grow with the load by themselves, and a
   * lone attempt on an idle pool leaves at once. Async kinds and isolated re-runs go alone and
   * are not limited: they hold no thread while they wait on I/O.
   */
  readonly #flush = (): void => {
    this.#scheduled = false;
    const queue = this.#queue;
    const rest: Pending[] = [];
    for (const e of queue) {
      if (this.#live.get(e.attempt.seq) !== e) continue; // aborted before it left
      if (e.solo || this.#asyncKinds.has(e.attempt.kind)) this.#send([e], false);
      else rest.push(e);
    }
    this.#queue = rest;
    const free = this.#options.spread - this.#outstanding;
    if (rest.length === 0 || free <= 0) return;
    const size = Math.min(this.#batchCap, Math.max(1, Math.ceil(rest.length / free)));
    let i = 0;
    for (let n = 0; n < free && i < rest.length; n++, i += size) this.#send(rest.slice(i, i + size), true);
    this.#queue = rest.slice(i);
  };

  #send(entries: Pending[], counted: boolean): void {
    const tasks: TaskMessage[] = new Array(entries.length);
    let transfer: ArrayBuffer[] | undefined;
    for (let i = 0; i < entries.length; i++) {
      const a = entries[i]!.attempt;
      tasks[i] = { id: a.id, seq: a.seq, kind: a.kind, input: a.input, attempt: a.attempt, agentId: a.agentId, after: a.after };
      if (a.transfer !== undefined) {
        transfer ??= [];
        for (const b of a.transfer) if (!transfer.includes(b)) transfer.push(b);
      }
    }
    if (transfer !== undefined && transfer.some(isDetached)) {
      this.#sendWithout(entries, counted);
      return;
    }
    const batch: Batch = { entries, tasks, controller: new AbortController(), settled: false, timers: [], counted, transfer };
    if (counted) this.#outstanding++;
    for (const e of entries) {
      e.batch = batch;
      if (e.onStart !== undefined) {
        // A run again after its thread died starts afresh: its old stamp must not count.
        clearStart(this.#stamps, e.attempt.seq);
        e.startedAt = undefined;
        e.endReported = false;
        this.#unstarted.add(e);
      }
    }
    if (this.#unstarted.size > 0) this.#schedulePoll();
    this.messages++;
    let sent: Promise<TaskOutcome[]>;
    try {
      sent = this.#transport(batch);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      (outcomes) => {
        if (counted && this.#batchCap < this.#options.maxBatch) this.#batchCap++;
        this.#done(batch);
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i]!;
          const outcome = outcomes[i];
          if (outcome?.async) this.#asyncKinds.add(e.attempt.kind);
          if (outcome?.deps !== undefined) this.#options.onReports?.(outcome.deps);
          if (outcome?.progress !== undefined) this.#options.onProgress?.({ taskId: e.attempt.id, attempt: e.attempt.attempt, value: outcome.progress.value });
          this.#settle(e, outcome ? toResult(e.attempt, outcome) : crashed(e, new Error("no outcome in the reply")));
        }
      },
      (error: unknown) => {
        this.#done(batch);
        this.#failed(batch, error);
      },
    );
  }

  /**
   * A batch holding an attempt whose moved input is gone (it was transferred to a thread that
   * died, or to an earlier run of the attempt): that attempt fails, the rest are sent.
   */
  #sendWithout(entries: Pending[], counted: boolean): void {
    const rest: Pending[] = [];
    for (const e of entries) {
      if (e.attempt.transfer?.some(isDetached) !== true) rest.push(e);
      else {
        const a = e.attempt;
        queueMicrotask(() =>
          this.#settle(e, {
            ok: false,
            error: new InvalidTaskError(
              `Cannot run task ${a.id} (${a.kind}) again: its input was moved ("transfer") to the thread of an earlier run and is gone (a transferred input runs once)`,
              { taskId: a.id },
            ),
          })
        );
      }
    }
    if (rest.length > 0) this.#send(rest, counted);
  }

  #done(batch: Batch): void {
    batch.settled = true;
    for (const t of batch.timers) clearTimeout(t);
    if (batch.counted) {
      this.#outstanding--;
      if (this.#queue.length > 0 && !this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(this.#flush);
      }
    }
  }

  #settle(e: Pending, result: AttemptResult): void {
    if (this.#live.get(e.attempt.seq) !== e) return;
    this.#live.delete(e.attempt.seq);
    this.#reportStart(e, undefined);
    this.#unstarted.delete(e);
    e.done(result);
  }

  /**
   * Reports what `e`'s thread has stamped and nobody was told yet: its start, and its end ahead
   * of its outcome. An attempt's start rides on its outcome when that comes soon, so a poll
   * reports it only once the attempt has run a while (`min(START_REPORT_AFTER_MS, timeoutMs / 4)`:
   * time enough for its timeout to be armed), and an end only once half its timeout has passed
   * (its outcome is held up behind a slow neighbour; only then could its timeout strike). That
   * way a batch of short attempts costs no report at all. `now` is the epoch time of a poll, or
   * undefined when the outcome is here. True once nothing is left to report before the outcome.
   */
  #reportStart(e: Pending, now: number | undefined): boolean {
    const onStart = e.onStart;
    if (onStart === undefined) return true;
    const seq = e.attempt.seq;
    if (e.startedAt === undefined) {
      const at = startOf(this.#stamps, seq);
      if (at === undefined) return false;
      if (now !== undefined && now - at < Math.min(START_REPORT_AFTER_MS, e.attempt.timeoutMs / 4)) return false;
      e.startedAt = at;
      onStart(at, false);
    }
    if (now === undefined || e.endReported) return e.endReported;
    if (now - e.startedAt < e.attempt.timeoutMs / 2 || !endedOf(this.#stamps, seq)) return false;
    e.endReported = true;
    onStart(e.startedAt, true);
    return true;
  }

  #schedulePoll(): void {
    if (this.#pollTimer !== undefined) return;
    const timer = setTimeout(this.#poll, START_POLL_MS);
    (timer as { unref?: () => void }).unref?.();
    this.#pollTimer = timer;
  }

  /** Reports the attempts that have started (or finished ahead of their reply) since the last look; looks again while some are running. */
  readonly #poll = (): void => {
    this.#pollTimer = undefined;
    const now = performance.timeOrigin + performance.now();
    for (const e of this.#unstarted) {
      if (this.#live.get(e.attempt.seq) !== e) this.#unstarted.delete(e);
      else if (this.#reportStart(e, now)) this.#unstarted.delete(e);
    }
    if (this.#unstarted.size > 0) this.#schedulePoll();
  };

  #failed(batch: Batch, error: unknown): void {
    const live = batch.entries.filter((e) => this.#live.get(e.attempt.seq) === e);
    if (error instanceof Error && error.name === "DataCloneError") {
      for (const e of live) {
        this.#settle(e, { ok: false, error: new InvalidTaskError(`Cannot run task ${e.attempt.id}: "input" cannot cross threads: ${error.message}`, { cause: error, taskId: e.attempt.id }) });
      }
      return;
    }
    if (!batch.controller.signal.aborted && error instanceof Error && error.message === COLLATERAL) {
      // Its thread was terminated for another batch's sake: this one did nothing wrong.
      for (const e of live) this.#sendAgain(e, error);
      return;
    }
    // The pool rejects every message on a dead thread with one error, oldest first: a message
    // rejected with an error seen before waited behind another in the thread.
    const behind = !this.#countDeath(error);
    if (!behind) this.#batchCap = Math.max(1, this.#batchCap >> 1);
    // Which attempt was running when the thread died? The stamps say: started and not ended.
    // That one is the culprit; the rest of the batch (finished with their reply lost, or not yet
    // begun) did nothing wrong and runs again as it was. With several running (async handlers
    // running at once) each runs alone to find the culprit. With none running, the thread died
    // for another message's sake or for no attempt's: the batch runs again as it was — a message
    // that waited behind another for as often as it comes to that, any other up to
    // `MAX_IDLE_LOSSES` times (one that kills its thread before any of it starts, or after all of
    // it ended, must not do so for ever).
    // A batch whose thread was terminated for an attempt aborted in it (gone from `live`) has no
    // culprit left: an attempt still running beside it did nothing wrong.
    const killed = batch.controller.signal.aborted;
    const running = live.filter((e) => this.#isRunning(e));
    const culprit = !killed && running.length === 1 ? running[0]! : undefined;
    const idle = running.length === 0 && !killed;
    for (const e of live) {
      const counted = idle && (!behind || endedOf(this.#stamps, e.attempt.seq));
      if (e === culprit || (counted && ++e.idleLosses > MAX_IDLE_LOSSES)) this.#settle(e, crashed(e, error));
      else {
        e.solo = !killed && running.length > 1;
        this.#sendAgain(e, error);
      }
    }
  }

  /** Counts a thread's death once, however many of its messages were lost with it; true when this is the first of them. */
  #countDeath(error: unknown): boolean {
    if (typeof error === "object" && error !== null) {
      if (this.#deaths.has(error)) return false;
      this.#deaths.add(error);
    }
    this.threadDeaths++;
    return true;
  }

  /** Queues `e` to be sent again, as its batch was lost with its thread — unless its moved input was lost with it. */
  #sendAgain(e: Pending, error: unknown): void {
    if (e.attempt.transfer?.some(isDetached) === true) {
      this.#settle(e, crashed(e, error, ' (its input had been moved to it with "transfer" and cannot be sent again)'));
      return;
    }
    e.batch = undefined;
    this.#unstarted.delete(e);
    this.#waitAgain(e);
    this.#enqueue(e);
  }

  /** True when `e`'s thread has stamped its start and not its end. */
  #isRunning(e: Pending): boolean {
    return startOf(this.#stamps, e.attempt.seq) !== undefined && !endedOf(this.#stamps, e.attempt.seq);
  }

  /** Tells whoever heard `e` start that it waits to run again (its timeout is off until then). */
  #waitAgain(e: Pending): void {
    if (e.onStart === undefined || e.startedAt === undefined) return;
    e.startedAt = undefined;
    e.endReported = false;
    e.onStart(undefined, false);
  }

  /** Aborts an attempt: fires its signal now, terminates its thread after the grace period. */
  abort(seq: number, kill = true): void {
    const e = this.#live.get(seq);
    if (e === undefined) return;
    this.#live.delete(seq);
    this.#unstarted.delete(e);
    raiseAbortFlag(this.#flags, seq);
    const batch = e.batch;
    if (!kill || batch === undefined || batch.settled) return;
    const timer = setTimeout(() => {
      // Still running past the grace period: only terminating the thread stops it.
      if (!batch.settled) batch.controller.abort(new Error(`attempt ${seq} did not stop within ${this.#options.abortGraceMs} ms`));
    }, this.#options.abortGraceMs);
    (timer as { unref?: () => void }).unref?.();
    batch.timers.push(timer);
  }

  /** Drops every attempt (the backend is closing); their callbacks are not called. */
  clear(): void {
    this.#live.clear();
    this.#queue = [];
    this.#unstarted.clear();
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }
}

function crashed(e: Pending, error: unknown, note = ""): AttemptResult {
  const detail = error instanceof Error ? error.message : String(error);
  return {
    ok: false,
    error: new WorkerCrashedError(`The worker thread running task ${e.attempt.id} (${e.attempt.kind}) died: ${detail}${note}`, { cause: error, taskId: e.attempt.id }),
  };
}
