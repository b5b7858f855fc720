/**
 * The bridge between Worker actors and an execution backend: an XState callback actor each
 * Worker invokes once, which turns `port.exec` / `port.abort` into backend calls and sends each
 * outcome back as `worker.outcome`, stamped with the hive clock.
 *
 * @module
 */
import { fromCallback } from "xstate";
import type { PortEvent, WorkerEvent } from "../actors/worker.ts";
import type { ExecutionBackend } from "./backends/types.ts";
import type { HiveClock } from "./clock.ts";

/** Creates the `port` actor logic for {@link workerMachine} over `backend`. */
export function createPort(backend: ExecutionBackend, clock: HiveClock): ReturnType<typeof fromCallback<PortEvent>> {
  return fromCallback<PortEvent>(({ sendBack, receive }) => {
    receive((event) => {
      if (event.type === "port.exec") {
        const a = event.attempt;
        backend.exec({ id: a.id, seq: a.seq, kind: a.kind, input: a.input, attempt: a.attempt }, (result) => {
          sendBack({ type: "worker.outcome", seq: a.seq, result, at: clock.now() } satisfies WorkerEvent);
        });
      } else {
        backend.abort(event.seq);
      }
    });
  });
}
