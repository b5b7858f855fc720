/**
 * A Web Worker that exits (`Deno.exit`, `process.exit`, `self.close()`) fires no event on the
 * main thread: its batch would wait for the timeout and its slot stay taken. So the worker
 * module wraps those calls to post this notice first, and the comlink backend treats it as the
 * thread's death. (`node:worker_threads` needs none: it has an `exit` event.)
 *
 * @module
 */

/** The message a Web Worker posts just before it exits. */
export interface ExitNotice {
  apiaryWorkerExit: { code: number | "close" };
}

/** The exit code a message announces, or undefined if it is not an {@link ExitNotice}. */
export function exitNoticeCode(data: unknown): number | "close" | undefined {
  return typeof data === "object" && data !== null && "apiaryWorkerExit" in data ? (data as ExitNotice).apiaryWorkerExit.code : undefined;
}

/** Wraps this Web Worker's exits so that each posts an {@link ExitNotice} before it happens. */
export function announceExits(post: (notice: ExitNotice) => void): void {
  const scope = globalThis as { Deno?: { exit(code?: number): never }; close?: () => void };
  const deno = scope.Deno;
  if (deno !== undefined) {
    // On Deno 2, process.exit ends in Deno.exit too.
    const exit = deno.exit.bind(deno);
    deno.exit = (code?: number): never => {
      post({ apiaryWorkerExit: { code: code ?? 0 } });
      return exit(code);
    };
  }
  const close = scope.close;
  if (typeof close === "function") {
    scope.close = () => {
      post({ apiaryWorkerExit: { code: "close" } });
      close.call(globalThis);
    };
  }
}
