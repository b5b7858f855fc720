/**
 * Redis connections of the coordinator and the nodes (ioredis, as BullMQ wants them: commands
 * wait out a reconnection instead of failing), and the one check of the server's settings.
 *
 * @module
 */
import { Redis } from "ioredis";

/** A connection to `url` whose commands wait while it reconnects (BullMQ's requirement). */
export function connect(url: string, name: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: null, connectionName: name, lazyConnect: false });
  // Reconnection is ioredis's job; an unhandled 'error' event would end the process.
  client.on("error", () => {});
  return client;
}

/** BullMQ's connection options for `url`: each BullMQ object makes (and closes) its own. */
export function bullConnection(url: string): { url: string; maxRetriesPerRequest: null } {
  return { url, maxRetriesPerRequest: null };
}

/**
 * The server's `maxmemory-policy` (from `INFO memory`), or undefined when the server does not
 * say. Anything but `noeviction` lets Redis drop queued jobs under memory pressure.
 */
export async function evictionPolicy(client: Redis): Promise<string | undefined> {
  const info = await client.info("memory");
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
}

/** Resolves once `client` answers, or rejects after `timeoutMs` (or when `signal` aborts). */
export async function reachable(client: Redis, url: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      client.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis at ${url} did not answer within ${timeoutMs} ms`)), timeoutMs);
        onAbort = () => reject(signal?.reason ?? new Error("aborted"));
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
}

/** Resolves after `ms` (the timer does not hold the process open). */
function after(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

/**
 * Resolves with `work`'s outcome, or with `fallback` once `ms` have passed: a Redis command waits
 * out a reconnection forever (BullMQ's setting), which a stopping process must not.
 */
export function within<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  return Promise.race([work, after(ms).then(() => fallback)]);
}

/**
 * Closes a BullMQ worker: cleanly (its running jobs finish, its connections quit) within `graceMs`
 * while Redis answers; at once, dropping its connections, when it does not (a clean close would
 * wait for Redis forever, and BullMQ's stalled-job timer with it, holding the process open). A job
 * still running is left to its lock, which lapses: it runs again elsewhere.
 */
export async function closeWorker(worker: { close(force?: boolean): Promise<void>; disconnect(): Promise<void> }, graceMs: number, redisUp: boolean): Promise<void> {
  const closed = await within(worker.close(!redisUp).then(() => true, () => true), redisUp ? graceMs : 1_000, false);
  if (!closed) await within(worker.disconnect().catch(() => {}), 1_000, undefined);
}
