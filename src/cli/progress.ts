/**
 * Progress on stderr for work that takes more than a moment: on a TTY a one-line bar, redrawn in
 * place once the work has run for over a second; anywhere else (a pipe, a CI log) a plain line
 * every few seconds, so a long run is never silent. Both show the share done, an estimate of the
 * time left and a detail the caller supplies (e.g. a rate); quick runs print nothing. Progress
 * never touches stdout, so it runs with `--json` too.
 *
 * @module
 */

/** A progress bar; `update` redraws at most every 100 ms (a plain line at most every `plainEveryMs`). */
export interface Progress {
  /** Reports `done` of the total steps; `detail` is printed after the bar (e.g. "1,850 tasks/s"). */
  update(done: number, detail?: string): void;
  /** Draws the bar full and ends its line, if it was ever drawn. */
  finish(): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Where to draw. @default process.stderr */
  stream?: { isTTY?: boolean | undefined; write(text: string): unknown };
  /** Nothing is drawn until this much time has passed, ms. @default 1000 */
  delayMs?: number;
  /** Off a TTY: a plain line once the work has run this long, and then at most this often, ms. @default 5000 */
  plainEveryMs?: number;
  /** The clock, ms. @default performance.now */
  now?: () => number;
}

const NONE: Progress = { update() {}, finish() {} };

/** Creates a progress bar of `total` steps labelled `label`. */
export function createProgress(label: string, total: number, enabled: boolean, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (!enabled || !(total > 0)) return NONE;
  const now = options.now ?? (() => performance.now());
  if (stream.isTTY !== true) return plainLines(label, total, stream, now, options.plainEveryMs ?? 5_000);
  const delayMs = options.delayMs ?? 1_000;
  const start = now();
  let last = -Infinity;
  let drawn = false;
  let latest = 0;
  let latestDetail: string | undefined;
  const draw = (done: number, detail: string | undefined, at: number): void => {
    const width = 30;
    const share = Math.min(1, Math.max(0, done / total));
    const filled = Math.round(share * width);
    const eta = timeLeft(share, at - start);
    const extra = detail === undefined ? "" : `  ${detail}`;
    // \x1b[K clears what a longer previous line left behind.
    stream.write(`\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.floor(share * 100)}%${extra}${eta}\x1b[K`);
    drawn = true;
  };
  return {
    update(done, detail) {
      latest = done;
      latestDetail = detail;
      const at = now();
      if (at - start < delayMs) return;
      if (at - last < 100 && done < total) return;
      last = at;
      draw(done, detail, at);
    },
    finish() {
      if (!drawn) return;
      draw(Math.max(latest, total), latestDetail, now());
      stream.write("\n");
    },
  };
}

/**
 * Progress as plain lines, for a stream that is not a terminal: `label 42% (420/1000)  detail
 * ETA 1m20s` once `everyMs` has passed and then at most every `everyMs`, and a closing line.
 */
function plainLines(label: string, total: number, stream: { write(text: string): unknown }, now: () => number, everyMs: number): Progress {
  const start = now();
  let last = start;
  let written = false;
  let latest = 0;
  return {
    update(done, detail) {
      latest = done;
      const at = now();
      if (at - last < everyMs) return;
      last = at;
      written = true;
      const share = Math.min(1, Math.max(0, done / total));
      const extra = detail === undefined ? "" : `  ${detail}`;
      stream.write(`${label} ${Math.floor(share * 100)}% (${Math.min(done, total)}/${total})${extra}${timeLeft(share, at - start)}\n`);
    },
    finish() {
      if (!written) return;
      stream.write(`${label} 100% (${Math.max(latest, total)}/${total}) in ${formatSeconds(now() - start)}\n`);
    },
  };
}

function timeLeft(share: number, elapsedMs: number): string {
  return share > 0 && share < 1 ? `  ETA ${formatSeconds((elapsedMs * (1 - share)) / share)}` : "";
}

function formatSeconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1_000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}
