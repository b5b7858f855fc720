/**
 * The Supervisor's ready queue: tasks waiting for a free, eligible agent. Grouped by requirement
 * signature (tasks with the same `requires` have the same eligible agents), five FIFO lanes per
 * group, and aging: every `agingMs` a task waits lifts it one priority rank, so low priorities
 * are not starved.
 *
 * Mutable on purpose: the Supervisor updates it inside `assign`, because copying a queue of
 * thousands of tasks on every event would make each event O(n).
 *
 * @module
 */
import { isEligible } from "./allocation.ts";
import type { DispatchWindow } from "./kind-limits.ts";
import { type Capabilities, PRIORITIES, type ReadyTask } from "./types.ts";

/** A FIFO with O(1) push and shift. */
class Lane {
  /** Items from index `head` on are live (some may be lazily removed). */
  items: ReadyTask[] = [];
  head = 0;

  push(task: ReadyTask): void {
    this.items.push(task);
  }

  /** Puts a task back in front of the others. */
  unshift(task: ReadyTask): void {
    if (this.head > 0) this.items[--this.head] = task;
    else this.items.unshift(task);
  }

  peek(): ReadyTask | undefined {
    return this.items[this.head];
  }

  shift(): void {
    this.items[this.head] = undefined as unknown as ReadyTask;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

interface Group {
  requires: Capabilities;
  lanes: Lane[];
  size: number;
  /** The dispatch window of the group's kind, when that kind is limited (its tasks then group by kind too). */
  window: DispatchWindow | undefined;
}

/** True when the group's kind may not dispatch at `now`: its tasks wait. */
function held(group: Group, now: number): boolean {
  return group.window !== undefined && !group.window.allows(now);
}

/** Stable text key of a requirement set. */
export function signatureOf(requires: Capabilities): string {
  const names = Object.keys(requires);
  if (names.length === 0) return "";
  names.sort();
  let key = "";
  for (const n of names) key += `${n}=${requires[n]};`;
  return key;
}

/** Tasks waiting for an agent, by requirement group and priority lane. */
export class ReadyQueue {
  /** Signature → group; a group is never deleted (there are few signatures). */
  readonly #groups = new Map<string, Group>();
  /** Ids removed while still in a lane; skipped (and forgotten) when they reach the head. */
  readonly #removed = new Set<string>();
  /** Live tasks by id, with their group: a cancel finds its task without a walk over the lanes. */
  readonly #live = new Map<string, Group>();
  /** Live tasks: pushed − taken − removed. */
  #size = 0;
  /** Kind → its dispatch window, for limited kinds only; undefined without limits. */
  readonly #windows: Map<string, DispatchWindow> | undefined;

  constructor(windows?: Map<string, DispatchWindow>) {
    this.#windows = windows;
  }

  get size(): number {
    return this.#size;
  }

  /** The key of a task's group: its requirement signature, and its kind when that kind is limited. */
  #keyOf(task: ReadyTask): string {
    const signature = signatureOf(task.requires);
    return this.#windows?.has(task.kind) === true ? `${signature}\u0000${task.kind}` : signature;
  }

  push(task: ReadyTask): void {
    const key = this.#keyOf(task);
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = { requires: task.requires, lanes: PRIORITIES.map(() => new Lane()), size: 0, window: this.#windows?.get(task.kind) };
      this.#groups.set(key, group);
    }
    group.lanes[PRIORITIES.indexOf(task.priority)]!.push(task);
    group.size++;
    this.#size++;
    this.#live.set(task.id, group);
  }

  /** Returns a task just taken (and not placed) to the head of its lane, ahead of the tasks that came after it. */
  putBack(task: ReadyTask): void {
    const group = this.#groups.get(this.#keyOf(task))!;
    group.lanes[PRIORITIES.indexOf(task.priority)]!.unshift(task);
    group.size++;
    this.#size++;
    this.#live.set(task.id, group);
  }

  /** Marks a queued task removed. Returns false when it is not queued. */
  remove(id: string): boolean {
    const group = this.#live.get(id);
    // An id already marked removed (a reused id whose first task still lingers in a lane) stays as before.
    if (group === undefined || this.#removed.has(id)) return false;
    this.#live.delete(id);
    this.#removed.add(id);
    group.size--;
    this.#size--;
    return true;
  }

  /** The head of a lane, dropping removed tasks on the way. */
  #head(lane: Lane): ReadyTask | undefined {
    for (;;) {
      const task = lane.peek();
      if (task === undefined || !this.#removed.has(task.id)) return task;
      this.#removed.delete(task.id);
      lane.shift();
    }
  }

  /**
   * Takes the most urgent task an agent with `capabilities` is eligible for: lowest aged rank
   * (rank − waited ÷ agingMs), then longest waiting. Tasks of a kind its limit holds at `now` are passed over.
   */
  takeFor(capabilities: Capabilities, now: number, agingMs: number): ReadyTask | undefined {
    let best: { task: ReadyTask; lane: Lane; group: Group; rank: number } | undefined;
    for (const group of this.#groups.values()) {
      if (group.size === 0 || !isEligible(capabilities, group.requires) || held(group, now)) continue;
      for (let r = 0; r < group.lanes.length; r++) {
        const lane = group.lanes[r]!;
        const task = this.#head(lane);
        if (task === undefined) continue;
        const rank = r - Math.floor(Math.max(0, now - task.enqueuedAt) / agingMs);
        if (best === undefined || rank < best.rank || (rank === best.rank && task.enqueuedAt < best.task.enqueuedAt)) {
          best = { task, lane, group, rank };
        }
      }
    }
    if (best === undefined) return undefined;
    best.lane.shift();
    best.group.size--;
    this.#size--;
    this.#live.delete(best.task.id);
    return best.task;
  }

  /** The requirement sets of the tasks that may be placed at `now` (one per group), leaving out kinds their limit holds. */
  *waitingRequirements(now: number): IterableIterator<Capabilities> {
    for (const group of this.#groups.values()) if (group.size > 0 && !held(group, now)) yield group.requires;
  }

  /** Queued tasks of the kind whose dispatch window is `window`. */
  waitingOf(window: DispatchWindow): number {
    let n = 0;
    for (const group of this.#groups.values()) if (group.window === window) n += group.size;
    return n;
  }

  /** Removes and returns the most recently queued task of `priority`, if any. */
  shedNewest(priority: (typeof PRIORITIES)[number]): ReadyTask | undefined {
    const rank = PRIORITIES.indexOf(priority);
    let best: { task: ReadyTask; group: Group } | undefined;
    for (const group of this.#groups.values()) {
      const lane = group.lanes[rank]!;
      for (let i = lane.items.length - 1; i >= lane.head; i--) {
        const t = lane.items[i];
        if (t === undefined || this.#removed.has(t.id)) continue;
        if (best === undefined || t.enqueuedAt > best.task.enqueuedAt) best = { task: t, group };
        break;
      }
    }
    if (best === undefined) return undefined;
    this.#removed.add(best.task.id);
    this.#live.delete(best.task.id);
    best.group.size--;
    this.#size--;
    return best.task;
  }

  /**
   * Every queued task, most urgent first: the order `takeFor` takes them in when every agent is
   * eligible for every task (aged rank, then longest waiting), as of `now`.
   */
  list(now: number, agingMs: number): ReadyTask[] {
    const out: { task: ReadyTask; rank: number }[] = [];
    for (const group of this.#groups.values()) {
      group.lanes.forEach((lane, r) => {
        for (let i = lane.head; i < lane.items.length; i++) {
          const task = lane.items[i];
          if (task !== undefined && !this.#removed.has(task.id)) out.push({ task, rank: r - Math.floor(Math.max(0, now - task.enqueuedAt) / agingMs) });
        }
      });
    }
    out.sort((a, b) => a.rank - b.rank || a.task.enqueuedAt - b.task.enqueuedAt);
    return out.map((o) => o.task);
  }

  /**
   * When queued task `id` of `priority` joined the queue, or undefined when it is not queued. Walks
   * only its own lane (found through `#live`), newest first: `explain()` asks this, not a hot path.
   */
  enqueuedAt(id: string, priority: (typeof PRIORITIES)[number]): number | undefined {
    const group = this.#live.get(id);
    if (group === undefined) return undefined;
    const lane = group.lanes[PRIORITIES.indexOf(priority)]!;
    // Newest first: an earlier entry of a reused id may linger there, removed.
    for (let i = lane.items.length - 1; i >= lane.head; i--) if (lane.items[i]?.id === id) return lane.items[i]!.enqueuedAt;
    return undefined;
  }

  /** Queued tasks per priority. */
  counts(): Record<(typeof PRIORITIES)[number], number> {
    const out = { critical: 0, high: 0, normal: 0, low: 0, background: 0 };
    for (const group of this.#groups.values()) {
      group.lanes.forEach((lane, r) => {
        for (let i = lane.head; i < lane.items.length; i++) {
          const t = lane.items[i];
          if (t && !this.#removed.has(t.id)) out[PRIORITIES[r]!]++;
        }
      });
    }
    return out;
  }

  /** Removes and returns every queued task. */
  drainAll(): ReadyTask[] {
    const out: ReadyTask[] = [];
    for (const group of this.#groups.values()) {
      for (const lane of group.lanes) {
        for (let t = this.#head(lane); t !== undefined; t = this.#head(lane)) {
          out.push(t);
          lane.shift();
        }
      }
      group.size = 0;
    }
    this.#size = 0;
    this.#removed.clear();
    this.#live.clear();
    return out;
  }

  /** Plain data for persisted snapshots and the inspector. */
  toJSON(): { size: number; counts: Record<string, number> } {
    return { size: this.#size, counts: this.counts() };
  }
}
