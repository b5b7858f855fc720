/**
 * Lifetime of the long-running commands: a signal that aborts on Ctrl-C (SIGINT), SIGTERM or
 * after `--duration-ms`.
 *
 * @module
 */

/** A signal that aborts on SIGINT/SIGTERM or after `durationMs`; `dispose` removes the handlers. */
export function untilStopped(durationMs: number | undefined): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const timer = durationMs === undefined ? undefined : setTimeout(stop, durationMs);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
