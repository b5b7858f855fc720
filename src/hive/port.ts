/**
 * The bridge between Worker actors and an execution backend: an XState callback actor each
 * Worker invokes once, which turns `port.exec` / `port.abort` into backend calls and sends back,
 * stamped with the hive clock, each attempt's start (`worker.started`, from backends whose
 * attempts may wait for a thread) and outcome (`worker.outcomes`).
 *
 * @module
 */
import { fromCallback } from "xstate";
import type { AttemptStart, PortEvent, WorkerEvent, WorkerOutcome } from "../../actors/worker.ts";
import type { Attempt, ExecutionBackend } from "../backends/types.ts";
import type { HiveClock } from "../core/clock.ts";
import type { TaskTransfers } from "./transfers.ts";

/** The epoch time now, ms, at the resolution threads stamp starts with. */
function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Creates the `port` actor logic for {@link workerMachine} over `backend`. */
export function createPort(backend: ExecutionBackend, clock: HiveClock, transfers?: TaskTransfers): ReturnType<typeof fromCallback<PortEvent>> {
  return fromCallback<PortEvent>(({ sendBack, receive }) => {
    // Starts and outcomes that arrive in the same tick go back as one event each; a start whose
    // outcome came with it rides on the outcome.
    let outcomes: WorkerOutcome[] = [];
    let starts = new Map<number, { startedEpochMs: number | undefined; ended: boolean }>();
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      const now = clock.now();
      const batch = outcomes;
      outcomes = [];
      const began = starts;
      if (began.size > 0) {
        starts = new Map();
        // A thread stamps the epoch; the hive clock may be another (simulated) one: go by the
        // time elapsed since.
        const epoch = epochNow();
        const toHive = (startedEpochMs: number): number => now - Math.max(0, epoch - startedEpochMs);
        for (const o of batch) {
          const s = began.get(o.seq);
          if (s === undefined) continue;
          if (s.startedEpochMs !== undefined) o.startedAt = toHive(s.startedEpochMs);
          began.delete(o.seq);
        }
        if (began.size > 0) {
          const list: AttemptStart[] = [];
          for (const [seq, s] of began) {
            if (s.startedEpochMs === undefined) list.push({ seq, waiting: true });
            else list.push(s.ended ? { seq, startedAt: toHive(s.startedEpochMs), ended: true } : { seq, startedAt: toHive(s.startedEpochMs) });
          }
          sendBack({ type: "worker.started", starts: list, at: now } satisfies WorkerEvent);
        }
      }
      if (batch.length > 0) sendBack({ type: "worker.outcomes", outcomes: batch, at: now } satisfies WorkerEvent);
    };
    const schedule = (): void => {
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(flush);
    };
    receive((event) => {
      if (event.type === "port.exec") {
        const agentId = event.agentId;
        const reportsStarts = !backend.startsOnDispatch;
        for (const a of event.attempts) {
          const seq = a.seq;
          const attempt: Attempt = { id: a.id, seq, kind: a.kind, input: a.input, attempt: a.attempt, agentId, timeoutMs: a.timeoutMs, ...(a.after !== undefined ? { after: a.after } : {}) };
          if (a.reportStart === true) attempt.reportStart = true;
          // Only inputs submitted with `transfer` have buffers to move (no lookup until one was).
          if (transfers?.used === true) {
            const transfer = transfers.of(a.input);
            if (transfer !== undefined) attempt.transfer = transfer;
          }
          backend.exec(
            attempt,
            (result) => {
              outcomes.push({ seq, result });
              schedule();
            },
            reportsStarts
              ? (startedEpochMs, ended) => {
                starts.set(seq, { startedEpochMs, ended });
                schedule();
              }
              : undefined,
          );
        }
      } else {
        const kill = event.kill !== false;
        for (const seq of event.seqs) backend.abort(seq, kill);
      }
    });
  });
}
