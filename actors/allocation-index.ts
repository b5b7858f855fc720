/**
 * The Supervisor's allocation index: a placement looks only at the agents that can win it, not at
 * the whole swarm.
 *
 * Agents are grouped by what they declare (capabilities and concurrency): a task's eligible
 * groups are found once per requirement set, and every agent of a group has the same capability
 * fit. Inside a group, the agents that can take work now (up, a free slot, a breaker that lets an
 * attempt through) sit in one bucket per number of free slots, each a treap keyed by latency that
 * knows, for every subtree, its highest success rate, its lowest latency and its first agent in
 * `tieBefore` (allocation.ts) order. The score of anyone in a subtree is at most {@link scoreBound} of that
 * success rate discounted for that latency: a placement walks subtrees best bound first, across
 * every bucket, and stops as soon as nothing left can reach the top two — a few agents, however
 * large the swarm. Round-robin turns and the fill of free slots walk {@link OrdinalSet}s of the
 * candidates in declaration order.
 *
 * Answers are exactly those of a scan over every candidate ({@link ScanPool}); `test/allocation-index.test.ts`
 * compares the two on random swarms. The Supervisor calls {@link AllocationIndex.update} after
 * every change of an agent's slots, availability, breaker, success rate or status. The index
 * keeps the tie keys: an agent's key falls below every other's whenever its free slots, success
 * rate or latency change, so among agents a measure puts level the one that has waited longest in
 * its state goes first (work spreads over equals); agents take a seeded random key when they join.
 *
 * @module
 */
import type { Random } from "../src/core/random.ts";
import { type AgentView, breakerAllows, type CandidatePool, Candidates, fitOf, healthOf, isEligible, requiredNames, scoreBound, scoreOf, type Top2 } from "./allocation.ts";
import { OrdinalSet } from "./ordinal-set.ts";
import { signatureOf } from "./queue.ts";
import type { Capabilities } from "./types.ts";

/** One agent in the index: also a node of its bucket's treap. */
interface Entry {
  view: AgentView;
  group: Group;
  /** Position in `group.members`. */
  local: number;
  /** The bucket (free slots) it sits in; 0 when it cannot take work now. */
  free: number;
  // Its success rate, latency and tie key when it entered the bucket (the treap is keyed and
  // summed by them), and its ordinal: copies, so that a walk down the treap reads one object per node.
  successRate: number;
  latencyMs: number;
  tieKey: number;
  ordinal: number;
  /** In the swarm for good or coming back: a task it is eligible for can still be run. */
  returnable: boolean;
  /** True until it first enters a bucket: it keeps the seeded key it joined with. */
  joined: boolean;
  // Treap links and priority (a hash of the ordinal: the shape never changes a decision).
  left: Entry | null;
  right: Entry | null;
  priority: number;
  // Over its subtree: the highest success rate, the lowest latency, the entry first in tie order.
  maxSuccess: number;
  minLatency: number;
  best: Entry;
  /** While a placement is decided: the most anyone in its subtree can score (scratch). */
  bound: number;
}

/** Agents that declare the same capabilities and concurrency. */
interface Group {
  capabilities: Capabilities;
  concurrency: number;
  /** In declaration order; a removed agent leaves a hole. */
  members: (Entry | undefined)[];
  /** `ordinals[i]` is the ordinal of `members[i]` (ascending, holes kept). */
  ordinals: number[];
  /** Positions in `members` of the agents that can take work now. */
  candidates: OrdinalSet;
  /** `buckets[f]`: the root of the treap of candidates with f free slots, keyed by latency. */
  buckets: (Entry | null)[];
  /** The numbers of free slots whose bucket is not empty. */
  occupied: OrdinalSet;
  /** Members that are returnable. */
  returnable: number;
  /** The placement this group was last made eligible for (see {@link AllocationIndex.poolFor}), and its fit then. */
  stamp: number;
  fit: number;
}

/** The groups eligible for one requirement set, with their fit. */
interface Eligibility {
  groups: Group[];
  fits: number[];
  /** The index's `#groupsVersion` it was computed at. */
  version: number;
}

/** Treap order: by latency, then declaration. */
function keyBefore(a: Entry, b: Entry): boolean {
  return a.latencyMs < b.latencyMs || (a.latencyMs === b.latencyMs && a.ordinal < b.ordinal);
}

/** `tieBefore` (allocation.ts) on the copies an entry holds (equal to its view's while it is filed). */
function entryBefore(a: Entry, b: Entry): boolean {
  if (a.successRate !== b.successRate) return a.successRate > b.successRate;
  if (a.tieKey !== b.tieKey) return a.tieKey > b.tieKey;
  return a.ordinal < b.ordinal;
}

/** Recomputes a node's subtree figures from its children. */
function pull(e: Entry): void {
  let maxSuccess = e.successRate;
  let best = e;
  const l = e.left;
  const r = e.right;
  if (l !== null) {
    if (l.maxSuccess > maxSuccess) maxSuccess = l.maxSuccess;
    if (entryBefore(l.best, best)) best = l.best;
  }
  if (r !== null) {
    if (r.maxSuccess > maxSuccess) maxSuccess = r.maxSuccess;
    if (entryBefore(r.best, best)) best = r.best;
  }
  e.maxSuccess = maxSuccess;
  e.minLatency = l !== null ? l.minLatency : e.latencyMs;
  e.best = best;
}

function insert(root: Entry | null, e: Entry): Entry {
  if (root === null) return e;
  if (keyBefore(e, root)) {
    root.left = insert(root.left, e);
    if (root.left.priority > root.priority) {
      const l = root.left;
      root.left = l.right;
      pull(root);
      l.right = root;
      pull(l);
      return l;
    }
  } else {
    root.right = insert(root.right, e);
    if (root.right.priority > root.priority) {
      const r = root.right;
      root.right = r.left;
      pull(root);
      r.left = root;
      pull(r);
      return r;
    }
  }
  pull(root);
  return root;
}

function merge(a: Entry | null, b: Entry | null): Entry | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.priority > b.priority) {
    a.right = merge(a.right, b);
    pull(a);
    return a;
  }
  b.left = merge(a, b.left);
  pull(b);
  return b;
}

function remove(root: Entry | null, e: Entry): Entry | null {
  if (root === null) return null;
  if (root === e) {
    const rest = merge(e.left, e.right);
    e.left = null;
    e.right = null;
    return rest;
  }
  if (keyBefore(e, root)) root.left = remove(root.left, e);
  else root.right = remove(root.right, e);
  pull(root);
  return root;
}

/** A fixed pseudo-random priority per ordinal (splitmix32): balances the treap, decides nothing. */
function priorityOf(ordinal: number): number {
  let z = (Math.imul(ordinal + 1, 0x9e3779b9) >>> 0) ^ 0x5bd1e995;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Where a strategy reads the candidates of one placement (see {@link AllocationIndex.poolFor}). */
export interface IndexPool extends CandidatePool {
  /** How many agents can take the task now. */
  readonly count: number;
  /** True when an agent that is up or will come back is eligible, free slot or not. */
  readonly runnable: boolean;
}

/** The agents of a Supervisor, indexed for placement. */
export class AllocationIndex {
  readonly #entries = new Map<AgentView, Entry>();
  readonly #byId = new Map<string, Entry>();
  /** Groups by signature (capabilities and concurrency). */
  readonly #groups = new Map<string, Group>();
  /** Bumped when a group is created: cached eligibilities are recomputed. */
  #groupsVersion = 0;
  readonly #eligibility = new Map<string, Eligibility>();
  /** The last requirement set asked about, by identity (tasks of one kind often share it). */
  #lastRequires: Capabilities | undefined;
  #last: Eligibility | undefined;
  /** Ordinals of every agent that can take work now; `#byOrdinal` maps them back. */
  readonly #candidates = new OrdinalSet();
  readonly #byOrdinal: (Entry | undefined)[] = [];
  /** Seeded draws for the tie keys of joining agents. */
  readonly #tie: Random;
  /** Moves so far: an agent that moves takes key `-moves` (joining agents take keys in (-1, 0]). */
  #moves = 0;
  #stamp = 0;
  readonly #pool: Pool;

  /** @param tie the seeded stream joining agents' tie keys are drawn from */
  constructor(tie: Random) {
    this.#tie = tie;
    this.#pool = new Pool(this);
  }

  /** Adds an agent (ordinals must grow in the order agents are added). */
  add(view: AgentView, returnable: boolean): void {
    const key = `${view.concurrency}|${signatureOf(view.capabilities)}`;
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = {
        capabilities: view.capabilities,
        concurrency: view.concurrency,
        members: [],
        ordinals: [],
        candidates: new OrdinalSet(),
        buckets: [],
        occupied: new OrdinalSet(view.concurrency + 1),
        returnable: 0,
        stamp: 0,
        fit: 0,
      };
      this.#groups.set(key, group);
      this.#groupsVersion++;
    }
    const entry: Entry = {
      view,
      group,
      local: group.members.length,
      free: 0,
      successRate: view.health.successRate,
      latencyMs: view.health.latencyMs,
      tieKey: view.tieKey,
      ordinal: view.ordinal,
      returnable: false,
      joined: true,
      left: null,
      right: null,
      priority: priorityOf(view.ordinal),
      maxSuccess: 0,
      minLatency: 0,
      best: undefined as unknown as Entry,
      bound: 0,
    };
    entry.best = entry;
    view.tieKey = -this.#tie.next();
    group.members.push(entry);
    group.ordinals.push(view.ordinal);
    this.#entries.set(view, entry);
    this.#byId.set(view.id, entry);
    this.#byOrdinal[view.ordinal] = entry;
    this.update(view, returnable);
  }

  /** Takes an agent out for good. */
  remove(view: AgentView): void {
    const entry = this.#entries.get(view);
    if (entry === undefined) return;
    this.#place(entry, 0);
    const group = entry.group;
    if (entry.returnable) group.returnable--;
    group.members[entry.local] = undefined;
    this.#entries.delete(view);
    this.#byId.delete(view.id);
    this.#byOrdinal[view.ordinal] = undefined;
  }

  /**
   * Re-files an agent after its slots, availability, breaker, success rate or status changed.
   * @param returnable up, restarting, or failed by an escalation it will come back from
   */
  update(view: AgentView, returnable: boolean): void {
    const entry = this.#entries.get(view);
    if (entry === undefined) return;
    if (entry.returnable !== returnable) {
      entry.returnable = returnable;
      entry.group.returnable += returnable ? 1 : -1;
    }
    const free = view.available && view.busy < view.concurrency && breakerAllows(view) ? view.concurrency - view.busy : 0;
    if (free === entry.free && (free === 0 || (entry.successRate === view.health.successRate && entry.latencyMs === view.health.latencyMs))) return;
    this.#place(entry, free);
  }

  /** Moves `entry` to bucket `free` (0: out of every bucket), behind the others in tie order. */
  #place(entry: Entry, free: number): void {
    const group = entry.group;
    const view = entry.view;
    if (entry.free > 0) {
      const root = remove(group.buckets[entry.free]!, entry);
      group.buckets[entry.free] = root;
      if (root === null) group.occupied.delete(entry.free);
    }
    entry.free = free;
    entry.successRate = view.health.successRate;
    entry.latencyMs = view.health.latencyMs;
    if (free === 0) {
      group.candidates.delete(entry.local);
      this.#candidates.delete(view.ordinal);
      return;
    }
    // A newcomer keeps its seeded key; one that moves goes last among its equals.
    if (entry.joined) entry.joined = false;
    else view.tieKey = -++this.#moves;
    entry.tieKey = view.tieKey;
    pull(entry);
    group.buckets[free] = insert(group.buckets[free] ?? null, entry);
    group.occupied.add(free);
    group.candidates.add(entry.local);
    this.#candidates.add(view.ordinal);
  }

  /** The agents that can take work now, in declaration order (each is visited once; the set may change behind the cursor). */
  nextCandidate(afterOrdinal: number): AgentView | undefined {
    const o = this.#candidates.next(afterOrdinal + 1);
    return o < 0 ? undefined : this.#byOrdinal[o]!.view;
  }

  /**
   * The first agent declared after `afterOrdinal` that can take work now and is eligible for one
   * of `requirements` — the agents a fill can place on, skipping those no waiting task suits.
   */
  nextCandidateFor(afterOrdinal: number, requirements: Iterable<Capabilities>): AgentView | undefined {
    const stamp = ++this.#stamp;
    let best: Entry | undefined;
    for (const requires of requirements) {
      for (const g of this.#eligible(requires).groups) {
        if (g.stamp === stamp || g.candidates.size === 0) continue;
        g.stamp = stamp;
        const at = g.candidates.next(upperBound(g.ordinals, afterOrdinal));
        if (at < 0) continue;
        const e = g.members[at]!;
        if (best === undefined || e.view.ordinal < best.view.ordinal) best = e;
      }
    }
    return best?.view;
  }

  /** True when some agent eligible for `requires` is up or will come back. */
  runnable(requires: Capabilities): boolean {
    for (const g of this.#eligible(requires).groups) if (g.returnable > 0) return true;
    return false;
  }

  /** The candidates of a task requiring `requires`, for one placement (the pool is reused by the next one). */
  poolFor(requires: Capabilities): IndexPool {
    const e = this.#eligible(requires);
    const stamp = ++this.#stamp;
    for (let i = 0; i < e.groups.length; i++) {
      const g = e.groups[i]!;
      g.stamp = stamp;
      g.fit = e.fits[i]!;
    }
    this.#pool.position(e.groups, stamp);
    return this.#pool;
  }

  /** The entry of an agent by id, if it is indexed. */
  entryOf(id: string): { view: AgentView; free: number; stamp: number; fit: number } | undefined {
    const e = this.#byId.get(id);
    return e === undefined ? undefined : { view: e.view, free: e.free, stamp: e.group.stamp, fit: e.group.fit };
  }

  /** Fills `out` with the candidates of the groups stamped `stamp`, in declaration order. */
  gather(stamp: number, out: Candidates): Candidates {
    let n = 0;
    for (let o = this.#candidates.next(0); o >= 0; o = this.#candidates.next(o + 1)) {
      const e = this.#byOrdinal[o]!;
      if (e.group.stamp !== stamp) continue;
      out.agents[n] = e.view;
      out.fits[n] = e.group.fit;
      n++;
    }
    out.length = n;
    return out;
  }

  #eligible(requires: Capabilities): Eligibility {
    if (requires === this.#lastRequires && this.#last!.version === this.#groupsVersion) return this.#last!;
    const key = signatureOf(requires);
    let e = this.#eligibility.get(key);
    if (e === undefined || e.version !== this.#groupsVersion) {
      const names = requiredNames(requires);
      e = { groups: [], fits: [], version: this.#groupsVersion };
      for (const g of this.#groups.values()) {
        if (!isEligible(g.capabilities, requires)) continue;
        e.groups.push(g);
        e.fits.push(fitOf(g.capabilities, names));
      }
      this.#eligibility.set(key, e);
    }
    this.#lastRequires = requires;
    this.#last = e;
    return e;
  }
}

/** The {@link IndexPool} of one placement: the eligible groups, stamped. */
class Pool implements IndexPool {
  readonly #index: AllocationIndex;
  #groups: Group[] = [];
  #stamp = 0;
  /**
   * Subtrees still to look at, best first: a heap by the most anyone in them can score (`bound`),
   * then by the first of them in tie order. Across every bucket of every eligible group.
   */
  readonly #frontier: Entry[] = [];
  readonly #all = new Candidates();

  constructor(index: AllocationIndex) {
    this.#index = index;
  }

  position(groups: Group[], stamp: number): void {
    this.#groups = groups;
    this.#stamp = stamp;
  }

  get count(): number {
    let n = 0;
    for (const g of this.#groups) n += g.candidates.size;
    return n;
  }

  get runnable(): boolean {
    for (const g of this.#groups) if (g.returnable > 0) return true;
    return false;
  }

  topScored(avoid: string | undefined, meanLatencyMs: number, out: Top2): void {
    out.reset();
    const frontier = this.#frontier;
    frontier.length = 0;
    for (const g of this.#groups) {
      if (g.candidates.size === 0) continue;
      for (let f = g.occupied.prev(g.concurrency); f > 0; f = g.occupied.prev(f - 1)) {
        const root = g.buckets[f]!;
        root.bound = scoreBound(g.fit, f / g.concurrency, healthOf(root.maxSuccess, root.minLatency, meanLatencyMs));
        push(frontier, root);
      }
    }
    while (frontier.length > 0) {
      const t = pop(frontier);
      // Nobody left can reach the top two: every subtree still queued scores no more, or as much but later in tie order.
      if (!out.beatsSecond(0, t.bound, t.best.view)) break;
      const v = t.view;
      const g = t.group;
      out.offer(v, g.fit, 0, scoreOf(v, g.fit, avoid, meanLatencyMs));
      const load = t.free / g.concurrency;
      for (const child of [t.left, t.right]) {
        if (child === null) continue;
        child.bound = scoreBound(g.fit, load, healthOf(child.maxSuccess, child.minLatency, meanLatencyMs));
        push(frontier, child);
      }
    }
  }

  topLeastLoaded(avoid: string | undefined, out: Top2): void {
    out.reset();
    const avoided = avoid === undefined ? undefined : this.#index.entryOf(avoid);
    if (avoided !== undefined && avoided.free > 0 && avoided.stamp === this.#stamp) {
      const v = avoided.view;
      out.offer(v, avoided.fit, 0, (v.concurrency - v.busy) / v.concurrency);
    }
    const frontier = this.#frontier;
    frontier.length = 0;
    for (const g of this.#groups) {
      if (g.candidates.size === 0) continue;
      for (let f = g.occupied.prev(g.concurrency); f > 0; f = g.occupied.prev(f - 1)) {
        const root = g.buckets[f]!;
        root.bound = f / g.concurrency;
        push(frontier, root);
      }
    }
    while (frontier.length > 0) {
      const t = pop(frontier);
      if (!out.beatsSecond(1, t.bound, t.best.view)) break;
      // The agent to avoid was offered above, ranked last; those under it may still count.
      if (t.view.id !== avoid) out.offer(t.view, t.group.fit, 1, t.bound);
      for (const child of [t.left, t.right]) {
        if (child === null) continue;
        child.bound = t.bound;
        push(frontier, child);
      }
    }
  }

  nextInTurn(ordinal: number): AgentView | undefined {
    let best: Entry | undefined;
    let first: Entry | undefined;
    for (const g of this.#groups) {
      if (g.candidates.size === 0) continue;
      // The first candidate of the group declared after `ordinal`, and its first candidate overall.
      const at = g.candidates.next(upperBound(g.ordinals, ordinal));
      if (at >= 0) {
        const e = g.members[at]!;
        if (best === undefined || e.view.ordinal < best.view.ordinal) best = e;
      }
      const head = g.members[g.candidates.next(0)]!;
      if (first === undefined || head.view.ordinal < first.view.ordinal) first = head;
    }
    return (best ?? first)?.view;
  }

  fitOf(view: AgentView): number {
    return this.#index.entryOf(view.id)?.fit ?? 0;
  }

  all(): Candidates {
    return this.#index.gather(this.#stamp, this.#all);
  }
}

/** Frontier order: the larger bound first, then the subtree whose best comes first in tie order. */
function ahead(a: Entry, b: Entry): boolean {
  return a.bound > b.bound || (a.bound === b.bound && entryBefore(a.best, b.best));
}

function push(heap: Entry[], e: Entry): void {
  let i = heap.length;
  heap.push(e);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent]!;
    if (!ahead(e, p)) break;
    heap[i] = p;
    i = parent;
  }
  heap[i] = e;
}

function pop(heap: Entry[]): Entry {
  const top = heap[0]!;
  const last = heap.pop()!;
  const n = heap.length;
  if (n === 0) return top;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    let c = l;
    if (l + 1 < n && ahead(heap[l + 1]!, heap[l]!)) c = l + 1;
    if (!ahead(heap[c]!, last)) break;
    heap[i] = heap[c]!;
    i = c;
  }
  heap[i] = last;
  return top;
}

/** Position of the first element of the ascending `a` greater than `x`. */
function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
