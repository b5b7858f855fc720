/**
 * The events a hive publishes (`hive.on`, `hive.waitFor`): their types, the check that refuses a
 * type no event has, and {@link HiveEvents}, the hive's bus with the fast path that skips it when
 * nobody listens and nothing is kept for replay.
 *
 * @module
 */
import type { LifecycleEvent } from "../../actors/queen.ts";
import type { AgentLifecycleEvent, AllocationFallbackEvent, Decision } from "../../actors/supervisor.ts";
import type { HiveClock } from "../core/clock.ts";
import type { Disposer } from "../core/disposer.ts";
import { describeValue, InvalidOptionsError } from "../core/errors.ts";
import { type DeadLetter, EventBus, type SubscribeOptions, type WaitForOptions } from "../observe/bus.ts";
import type { BreakerTransitionEvent } from "./agent-breakers.ts";
import type { CacheEvent } from "./task-cache.ts";
import type { TaskProgressEvent } from "./options.ts";

/** Events `hive.on` delivers. */
export type HiveEvent =
  | LifecycleEvent
  | AgentLifecycleEvent
  | ({ type: "allocation.decided" } & Decision)
  | AllocationFallbackEvent
  | { type: "hive.started"; at: number; /** The backend's own name (`piscina`, …, or a factory's backend's). */ backend: string; kinds: string[] }
  | BreakerTransitionEvent
  | CacheEvent
  | TaskProgressEvent
  | { type: "hive.recovered"; tasks: number; results: number; skipped: number; /** Not resumed: the process died during their attempt `journal.maxCrashes` times. */ abandoned: number; at: number };

/** Event type names. */
export type HiveEventType = HiveEvent["type"];

/** Every event type, checked against {@link HiveEventType} both ways: a new event must be listed here. */
const EVENT_TYPES: Record<HiveEventType, true> = {
  "task.queued": true,
  "task.rejected": true,
  "task.started": true,
  "task.retrying": true,
  "task.completed": true,
  "task.failed": true,
  "task.deadLettered": true,
  "task.shed": true,
  "task.cancelled": true,
  "task.progress": true,
  "hive.degraded": true,
  "hive.healed": true,
  "hive.drained": true,
  "hive.stopped": true,
  "hive.started": true,
  "hive.recovered": true,
  "agent.crashed": true,
  "agent.failed": true,
  "agent.restarting": true,
  "agent.restarted": true,
  "agent.added": true,
  "agent.removed": true,
  "allocation.decided": true,
  "allocation.fallback": true,
  "breaker.transition": true,
  "cache.hit": true,
  "cache.miss": true,
};

/** Refuses an event type no hive event has (a typo would otherwise listen to nothing, silently). */
function checkEventType(type: unknown, action: string, field: string, wildcard: boolean): void {
  if ((wildcard && type === "*") || (typeof type === "string" && Object.hasOwn(EVENT_TYPES, type))) return;
  throw new InvalidOptionsError(`Cannot ${action}: "${field}" must be ${wildcard ? '"*" or ' : "a function or "}one of ${Object.keys(EVENT_TYPES).join(", ")}, received ${describeValue(type)}`);
}

/** The hive's event bus, behind the checks of its public methods. */
export class HiveEvents {
  /** Delivers hive events to `on` listeners; a listener that throws is isolated there. */
  readonly #bus: EventBus<HiveEvent>;
  /** `events.replay`: events kept for late listeners (0: an event nobody listens to is dropped at once). */
  readonly #replayKept: number;

  constructor(clock: HiveClock, replay: number | undefined) {
    this.#bus = new EventBus<HiveEvent>({ clock, ...(replay !== undefined ? { replay } : {}) });
    this.#replayKept = replay ?? 0;
  }

  /** Internal observers handed every published event as it is published (the run recorder). */
  readonly #observers: ((event: HiveEvent) => void)[] = [];

  /** Whether an event of `type` would reach anyone (an observer, a listener, or the replay buffer). */
  wanted(type: HiveEventType): boolean {
    return this.#observers.length > 0 || this.#replayKept > 0 || this.#bus.listenerCount(type) > 0 || this.#bus.listenerCount("*") > 0;
  }

  /** Publishes `event`: to the observers at once; to the bus unless nobody listens and nothing is kept (most events of a busy hive). */
  publish(event: HiveEvent): void {
    for (const observe of this.#observers) observe(event);
    if (this.#replayKept > 0 || this.#bus.listenerCount(event.type) > 0 || this.#bus.listenerCount("*") > 0) this.#bus.publish(event);
  }

  /** Adds a synchronous observer of every published event; returns the function that removes it. */
  observe(observer: (event: HiveEvent) => void): () => void {
    this.#observers.push(observer);
    return () => {
      const at = this.#observers.indexOf(observer);
      if (at >= 0) this.#observers.splice(at, 1);
    };
  }

  /** `hive.on`. */
  on(type: string, listener: (event: HiveEvent) => void, options: SubscribeOptions | undefined): Disposer {
    checkEventType(type, "listen to hive events", "type", true);
    return this.#bus.on(type as "*", listener, options);
  }

  /** `hive.waitFor`. */
  waitFor(predicate: HiveEventType | ((event: HiveEvent) => boolean), options: WaitForOptions | undefined): Promise<HiveEvent> {
    if (typeof predicate !== "function") checkEventType(predicate, "wait for a hive event", "predicate", false);
    return this.#bus.waitFor(typeof predicate === "string" ? (e: HiveEvent) => e.type === predicate : predicate, options);
  }

  /** Deliveries to listeners that threw, and where their retries stand. */
  deadLetters(): DeadLetter<HiveEvent>[] {
    return this.#bus.deadLetters();
  }

  /** Delivers what is queued, then closes the bus. */
  async close(): Promise<void> {
    await this.#bus.flush();
    this.#bus.close();
  }
}
