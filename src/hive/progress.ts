/**
 * `ctx.progress(value)` on the main thread: the hive listens on a `BroadcastChannel` of its own
 * (a unique name handed to the backend's threads), or is called directly by a backend that runs
 * handlers on the main thread, and turns each report of a running attempt into a
 * `task.progress` event and calls to the task's `handle.onProgress` listeners.
 *
 * @module
 */
import { openProgressPort, type ProgressPort, type ProgressReport } from "../../workers/protocol.ts";
import type { ProgressChannel } from "../backends/types.ts";

let hives = 0;

/** The hive's end of the progress channel. */
export class ProgressHub {
  readonly channel: ProgressChannel;
  #listener: ProgressPort | undefined;
  readonly #onReport: (report: ProgressReport) => void;

  constructor(onReport: (report: ProgressReport) => void) {
    this.#onReport = onReport;
    const name = `apiary-progress-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${++hives}`;
    this.channel = { name, deliver: (report) => this.#onReport({ ...report, value: structuredClone(report.value) }) };
  }

  /** Starts listening to the threads (the channel does not hold the process open). */
  listen(): void {
    if (this.#listener !== undefined || typeof (globalThis as { BroadcastChannel?: unknown }).BroadcastChannel !== "function") return;
    const listener = openProgressPort(this.channel.name);
    listener.onmessage = (event) => {
      const r = event.data as ProgressReport | null;
      if (r !== null && typeof r === "object" && typeof r.taskId === "string" && typeof r.attempt === "number") this.#onReport(r);
    };
    this.#listener = listener;
  }

  close(): void {
    this.#listener?.close();
    this.#listener = undefined;
  }
}
