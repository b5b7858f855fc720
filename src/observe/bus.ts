/**
 * The hive's event bus: typed subscriptions, five delivery priorities, delivery queued and
 * drained in a microtask (a publisher never runs subscriber code), a replay buffer for late
 * subscribers, `waitFor`, and a dead-letter list with retries for subscribers that throw.
 *
 * @example
 * ```ts
 * type HiveEvent =
 *   | { type: "task.completed"; at: number; taskId: string; output: unknown }
 *   | { type: "task.failed"; at: number; taskId: string; error: string };
 * const bus = new EventBus<HiveEvent>({ replay: 100 });
 * using off = bus.on("task.completed", (e) => console.log(e.taskId));
 * bus.publish({ type: "task.completed", at: 0, taskId: "t1", output: 42 });
 * await bus.flush();
 * ```
 *
 * @module
 */
import { z } from "zod";
import { AbortedError, describeValue, InvalidEventError, InvalidOptionsError, WaitTimeoutError } from "../core/errors.ts";
import { realTimers, type TimerClock } from "../core/timers.ts";
import { fn, nonNegativeInt, parseOptions, positiveInt, positiveNumber } from "../core/validate.ts";

/** Delivery priorities, highest first. Among queued events a higher priority is delivered first. */
export type BusPriority = "critical" | "high" | "normal" | "low" | "background";

/** The priorities in delivery order. */
export const BUS_PRIORITIES: readonly BusPriority[] = ["critical", "high", "normal", "low", "background"];

const PRIORITY_INDEX: Record<BusPriority, number> = { critical: 0, high: 1, normal: 2, low: 3, background: 4 };

/**
 * The shape hive events take: a dot-namespaced `type`, the time `at` (ms, from the hive clock,
 * supplied by the publisher) and, when the event concerns a task, its `taskId` as correlation id.
 */
export interface BusEvent {
  /** Dot-namespaced event name, e.g. `"task.completed"`. */
  readonly type: string;
  /** When it happened, in milliseconds of the hive clock. */
  readonly at: number;
  /** Correlation id: the task the event concerns, if any. */
  readonly taskId?: string | undefined;
}

/** A subscriber. It may return a promise; a rejection counts as a failure like a throw. */
export type BusListener<E> = (event: E) => unknown;

/** What {@link EventBus.on} returns: call it (or let `using` dispose it) to unsubscribe. */
export type Disposer = (() => void) & Disposable;

/** A delivery that failed: the event, the subscriber's error, and where its retries stand. */
export interface DeadLetter<E> {
  /** The event that could not be delivered. */
  readonly event: E;
  /** The type the failing subscriber listens to (`"*"` for all). */
  readonly listenerType: string;
  /** The last error the subscriber threw (or rejected with). */
  readonly error: unknown;
  /** How many deliveries to this subscriber failed so far. */
  readonly attempts: number;
  /**
   * `retrying`: another delivery is scheduled; `exhausted`: `maxRetries` reached;
   * `dropped`: the subscriber unsubscribed or the bus closed before a retry.
   */
  readonly state: "retrying" | "exhausted" | "dropped";
}

/** Counters of what the bus did since it was created. */
export interface BusStats {
  /** Events accepted by `publish`/`publishBatch`. */
  readonly published: number;
  /** Successful subscriber calls (including successful retries). */
  readonly delivered: number;
  /** Subscriber calls that threw or rejected (including failed retries). */
  readonly failed: number;
  /** Failed deliveries that a later retry delivered. */
  readonly recovered: number;
  /** Failed deliveries that ran out of retries. */
  readonly exhausted: number;
  /** Events waiting in the queue now. */
  readonly queued: number;
}

/** Options of {@link EventBus}. */
export interface EventBusOptions<E> {
  /**
   * `queued`: `publish` enqueues and a microtask delivers, by priority; `sync`: `publish` delivers
   * before it returns (priorities then have no effect).
   * @default "queued"
   */
  delivery?: "queued" | "sync";
  /**
   * How many of the last delivered events to keep for subscribers that ask for `replay`.
   * @default 0
   */
  replay?: number;
  /**
   * How many times a failed delivery is retried (to the same subscriber) before it is `exhausted`.
   * @default 3
   */
  maxRetries?: number;
  /**
   * Delay before the first retry, in milliseconds; it doubles on each further retry.
   * @default 100
   */
  retryBaseMs?: number;
  /**
   * Upper bound of the delay between retries, in milliseconds.
   * @default 30000
   */
  retryMaxMs?: number;
  /**
   * How many dead letters to keep; past it the oldest is forgotten (and its retry cancelled).
   * @default 1000
   */
  deadLetterLimit?: number;
  /** Priority of an event published without an explicit one. @default every event is `"normal"` */
  priorityOf?: (event: E) => BusPriority;
  /** Timers for retries and `waitFor` timeouts (XState's `SimulatedClock` fits). @default the global timers */
  clock?: TimerClock;
}

/** Options of {@link EventBus.on}. */
export interface SubscribeOptions {
  /** Deliver the events in the replay buffer (matching the type) first, synchronously inside `on`. @default false */
  replay?: boolean;
  /** Unsubscribe after the first event delivered. @default false */
  once?: boolean;
}

/** Options of {@link EventBus.publish} and {@link EventBus.publishBatch}. */
export interface PublishOptions {
  /** Delivery priority. @default `priorityOf(event)`, else `"normal"` */
  priority?: BusPriority;
}

/** Options of {@link EventBus.waitFor}. */
export interface WaitForOptions {
  /** Reject with `WAIT_TIMEOUT` after this many milliseconds of the bus clock. @default no timeout */
  timeoutMs?: number;
  /** Reject with `ABORTED` when this signal aborts. */
  signal?: AbortSignal;
}

const priorityEnum = z.enum(["critical", "high", "normal", "low", "background"], {
  error: 'must be one of "critical", "high", "normal", "low", "background"',
});

const optionsSchema = z.strictObject({
  delivery: z.enum(["queued", "sync"], { error: 'must be "queued" or "sync"' }).optional(),
  replay: nonNegativeInt().optional(),
  maxRetries: nonNegativeInt().optional(),
  retryBaseMs: positiveNumber().optional(),
  retryMaxMs: positiveNumber().optional(),
  deadLetterLimit: positiveInt().optional(),
  priorityOf: fn().optional(),
  clock: z
    .custom<TimerClock>(
      (v) =>
        typeof v === "object" &&
        v !== null &&
        typeof (v as TimerClock).setTimeout === "function" &&
        typeof (v as TimerClock).clearTimeout === "function",
      { error: "must have setTimeout and clearTimeout methods" },
    )
    .optional(),
});

const waitSchema = z.strictObject({
  timeoutMs: positiveNumber().optional(),
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: "must be an AbortSignal" }).optional(),
});

interface Subscription<E> {
  readonly type: string;
  readonly fn: BusListener<E>;
  readonly once: boolean;
  // false once unsubscribed: pending retries and queued deliveries skip it.
  active: boolean;
}

interface Letter<E> {
  readonly event: E;
  readonly sub: Subscription<E>;
  error: unknown;
  attempts: number;
  state: DeadLetter<E>["state"];
  // the pending retry timer while state is "retrying".
  timer: unknown;
}

/** One priority level's FIFO: an array consumed from `head`, reset when emptied. */
interface Lane<E> {
  items: (E | undefined)[];
  head: number;
}

/**
 * A typed publish/subscribe bus. See the module documentation for an example.
 *
 * @typeParam E - The union of events; each member has a literal `type` (see {@link BusEvent}).
 */
export class EventBus<E extends { type: string }> {
  // listeners by event type; arrays are replaced, never mutated, so a delivery loop can hold one.
  readonly #byType = new Map<string, Subscription<E>[]>();
  // listeners of "*", same copy-on-write rule.
  #wildcard: Subscription<E>[] = [];
  // one lane per priority, index 0 = critical.
  readonly #lanes: Lane<E>[] = BUS_PRIORITIES.map(() => ({ items: [], head: 0 }));
  // events in all lanes.
  #queued = 0;
  // true between scheduling a drain microtask and that drain finishing.
  #scheduled = false;
  // ring buffer of the last `#replayCap` delivered events; `#replayNext` is the next slot.
  readonly #replay: (E | undefined)[];
  readonly #replayCap: number;
  #replayNext = 0;
  #replayCount = 0;
  // dead letters, oldest first, at most `#deadLetterLimit`.
  #letters: Letter<E>[] = [];
  // resolvers of flush() calls waiting for the queue to empty.
  #flushers: (() => void)[] = [];
  // cleanups of pending waitFor calls (reject with ABORTED on close).
  readonly #waiters = new Set<(reason: unknown) => void>();
  #closed = false;
  readonly #sync: boolean;
  readonly #maxRetries: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #deadLetterLimit: number;
  readonly #priorityOf: ((event: E) => BusPriority) | undefined;
  readonly #clock: TimerClock;
  #published = 0;
  #delivered = 0;
  #failed = 0;
  #recovered = 0;
  #exhausted = 0;

  /**
   * @throws {InvalidOptionsError} When an option is invalid (the message names it and the value).
   */
  constructor(options: EventBusOptions<E> = {}) {
    const o = parseOptions(optionsSchema, options, "create event bus");
    this.#sync = o.delivery === "sync";
    this.#replayCap = o.replay ?? 0;
    this.#replay = new Array<E | undefined>(this.#replayCap);
    this.#maxRetries = o.maxRetries ?? 3;
    this.#retryBaseMs = o.retryBaseMs ?? 100;
    this.#retryMaxMs = o.retryMaxMs ?? 30_000;
    if (this.#retryMaxMs < this.#retryBaseMs) {
      throw new InvalidOptionsError(
        `Cannot create event bus: "retryMaxMs" must be at least "retryBaseMs" (${this.#retryBaseMs}), received ${this.#retryMaxMs}`,
      );
    }
    this.#deadLetterLimit = o.deadLetterLimit ?? 1_000;
    this.#priorityOf = options.priorityOf;
    this.#clock = o.clock ?? realTimers;
  }

  /**
   * Subscribes `listener` to events of `type`, or to every event with `"*"`.
   *
   * @returns A disposer: call it, or declare it with `using`, to unsubscribe.
   * @throws {InvalidOptionsError} When `type` is not a string, `listener` is not a function, or `options` is not an object.
   */
  on<K extends E["type"]>(type: K, listener: BusListener<Extract<E, { type: K }>>, options?: SubscribeOptions): Disposer;
  on(type: "*", listener: BusListener<E>, options?: SubscribeOptions): Disposer;
  on(type: string, listener: BusListener<never>, options: SubscribeOptions = {}): Disposer {
    if (typeof type !== "string") {
      throw new InvalidOptionsError(`Cannot subscribe: "type" must be an event type or "*", received ${describeValue(type)}`);
    }
    if (typeof listener !== "function") {
      throw new InvalidOptionsError(`Cannot subscribe to "${type}": "listener" must be a function, received ${describeValue(listener)}`);
    }
    if (options === null || typeof options !== "object") {
      throw new InvalidOptionsError(`Cannot subscribe to "${type}": options must be an object { once, replay }, received ${describeValue(options)}`);
    }
    const sub: Subscription<E> = { type, fn: listener as BusListener<E>, once: options.once === true, active: !this.#closed };
    const off = (): void => this.#unsubscribe(sub);
    const disposer = Object.assign(off, { [Symbol.dispose]: off });
    if (!sub.active) return disposer;
    if (options.replay === true) this.#replayTo(sub);
    if (!sub.active) return disposer; // a `once` subscriber satisfied by the replay
    if (type === "*") this.#wildcard = [...this.#wildcard, sub];
    else this.#byType.set(type, [...(this.#byType.get(type) ?? []), sub]);
    return disposer;
  }

  /**
   * Publishes one event. In `queued` mode it is delivered in a microtask, after the events of
   * higher priority already queued; in `sync` mode before `publish` returns. Either way a
   * subscriber that throws does not reach the publisher.
   *
   * @returns `false` when the bus is closed (the event is dropped), else `true`.
   * @throws {InvalidEventError} When `event` is not an object with a string `type`.
   */
  publish(event: E, options?: PublishOptions): boolean {
    if (typeof event !== "object" || event === null || typeof event.type !== "string") {
      throw new InvalidEventError(`Cannot publish: the event must be an object with a string "type", received ${describeValue(event)}`);
    }
    if (this.#closed) return false;
    if (this.#sync) {
      this.#published++;
      this.#deliver(event);
      return true;
    }
    this.#enqueue(event, options?.priority);
    this.#published++;
    return true;
  }

  /**
   * Publishes several events in order (one microtask drains them all).
   *
   * @returns `false` when the bus is closed (the events are dropped), else `true`.
   * @throws {InvalidEventError} When an event is not an object with a string `type`; none is published then.
   */
  publishBatch(events: Iterable<E>, options?: PublishOptions): boolean {
    const list = Array.from(events);
    for (const [i, event] of list.entries()) {
      if (typeof event !== "object" || event === null || typeof event.type !== "string") {
        throw new InvalidEventError(
          `Cannot publish batch: event ${i} must be an object with a string "type", received ${describeValue(event)}`,
        );
      }
    }
    if (this.#closed) return false;
    this.#published += list.length;
    for (const event of list) {
      if (this.#sync) this.#deliver(event);
      else this.#enqueue(event, options?.priority);
    }
    return true;
  }

  /**
   * Resolves with the first event published after the call for which `predicate` is true (or
   * whose `type` equals the string given).
   *
   * @throws {WaitTimeoutError} (rejects) After `timeoutMs` without a match. Code `WAIT_TIMEOUT`.
   * @throws {AbortedError} (rejects) When `signal` aborts or the bus closes. Code `ABORTED`.
   * @throws {InvalidOptionsError} When the predicate or an option is invalid.
   */
  waitFor<T extends E>(predicate: (event: E) => event is T, options?: WaitForOptions): Promise<T>;
  waitFor<K extends E["type"]>(type: K, options?: WaitForOptions): Promise<Extract<E, { type: K }>>;
  waitFor(predicate: (event: E) => boolean, options?: WaitForOptions): Promise<E>;
  waitFor(predicate: string | ((event: E) => boolean), options: WaitForOptions = {}): Promise<E> {
    const o = parseOptions(waitSchema, options, "wait for an event");
    if (typeof predicate !== "string" && typeof predicate !== "function") {
      throw new InvalidOptionsError(
        `Cannot wait for an event: "predicate" must be a function or an event type, received ${describeValue(predicate)}`,
      );
    }
    const what = typeof predicate === "string" ? `"${predicate}"` : "an event matching the predicate";
    const test = typeof predicate === "string" ? (e: E) => e.type === predicate : predicate;
    return new Promise<E>((resolve, reject) => {
      if (this.#closed) {
        reject(new AbortedError(`Stopped waiting for ${what}: the event bus is closed`));
        return;
      }
      if (o.signal?.aborted === true) {
        reject(new AbortedError(`Stopped waiting for ${what}: the signal was aborted`, { cause: o.signal.reason }));
        return;
      }
      let timer: unknown;
      const settle = (): void => {
        off();
        this.#waiters.delete(fail);
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        o.signal?.removeEventListener("abort", onAbort);
      };
      const fail = (error: unknown): void => {
        settle();
        reject(error);
      };
      const onAbort = (): void => fail(new AbortedError(`Stopped waiting for ${what}: the signal was aborted`, { cause: o.signal?.reason }));
      const off = this.on("*", (event) => {
        // A predicate that throws rejects the wait rather than becoming a dead letter.
        let hit: boolean;
        try {
          hit = test(event);
        } catch (error) {
          fail(error);
          return;
        }
        if (hit) {
          settle();
          resolve(event);
        }
      });
      this.#waiters.add(fail);
      o.signal?.addEventListener("abort", onAbort, { once: true });
      if (o.timeoutMs !== undefined) {
        const ms = o.timeoutMs;
        timer = this.#clock.setTimeout(
          () => fail(new WaitTimeoutError(`Timed out after ${ms} ms waiting for ${what} ("timeoutMs" was ${ms})`)),
          ms,
        );
      }
    });
  }

  /** Resolves once every queued event has been delivered (at once in `sync` mode or when idle). */
  flush(): Promise<void> {
    if (this.#queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#flushers.push(resolve));
  }

  /** The dead letters, oldest first (a copy). Retried deliveries that succeed leave the list. */
  deadLetters(): DeadLetter<E>[] {
    return this.#letters.map(({ event, sub, error, attempts, state }) => ({
      event,
      listenerType: sub.type,
      error,
      attempts,
      state,
    }));
  }

  /** Forgets every dead letter and cancels pending retries. */
  clearDeadLetters(): void {
    for (const letter of this.#letters) this.#clock.clearTimeout(letter.timer);
    this.#letters = [];
  }

  /** Counters since creation, for metrics. */
  stats(): BusStats {
    return {
      published: this.#published,
      delivered: this.#delivered,
      failed: this.#failed,
      recovered: this.#recovered,
      exhausted: this.#exhausted,
      queued: this.#queued,
    };
  }

  /** Number of subscribers of `type` (or of `"*"`), or of all types when omitted. */
  listenerCount(type?: string): number {
    if (type === "*") return this.#wildcard.length;
    if (type !== undefined) return this.#byType.get(type)?.length ?? 0;
    let n = this.#wildcard.length;
    for (const list of this.#byType.values()) n += list.length;
    return n;
  }

  /** True after {@link EventBus.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Closes the bus: queued events are dropped, subscribers removed, pending retries cancelled
   * (their letters become `dropped`), and pending `waitFor` calls reject with `ABORTED`.
   * Publishing afterwards returns `false`. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const lane of this.#lanes) {
      lane.items = [];
      lane.head = 0;
    }
    this.#queued = 0;
    for (const sub of this.#wildcard) sub.active = false;
    for (const list of this.#byType.values()) for (const sub of list) sub.active = false;
    this.#wildcard = [];
    this.#byType.clear();
    for (const letter of this.#letters) {
      if (letter.state === "retrying") {
        this.#clock.clearTimeout(letter.timer);
        letter.state = "dropped";
      }
    }
    for (const fail of [...this.#waiters]) fail(new AbortedError("Stopped waiting: the event bus is closed"));
    this.#resolveFlushers();
  }

  /** Same as {@link EventBus.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #enqueue(event: E, priority: BusPriority | undefined): void {
    const p = priority ?? (this.#priorityOf === undefined ? "normal" : this.#priorityOf(event));
    const index = PRIORITY_INDEX[p];
    if (index === undefined) {
      throw new InvalidOptionsError(
        `Cannot publish "${event.type}": "priority" must be one of ${priorityEnum.options.map((x) => `"${x}"`).join(", ")}, received ${describeValue(p)}`,
      );
    }
    (this.#lanes[index] as Lane<E>).items.push(event);
    this.#queued++;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#drain);
    }
  }

  // An arrow so it can be handed to queueMicrotask without a bind per publish.
  readonly #drain = (): void => {
    const lanes = this.#lanes;
    while (this.#queued > 0) {
      // Highest non-empty lane; events published by subscribers during the drain join it.
      let lane = lanes[0] as Lane<E>;
      for (let i = 0; lane.head >= lane.items.length;) lane = lanes[++i] as Lane<E>;
      const event = lane.items[lane.head] as E;
      lane.items[lane.head] = undefined;
      if (++lane.head === lane.items.length) {
        lane.items = [];
        lane.head = 0;
      }
      this.#queued--;
      this.#deliver(event);
    }
    this.#scheduled = false;
    this.#resolveFlushers();
  };

  #resolveFlushers(): void {
    if (this.#flushers.length === 0) return;
    const flushers = this.#flushers;
    this.#flushers = [];
    for (const resolve of flushers) resolve();
  }

  #deliver(event: E): void {
    if (this.#replayCap > 0) {
      this.#replay[this.#replayNext] = event;
      this.#replayNext = (this.#replayNext + 1) % this.#replayCap;
      if (this.#replayCount < this.#replayCap) this.#replayCount++;
    }
    const typed = this.#byType.get(event.type);
    if (typed !== undefined) { for (const sub of typed) this.#call(sub, event); }
    const wildcard = this.#wildcard;
    for (const sub of wildcard) this.#call(sub, event);
  }

  #call(sub: Subscription<E>, event: E): void {
    if (!sub.active) return;
    if (sub.once) this.#unsubscribe(sub);
    let result: unknown;
    try {
      result = sub.fn(event);
    } catch (error) {
      this.#fail(sub, event, error, undefined);
      return;
    }
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
      (result as PromiseLike<unknown>).then(
        () => this.#delivered++,
        (error: unknown) => this.#fail(sub, event, error, undefined),
      );
      return;
    }
    this.#delivered++;
  }

  #replayTo(sub: Subscription<E>): void {
    const start = (this.#replayNext - this.#replayCount + this.#replayCap) % Math.max(this.#replayCap, 1);
    const events: E[] = [];
    for (let i = 0; i < this.#replayCount; i++) {
      const event = this.#replay[(start + i) % this.#replayCap] as E;
      if (sub.type === "*" || event.type === sub.type) events.push(event);
    }
    for (const event of events) this.#call(sub, event);
  }

  #unsubscribe(sub: Subscription<E>): void {
    if (!sub.active) return;
    sub.active = false;
    if (sub.type === "*") {
      this.#wildcard = this.#wildcard.filter((s) => s !== sub);
    } else {
      const list = this.#byType.get(sub.type);
      if (list !== undefined) {
        const rest = list.filter((s) => s !== sub);
        if (rest.length === 0) this.#byType.delete(sub.type);
        else this.#byType.set(sub.type, rest);
      }
    }
  }

  /** Records a failed delivery and schedules its retry (or marks it exhausted). */
  #fail(sub: Subscription<E>, event: E, error: unknown, letter: Letter<E> | undefined): void {
    this.#failed++;
    if (this.#closed) return;
    if (letter === undefined) {
      letter = { event, sub, error, attempts: 1, state: "retrying", timer: undefined };
      this.#letters.push(letter);
      if (this.#letters.length > this.#deadLetterLimit) {
        const oldest = this.#letters.shift() as Letter<E>;
        this.#clock.clearTimeout(oldest.timer);
      }
    } else {
      letter.error = error;
      letter.attempts++;
    }
    if (letter.attempts > this.#maxRetries) {
      letter.state = "exhausted";
      letter.timer = undefined;
      this.#exhausted++;
      return;
    }
    letter.state = "retrying";
    const delayMs = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** (letter.attempts - 1));
    const scheduled = letter;
    scheduled.timer = this.#clock.setTimeout(() => this.#retry(scheduled), delayMs);
  }

  #retry(letter: Letter<E>): void {
    letter.timer = undefined;
    // A `once` subscriber is inactive after its first call but still owes this delivery.
    if (this.#closed || (!letter.sub.active && !letter.sub.once)) {
      letter.state = "dropped";
      return;
    }
    let result: unknown;
    try {
      result = letter.sub.fn(letter.event);
    } catch (error) {
      this.#fail(letter.sub, letter.event, error, letter);
      return;
    }
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
      (result as PromiseLike<unknown>).then(
        () => this.#recover(letter),
        (error: unknown) => this.#fail(letter.sub, letter.event, error, letter),
      );
      return;
    }
    this.#recover(letter);
  }

  #recover(letter: Letter<E>): void {
    this.#delivered++;
    this.#recovered++;
    const at = this.#letters.indexOf(letter);
    if (at >= 0) this.#letters.splice(at, 1);
  }
}
