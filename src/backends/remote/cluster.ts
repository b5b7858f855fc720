/**
 * The coordinator's view of its worker nodes: who is up, by their leases. Every `checkMs` (and at
 * once when a node announces itself) it reads the node hash and the leases: a node whose lease
 * holds its incarnation is up; a new incarnation joins (after its predecessor is given up); a
 * node that says it is leaving leaves; a node whose lease lapsed is dead. It opens and closes
 * each incarnation's BullMQ queue and event stream, and cleans up after a dead one: it runs the
 * stalled-job check on its queue (no other worker will: its only consumer died) so that what the
 * dead node held fails there and no zombie can complete it, then deletes the queue.
 *
 * @module
 */
import { Queue, QueueEvents, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { type Announcement, type ClusterKeys, lockDurationMs, type NodeDescription } from "./protocol.ts";
import { bullConnection } from "./redis.ts";

/** One incarnation of a node, as the coordinator holds it. */
export interface NodeLink {
  readonly id: string;
  readonly incarnation: string;
  readonly description: NodeDescription;
  /** `up`; `leaving` once it said so (its agents are being removed); `gone` once dead or left. */
  state: "up" | "leaving" | "gone";
  /** True once the coordinator told a leaving node it may go. */
  released: boolean;
  readonly queue: Queue;
  /** Its event stream (outcomes, progress), read from where {@link ClusterHandlers.prepare} said. */
  events: QueueEvents;
}

/** What the cluster tells its owner (the remote backend). Called in order per node. */
export interface ClusterHandlers {
  /** Before a node incarnation joins (its queue is open): resolves to the event id to read its stream from. */
  prepare(link: Omit<NodeLink, "events">): Promise<string>;
  /** A node incarnation is up (its queue and event stream are open). */
  joined(link: NodeLink): void;
  /** A node said it is leaving; resolve once its agents are gone (it is then released). */
  leaving(link: NodeLink): Promise<void>;
  /** A node incarnation is gone: `dead` when its lease lapsed (or a new incarnation replaced it) before it was released. */
  gone(link: NodeLink, dead: boolean, reason: string): void;
}

/** Options of a {@link Cluster}. */
export interface ClusterOptions {
  redisUrl: string;
  prefix: string;
  checkMs: number;
}

/** Lua: deletes a node's description when it is still that incarnation's. */
const FORGET = `local d = redis.call('HGET', KEYS[1], ARGV[1])
if d and string.find(d, ARGV[2], 1, true) then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1`;

/** Watches the nodes of one cluster. */
export class Cluster {
  readonly #options: ClusterOptions;
  readonly #keys: ClusterKeys;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #handlers: ClusterHandlers;
  /** Current incarnation of each node id that is up or leaving. */
  readonly #links = new Map<string, NodeLink>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The check running now, if any; another is wanted when `#again` is set. */
  #checking: Promise<void> | undefined;
  #again = false;
  #closed = false;
  /** Clean-ups of dead queues still running. */
  readonly #cleanups = new Set<Promise<void>>();
  /** Waiters for the number of nodes up. */
  #waiters: { count: number; resolve: () => void }[] = [];
  /** Incarnations given up (`id:incarnation`): one seen alive again is told to join anew. */
  readonly #dead = new Set<string>();
  /** Incarnations found dead whose queues were cleaned up. */
  readonly #buried = new Set<string>();
  /**
   * Until when a lapsed lease is not taken for death: after Redis was unreachable (or restarted
   * and lost the leases' last renewals), nodes get a lease's time to renew theirs.
   */
  #graceUntil = 0;

  constructor(options: ClusterOptions, keys: ClusterKeys, redis: Redis, subscriber: Redis, handlers: ClusterHandlers) {
    this.#options = options;
    this.#keys = keys;
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#handlers = handlers;
  }

  /** Nodes up or leaving now. */
  get links(): ReadonlyMap<string, NodeLink> {
    return this.#links;
  }

  /** Listens for announcements and looks at the nodes now and every `checkMs`. */
  async start(): Promise<void> {
    this.#redis.on("close", () => (this.#graceUntil = Infinity));
    this.#redis.on("ready", () => {
      if (this.#graceUntil === Infinity) this.#graceUntil = Date.now() + this.#longestLease() + this.#options.checkMs;
    });
    this.#subscriber.on("message", (channel: string, message: string) => {
      if (channel !== this.#keys.announce) return;
      try {
        const a = JSON.parse(message) as Announcement;
        if (typeof a.nodeId === "string") this.check();
      } catch {
        // Not ours.
      }
    });
    await this.#subscriber.subscribe(this.#keys.announce);
    await this.check();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.check().finally(() => this.#schedule());
    }, this.#options.checkMs);
  }

  /** Resolves once `count` nodes are up, or rejects after `timeoutMs` / when `signal` aborts. */
  waitForNodes(count: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#upCount() >= count) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const give = (error: unknown): void => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(error);
      };
      const timer = setTimeout(() => give(new Error(`${this.#upCount()} of ${count} worker node(s) joined within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => {
        clearTimeout(timer);
        give(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #longestLease(): number {
    let ms = 5_000;
    for (const l of this.#links.values()) ms = Math.max(ms, l.description.leaseMs);
    return ms;
  }

  #upCount(): number {
    let n = 0;
    for (const l of this.#links.values()) if (l.state === "up") n++;
    return n;
  }

  /** Looks at the nodes now (or right after the look in progress). */
  check(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#checking !== undefined) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      try {
        do {
          this.#again = false;
          await this.#look();
        } while (this.#again && !this.#closed);
      } catch {
        // Redis unreachable: leases cannot be read, so nobody is declared dead; look again later.
      } finally {
        this.#checking = undefined;
      }
    })();
    return this.#checking;
  }

  async #look(): Promise<void> {
    const raw = await this.#redis.hgetall(this.#keys.nodes);
    const descriptions = new Map<string, NodeDescription>();
    for (const [id, json] of Object.entries(raw)) {
      try {
        descriptions.set(id, JSON.parse(json) as NodeDescription);
      } catch {
        // A malformed entry is nobody's.
      }
    }
    const ids = [...new Set([...descriptions.keys(), ...this.#links.keys()])];
    if (ids.length === 0) return;
    const leases = await this.#redis.mget(...ids.map((id) => this.#keys.lease(id)));
    if (this.#closed) return;
    const grace = Date.now() < this.#graceUntil;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const lease = leases[i] ?? null;
      const d = descriptions.get(id);
      const link = this.#links.get(id);
      if (link !== undefined && lease !== link.incarnation && !(lease === null && grace)) {
        this.#drop(link, !link.released, lease === null ? `node ${id} lost its lease (no heartbeat for ${link.description.leaseMs} ms)` : `node ${id} came back as a new incarnation`);
      }
      if (d === undefined) continue;
      const key = `${id}:${d.incarnation}`;
      if (lease === null || d.incarnation !== lease) {
        // Found dead (no coordinator saw it die): clean up after it once.
        if (lease === null && !grace && this.#links.get(id) === undefined && !this.#buried.has(key)) this.#bury(d);
        continue;
      }
      if (this.#dead.has(key)) {
        // Given up, yet renewing its lease (it was unreachable a while): it must join anew.
        await this.#redis.publish(this.#keys.control(id, d.incarnation), JSON.stringify({ op: "rejoin" }));
        continue;
      }
      const current = this.#links.get(id);
      if (current === undefined) await this.#join(d);
      else if (d.state === "leaving" && current.state === "up") this.#leave(current);
    }
    for (const w of [...this.#waiters]) {
      if (this.#upCount() >= w.count) {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        w.resolve();
      }
    }
  }

  async #join(d: NodeDescription): Promise<void> {
    const name = this.#keys.queue(d.id, d.incarnation);
    const connection = bullConnection(this.#options.redisUrl);
    const queue = new Queue(name, { connection, prefix: this.#options.prefix });
    queue.on("error", () => {});
    const base = { id: d.id, incarnation: d.incarnation, description: d, state: d.state === "leaving" ? "leaving" as const : "up" as const, released: false, queue };
    // The owner reads what an earlier coordinator left in the stream; live reading goes on from there.
    const lastEventId = await this.#handlers.prepare(base).catch(() => "0");
    const events = new QueueEvents(name, { connection, prefix: this.#options.prefix, lastEventId });
    events.on("error", () => {});
    const link: NodeLink = { ...base, events };
    this.#links.set(d.id, link);
    this.#handlers.joined(link);
    if (link.state === "leaving") this.#leave(link);
  }

  /** Cleans up after an incarnation found dead: its queue, then its entry in the node hash. */
  #bury(d: NodeDescription): void {
    const key = `${d.id}:${d.incarnation}`;
    this.#buried.add(key);
    const queue = new Queue(this.#keys.queue(d.id, d.incarnation), { connection: bullConnection(this.#options.redisUrl), prefix: this.#options.prefix });
    queue.on("error", () => {});
    const cleanup = this.#cleanUpQueue(queue, d.leaseMs, true)
      .then(() => this.#redis.eval(FORGET, 1, this.#keys.nodes, d.id, `"incarnation":"${d.incarnation}"`))
      .then(() => {}, () => {})
      .finally(() => this.#cleanups.delete(cleanup));
    this.#cleanups.add(cleanup);
  }

  #leave(link: NodeLink): void {
    link.state = "leaving";
    void this.#handlers.leaving(link).then(async () => {
      if (link.state === "gone") return;
      link.released = true;
      await this.#redis.publish(this.#keys.control(link.id, link.incarnation), JSON.stringify({ op: "release" })).catch(() => {});
    });
  }

  /** Gives an incarnation up: tells the owner, then closes (and, when it died, cleans up) its queue. */
  #drop(link: NodeLink, dead: boolean, reason: string): void {
    this.#links.delete(link.id);
    link.state = "gone";
    if (dead) this.#dead.add(`${link.id}:${link.incarnation}`);
    this.#handlers.gone(link, dead, reason);
    const cleanup = this.#cleanUp(link, dead).finally(() => this.#cleanups.delete(cleanup));
    this.#cleanups.add(cleanup);
  }

  /**
   * After a node died: the stalled-job check on its queue, with no stalls allowed — once the dead
   * node's locks have expired its jobs leave the active list, marked failed (BullMQ fails them
   * when taken), and a zombie's late completion is refused by BullMQ's lock check — then the
   * queue is deleted. After a clean leave the queue is empty and is deleted at once.
   */
  async #cleanUp(link: NodeLink, dead: boolean): Promise<void> {
    // Closing the event reader may wait out its blocking read: do not hold the clean-up for it.
    await Promise.all([link.events.close().catch(() => {}), this.#cleanUpQueue(link.queue, link.description.leaseMs, dead)]);
  }

  async #cleanUpQueue(queue: Queue, leaseMs: number, dead: boolean): Promise<void> {
    if (dead) {
      const lockMs = lockDurationMs(leaseMs);
      const intervalMs = Math.max(250, Math.floor(lockMs / 4));
      const checker = new Worker(queue.name, null, {
        connection: bullConnection(this.#options.redisUrl),
        prefix: this.#options.prefix,
        autorun: false,
        maxStalledCount: 0,
        stalledInterval: intervalMs,
        lockDuration: lockMs,
      });
      checker.on("error", () => {});
      try {
        // The dead node's last check left a key that holds other checkers off for its own interval.
        await this.#redis.del(queue.keys["stalled-check"]!);
        await checker.startStalledCheckTimer();
        const until = Date.now() + lockMs + intervalMs * 4;
        while (!this.#closed && Date.now() < until && (await queue.getActiveCount()) > 0) await sleep(Math.max(100, lockMs / 20));
      } catch {
        // Redis trouble: the deletion below still fences the queue.
      } finally {
        await checker.close(true).catch(() => {});
      }
    }
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close().catch(() => {});
  }

  /** Stops watching; closes every queue and event stream (the nodes keep running). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#checking?.catch(() => {});
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
    await Promise.allSettled([...this.#links.values()].flatMap((l) => [l.events.close(), l.queue.close()]));
    this.#links.clear();
    await Promise.allSettled([...this.#cleanups]);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
