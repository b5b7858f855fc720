/**
 * Piscina's load balancer for a pool that keeps warm spare threads: the pool holds `threads`
 * plus spares, but messages go to at most `threads` threads at a time, so the spares stay idle
 * (no core is oversubscribed) and already started. When a thread dies or is terminated, the next
 * message goes to a spare at once, while Piscina starts the replacement — which becomes a spare
 * when it is ready. A thread still starting is never chosen, even when idle: a message posted to
 * it would wait for its start while a ready thread sits idle (Piscina's own balancer lists
 * starting threads first).
 *
 * @module
 */
import type { Piscina } from "piscina";

/** Piscina's `loadBalancer` option. */
export type PoolBalancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>["loadBalancer"]>;

/** One thread as Piscina shows it to a balancer. */
export type PoolThread = Parameters<PoolBalancer>[1][number];

/** Options of {@link spareKeepingBalancer}. */
export interface SpareBalancerOptions {
  /** Most threads given messages at once (the pool's working threads, without the spares). */
  threads: number;
  /** Most messages on one thread: one running and the rest waiting in the thread. */
  messagesPerThread: number;
  /** Ids of the threads that have started; Piscina's `workerCreate` adds, `workerDestroy` removes. */
  ready: ReadonlySet<number>;
}

/**
 * Picks a ready thread for a message, or null to keep it in Piscina's queue: an idle thread while
 * fewer than `threads` are busy, else a busy one with room for another message.
 */
export function spareKeepingBalancer(options: SpareBalancerOptions): PoolBalancer {
  const { threads, messagesPerThread, ready } = options;
  return (_task, workers) => {
    let busy = 0;
    let idle: PoolThread | null = null;
    let roomy: PoolThread | null = null;
    for (const w of workers) {
      if (w.terminating || w.destroyed || !ready.has(w.id)) continue;
      // Piscina reports a thread with one abortable message (all of ours) as Infinity busy.
      const usage = w.isRunningAbortableTask ? 1 : w.currentUsage;
      if (usage === 0) idle ??= w;
      else {
        busy++;
        if (usage < messagesPerThread && roomy === null) roomy = w;
      }
    }
    return busy < threads && idle !== null ? idle : roomy;
  };
}
