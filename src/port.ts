/**
 * The bridge between Worker actors and an execution backend: an XState callback actor each
 * Worker invokes once, which turns `port.exec` / `port.abort` into backend calls and sends each
 * outcome back as `worker.outcome`, stamped with the hive clock.
 *
 * @module
 */
import { fromCallback } from "xstate";
import type { AttemptResult } from "../actors/types.ts";
import type { PortEvent, WorkerEvent } from "../actors/worker.ts";
import type { ExecutionBackend } from "./backends/types.ts";
import type { HiveClock } from "./clock.ts";

/** Creates the `port` actor logic for {@link workerMachine} over `backend`. */
export function createPort(backend: ExecutionBackend, clock: HiveClock): ReturnType<typeof fromCallback<PortEvent>> {
  return fromCallback<PortEvent>(({ sendBack, receive }) => {
    // Outcomes that arrive in the same tick go back as one event.
    let outcomes: { seq: number; result: AttemptResult }[] = [];
    const flush = (): void => {
      const batch = outcomes;
      outcomes = [];
      sendBack({ type: "worker.outcomes", outcomes: batch, at: clock.now() } satisfies WorkerEvent);
    };
    receive((event) => {
      if (event.type === "port.exec") {
        for (const a of event.attempts) {
          backend.exec({ id: a.id, seq: a.seq, kind: a.kind, input: a.input, attempt: a.attempt }, (result) => {
            outcomes.push({ seq: a.seq, result });
            if (outcomes.length === 1) queueMicrotask(flush);
          });
        }
      } else {
        const kill = event.kill !== false;
        for (const seq of event.seqs) backend.abort(seq, kill);
      }
    });
  });
}
