/**
 * Repeating work: `hive.schedule(task, { everyMs } | { cron })`. Each run submits the task
 * afresh. Timers run on the hive clock, so a simulation or a test drives them in virtual time;
 * cron patterns are read against the hive's wall time (the epoch at start plus the hive clock's
 * progress). Each schedule's last run is saved with the journal's state: a schedule made again
 * under the same id after downtime runs once for the runs it missed, not once per missed period.
 *
 * Cron patterns are parsed by croner (five or six fields, `@hourly`-style nicknames, time zones).
 *
 * @module
 */
import { Cron } from "croner";
import { z } from "zod";
import type { HiveClock } from "../core/clock.ts";
import { InvalidOptionsError } from "../core/errors.ts";
import { parseFor } from "../core/validation.ts";

/** When a schedule runs: every `everyMs` ms, or at the times of a cron pattern. */
export type ScheduleSpec = { everyMs: number } | { cron: string; /** IANA time zone of the pattern. @default the process's */ timezone?: string };

/** Options of `hive.schedule`. */
export interface ScheduleOptions {
  /** The schedule's name: a schedule made again under it after a restart knows its last run. @default generated */
  id?: string;
}

/** What `hive.schedule` returns. */
export interface ScheduleHandle {
  readonly id: string;
  /** Wall time of the next run, epoch ms; undefined once stopped (or when a cron pattern has no more). */
  readonly nextAt: number | undefined;
  /** Runs so far in this process. */
  readonly runs: number;
  /** Stops it: no more runs (tasks it submitted carry on). Idempotent. */
  stop(): void;
}

const specSchema = z.union([
  z.strictObject({
    everyMs: z.number({ error: "must be an integer from 1 to 2147483647" }).int({ error: "must be an integer from 1 to 2147483647" }).min(1, { error: "must be an integer from 1 to 2147483647" }).max(
      2_147_483_647,
      { error: "must be an integer from 1 to 2147483647" },
    ),
  }),
  z.strictObject({ cron: z.string({ error: "must be a cron pattern" }).min(1, { error: "must be a cron pattern" }), timezone: z.string({ error: "must be an IANA time zone name" }).optional() }),
], { error: "must be { everyMs } or { cron, timezone? }" });

const optionsSchema = z.strictObject({
  id: z.string({ error: "must be a non-empty string" }).min(1, { error: "must be a non-empty string" }).max(200, { error: "must be at most 200 characters" }).optional(),
}, {
  error: "must be an object { id }",
});

/** What the schedules need of the hive. */
export interface SchedulesHost {
  readonly clock: HiveClock;
  /** Submits one run's task (validated when the schedule was made). */
  run(): void;
}

/** The hive's schedules, and each one's last run (wall ms) for the journal's saved state. */
export class Schedules {
  readonly #clock: HiveClock;
  /** Wall time = this + hive clock. */
  readonly #wallOffset: number;
  readonly #active = new Map<string, Schedule>();
  /** Last run of every schedule known (this process's and the saved ones), wall ms. */
  readonly #lastRuns = new Map<string, number>();
  #nextId = 1;
  /** Called when a last run changes (the hive saves its state). */
  readonly #changed: () => void;

  constructor(clock: HiveClock, changed: () => void) {
    this.#clock = clock;
    this.#wallOffset = clock.epochMs ?? Date.now() - clock.now();
    this.#changed = changed;
  }

  /** The hive's wall time, epoch ms (virtual with a SimulatedClock). */
  wallNow(): number {
    return this.#wallOffset + this.#clock.now();
  }

  /** Last runs saved by an earlier process (`recover: true`). */
  restore(lastRuns: Record<string, number> | undefined): void {
    for (const [id, at] of Object.entries(lastRuns ?? {})) if (typeof at === "number" && !this.#lastRuns.has(id)) this.#lastRuns.set(id, at);
  }

  /** Every last run, for the saved state. */
  lastRuns(): Record<string, number> {
    return Object.fromEntries(this.#lastRuns);
  }

  /** Checks a spec and options; throws InvalidOptionsError naming the field. */
  parse(spec: unknown, options: unknown): { spec: ScheduleSpec; id: string; cron: Cron | undefined } {
    const s = parseFor(specSchema, spec, "schedule task", (m) => new InvalidOptionsError(m), ["when"]) as ScheduleSpec;
    const o = parseFor(optionsSchema, options ?? {}, "schedule task", (m) => new InvalidOptionsError(m), ["options"]);
    let cron: Cron | undefined;
    if ("cron" in s) {
      try {
        cron = new Cron(s.cron, { paused: true, ...(s.timezone !== undefined ? { timezone: s.timezone } : {}) });
      } catch (error) {
        throw new InvalidOptionsError(`Cannot schedule task: "when.cron" must be a cron pattern, received ${JSON.stringify(s.cron)} (${error instanceof Error ? error.message : String(error)})`, {
          cause: error,
        });
      }
      let next: Date | null;
      try {
        next = cron.nextRun(new Date(this.wallNow()));
      } catch (error) {
        // croner checks the time zone only when it computes a run.
        throw new InvalidOptionsError(`Cannot schedule task: "when.timezone" must be an IANA time zone name, received ${JSON.stringify(s.timezone)}`, { cause: error });
      }
      if (next === null) throw new InvalidOptionsError(`Cannot schedule task: "when.cron" never runs again, received ${JSON.stringify(s.cron)}`);
    }
    let id = o.id;
    if (id === undefined) {
      do id = `schedule-${this.#nextId++}`; while (this.#active.has(id));
    } else if (this.#active.has(id)) throw new InvalidOptionsError(`Cannot schedule task: "options.id" must not name a running schedule, received ${JSON.stringify(id)}`);
    return { spec: s, id, cron };
  }

  /** Starts a parsed schedule; a run missed while no process ran it happens once, now. */
  start(parsed: { spec: ScheduleSpec; id: string; cron: Cron | undefined }, run: () => void): ScheduleHandle {
    const schedule = new Schedule(this, parsed.id, parsed.spec, parsed.cron, run);
    this.#active.set(parsed.id, schedule);
    const last = this.#lastRuns.get(parsed.id);
    const now = this.wallNow();
    if (last !== undefined && schedule.dueAfter(last) <= now) schedule.fire();
    else schedule.arm(last);
    return schedule.handle;
  }

  /** A run happened. */
  ran(id: string, at: number): void {
    this.#lastRuns.set(id, at);
    this.#changed();
  }

  /** A schedule stopped. */
  stopped(id: string): void {
    this.#active.delete(id);
  }

  get clock(): HiveClock {
    return this.#clock;
  }

  /** Stops every schedule (the hive stops). */
  stopAll(): void {
    for (const s of [...this.#active.values()]) s.handle.stop();
  }
}

class Schedule {
  readonly #owner: Schedules;
  readonly #id: string;
  readonly #spec: ScheduleSpec;
  readonly #cron: Cron | undefined;
  readonly #run: () => void;
  #timer: unknown;
  #nextAt: number | undefined;
  #runs = 0;
  #stopped = false;
  readonly handle: ScheduleHandle;

  constructor(owner: Schedules, id: string, spec: ScheduleSpec, cron: Cron | undefined, run: () => void) {
    this.#owner = owner;
    this.#id = id;
    this.#spec = spec;
    this.#cron = cron;
    this.#run = run;
    const nextAt = (): number | undefined => this.#nextAt;
    const runs = (): number => this.#runs;
    this.handle = {
      id,
      get nextAt() {
        return nextAt();
      },
      get runs() {
        return runs();
      },
      stop: () => this.#stop(),
    };
  }

  /** The first run due after a run at `last` (wall ms). */
  dueAfter(last: number): number {
    if ("everyMs" in this.#spec) return last + this.#spec.everyMs;
    return this.#cron!.nextRun(new Date(last))?.getTime() ?? Number.POSITIVE_INFINITY;
  }

  /** Arms the timer for the next run after `last` (or after now). */
  arm(last?: number): void {
    if (this.#stopped) return;
    const now = this.#owner.wallNow();
    let next: number;
    if ("everyMs" in this.#spec) {
      const every = this.#spec.everyMs;
      // Keep the cadence of earlier runs: the first multiple of everyMs after now.
      next = last === undefined ? now + every : last + Math.max(1, Math.ceil((now - last) / every)) * every;
    } else next = this.#cron!.nextRun(new Date(now))?.getTime() ?? Number.POSITIVE_INFINITY;
    if (!Number.isFinite(next)) {
      this.#nextAt = undefined;
      return;
    }
    this.#nextAt = next;
    this.#timer = this.#owner.clock.setTimeout(() => this.fire(), Math.max(0, next - now));
  }

  fire(): void {
    if (this.#stopped) return;
    const at = this.#owner.wallNow();
    this.#runs++;
    this.#owner.ran(this.#id, at);
    try {
      this.#run();
    } finally {
      this.arm(at);
    }
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#nextAt = undefined;
    if (this.#timer !== undefined) this.#owner.clock.clearTimeout(this.#timer);
    this.#owner.stopped(this.#id);
  }
}
