/**
 * Dependency rate limits across worker nodes: one sliding log per limited dependency in Redis (a
 * sorted set of call times), shared by the coordinator's main thread and every node's threads.
 * A call is taken by one Lua script, atomic in Redis: drop the times a window old, count the
 * rest, add this call when fewer than `max` remain — else answer how long until the oldest
 * leaves the window. Times are Redis's own clock (`TIME`), the one clock every machine reads
 * alike, so skew between hosts does not widen a window. A node's threads ask their node's main
 * thread ({@link serveRateRequests}), which asks Redis; a call goes as soon as the answer is
 * back, so the API sees it a Redis round trip (and a thread hop) after it was counted — sooner
 * or later for one call than another. So the log keeps each call a margin longer than the
 * window, and a grant that took longer than the margin to come back is not used
 * (`grantMarginMs`): the calls keep within `max` per `perMs` as the API sees them, for the price
 * of windows 25 ms longer.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { openProgressPort, type ProgressPort, type RateReply, type RateRequest } from "../../../workers/protocol.ts";
import { grantMarginMs, type RateWindows } from "../../../workers/rate-window.ts";
import type { RateStore } from "../types.ts";

/**
 * KEYS[1] the log; ARGV max, the window (perMs and the margin), a member unique to this call. 0
 * when the call is counted, else ms until the oldest call leaves the window (at least 1).
 */
const TAKE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local max = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], per + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = math.ceil(tonumber(oldest[2]) + per - now)
if wait < 1 then wait = 1 end
return wait`;

/** The Redis key of `name`'s log under the cluster's `prefix`. */
export function rateLogKey(prefix: string, name: string): string {
  return `${prefix}:rate:${name}`;
}

type Take = (key: string, max: number, perMs: number, member: string) => Promise<number>;

/** The sliding logs of one cluster, as one process (the coordinator, or a node) takes calls from them. */
export class RedisRateLog implements RateStore {
  readonly #take: Take;
  readonly #prefix: string;
  /** Members of the sorted set are unique per call: this process's mark and a counter. */
  readonly #caller = randomUUID().slice(0, 8);
  #seq = 0;

  constructor(redis: Redis, prefix: string) {
    // defineCommand sends the script by its SHA and loads it again after a server restart.
    const commands = redis as unknown as { apiaryRateTake?: Take };
    if (typeof commands.apiaryRateTake !== "function") redis.defineCommand("apiaryRateTake", { numberOfKeys: 1, lua: TAKE });
    this.#take = commands.apiaryRateTake!.bind(redis);
    this.#prefix = prefix;
  }

  async take(name: string, limit: { max: number; perMs: number }): Promise<number> {
    const windowMs = limit.perMs + grantMarginMs(limit.perMs);
    return Number(await this.#take(rateLogKey(this.#prefix, name), limit.max, windowMs, `${this.#caller}:${this.#seq++}`));
  }
}

/**
 * A worker node's main thread, answering its threads' {@link RateRequest}s on the rate channel:
 * the limit is read from the node's mirror of the coordinator's (`windows`), the call asked of
 * `store`. Returns the function that stops listening.
 */
export function serveRateRequests(channel: string, windows: RateWindows, store: RateStore): () => void {
  const port: ProgressPort = openProgressPort(channel);
  const reply = (message: RateReply): void => port.postMessage(message);
  port.onmessage = (event) => {
    const request = event.data as RateRequest | null;
    if (request === null || typeof request !== "object" || typeof request.id !== "string" || typeof request.slot !== "number" || typeof request.name !== "string") return;
    if ((request as RateReply).waitMs !== undefined || (request as RateReply).error !== undefined) return;
    const limit = windows.limitOf(request.slot);
    if (limit === undefined) return reply({ id: request.id, waitMs: 0 }); // the limit went away (a coordinator without it)
    store.take(request.name, limit).then(
      (waitMs) => reply({ id: request.id, waitMs }),
      (error: unknown) =>
        reply({
          id: request.id,
          error: `Cannot count a call of dependency ${JSON.stringify(request.name)} against its rate limit in Redis: ${error instanceof Error ? error.message : String(error)}`,
        }),
    );
  };
  return () => port.close();
}
