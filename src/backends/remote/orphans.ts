/**
 * What a coordinator that restarted finds of its predecessor's work on the nodes still up: jobs
 * still queued or running, and outcomes that came back after it died (in each queue's event
 * stream). When the recovered hive dispatches a task again under the attempt number its
 * journal kept, the backend takes the outcome that is already there, or adopts the job still
 * running, instead of running the attempt again: the work nodes were doing during the restart
 * is delivered, and no task completes twice. What is not found (an outcome already trimmed from
 * the stream, a node that died meanwhile) simply runs again: execution is at least once.
 *
 * @module
 */
import type { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { JobData, JobResult, WireOutcome } from "./protocol.ts";

/** A predecessor's attempt, as found. */
export interface Orphan {
  /** The task's attempt number. */
  attempt: number;
  nodeId: string;
  /** Its outcome, once known. */
  outcome?: WireOutcome | undefined;
  /** Where it still runs (or waits), until its outcome is known. */
  running?: { jobId: string; epoch: string; seq: number } | undefined;
  /** When it was found (epoch ms); orphans nobody asks for are forgotten after a while. */
  foundAt: number;
}

/** How long a found orphan waits for its task to be dispatched again, ms. */
const KEEP_MS = 10 * 60_000;

/** The predecessors' attempts, by task id. */
export class Orphans {
  readonly #byTask = new Map<string, Orphan>();
  /** This coordinator's incarnation: its own jobs are not orphans. */
  readonly #epoch: string;

  constructor(epoch: string) {
    this.#epoch = epoch;
  }

  get size(): number {
    return this.#byTask.size;
  }

  /** True when `jobId` is another incarnation's. */
  foreign(jobId: string): boolean {
    return !jobId.startsWith(`${this.#epoch}-`);
  }

  /**
   * Reads a node queue left by a predecessor: its jobs still waiting or running, then the
   * outcomes in its event stream. Resolves to the id of the last event read (the live reader
   * goes on from there).
   */
  async scan(nodeId: string, queue: Queue, redis: Redis): Promise<string> {
    const jobs = (await queue.getJobs(["active", "waiting", "prioritized"])) as (Job<JobData, JobResult> | undefined)[];
    const now = Date.now();
    for (const job of jobs) {
      if (job?.id === undefined || !this.foreign(job.id) || !Array.isArray(job.data?.attempts)) continue;
      for (const a of job.data.attempts) {
        this.#byTask.set(a.id, { attempt: a.attempt, nodeId, running: { jobId: job.id, epoch: job.data.epoch, seq: a.seq }, foundAt: now });
      }
    }
    const entries = (await redis.xrange(queue.keys.events!, "-", "+")) as [string, string[]][];
    let last = "0";
    for (const [id, fields] of entries) {
      last = id;
      const event = field(fields, "event");
      const jobId = field(fields, "jobId");
      if (event !== "completed" || jobId === undefined || !this.foreign(jobId)) continue;
      try {
        this.record(nodeId, JSON.parse(field(fields, "returnvalue") ?? "null") as JobResult | null);
      } catch {
        // Not a result of ours.
      }
    }
    return last;
  }

  /** Outcomes of a predecessor's job, come back. */
  record(nodeId: string, result: JobResult | null | undefined): void {
    if (result === null || result === undefined || !Array.isArray(result.outcomes)) return;
    const now = Date.now();
    for (const o of result.outcomes) {
      if (typeof o?.id !== "string") continue;
      const known = this.#byTask.get(o.id);
      if (known !== undefined && known.attempt > o.attempt) continue;
      this.#byTask.set(o.id, { attempt: o.attempt, nodeId, outcome: o, foundAt: known?.foundAt ?? now });
    }
  }

  /** Takes the orphan of `taskId`'s attempt `attempt`, if there is one. */
  take(taskId: string, attempt: number): Orphan | undefined {
    const o = this.#byTask.get(taskId);
    if (o === undefined || o.attempt !== attempt) return undefined;
    this.#byTask.delete(taskId);
    return o;
  }

  /** Forgets what ran on a node that is gone (those tasks run again). */
  dropNode(nodeId: string): void {
    for (const [id, o] of this.#byTask) if (o.nodeId === nodeId && o.outcome === undefined) this.#byTask.delete(id);
  }

  /** Forgets a job that failed (its attempts run again). */
  dropJob(jobId: string): void {
    for (const [id, o] of this.#byTask) if (o.running?.jobId === jobId && o.outcome === undefined) this.#byTask.delete(id);
  }

  /** Forgets orphans nobody asked for in a long while (their tasks had ended). */
  expire(now: number): void {
    for (const [id, o] of this.#byTask) if (now - o.foundAt > KEEP_MS) this.#byTask.delete(id);
  }
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
