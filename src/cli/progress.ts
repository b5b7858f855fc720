/**
 * A one-line progress bar on stderr, drawn only when stderr is a TTY, `enabled` is true and the
 * work has run for over a second (quick runs print nothing). It shows the share done, an
 * estimate of the time left, and a detail the caller supplies (e.g. a rate).
 *
 * @module
 */

/** A progress bar; `update` redraws at most every 100 ms. */
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
  /** The clock, ms. @default performance.now */
  now?: () => number;
}

const NONE: Progress = { update() {}, finish() {} };

/** Creates a progress bar of `total` steps labelled `label`. */
export function createProgress(label: string, total: number, enabled: boolean, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (!enabled || stream.isTTY !== true || !(total > 0)) return NONE;
  const now = options.now ?? (() => performance.now());
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
    const elapsed = at - start;
    const eta = share > 0 && share < 1 ? `  ETA ${formatSeconds((elapsed * (1 - share)) / share)}` : "";
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

function formatSeconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1_000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}
