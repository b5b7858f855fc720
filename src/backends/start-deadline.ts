/**
 * The deadline of a thread backend's `start()`. Not `AbortSignal.timeout`: on Deno a timeout
 * signal that anyone listens to keeps the process alive until it fires, so a hive stopped soon
 * after it started would hold its process open for the rest of `startTimeoutMs` (30 s by default).
 * This one's timer is cleared the moment the start is over.
 *
 * @module
 */

/** A signal that aborts after `ms` or when `signal` does, until disposed. */
export interface StartDeadline extends Disposable {
  readonly signal: AbortSignal;
  /** True once the deadline itself (not the caller's signal) fired. */
  readonly expired: boolean;
}

/**
 * Starts a deadline of `ms` milliseconds, also aborted by the caller's `signal`. Dispose of it
 * when the start is over: that clears its timer and stops listening to `signal`.
 */
export function startDeadline(ms: number, signal?: AbortSignal): StartDeadline {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException(`no answer within ${ms} ms`, "TimeoutError"));
  }, ms);
  const follow = (): void => controller.abort(signal?.reason);
  if (signal?.aborted) follow();
  else signal?.addEventListener("abort", follow, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    [Symbol.dispose]() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", follow);
    },
  };
}
