/**
 * A one-line progress bar on stderr, drawn only when stderr is a TTY and `enabled` is true.
 *
 * @module
 */

/** A progress bar; `update` redraws at most every 100 ms. */
export interface Progress {
  update(done: number): void;
  finish(): void;
}

/** Creates a progress bar of `total` steps labelled `label`. */
export function createProgress(label: string, total: number, enabled: boolean): Progress {
  const stream = process.stderr;
  if (!enabled || !stream.isTTY || total <= 0) return { update() {}, finish() {} };
  let last = 0;
  const draw = (done: number): void => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    stream.write(`\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}`);
  };
  return {
    update(done) {
      const now = performance.now();
      if (now - last < 100 && done < total) return;
      last = now;
      draw(done);
    },
    finish() {
      draw(total);
      stream.write("\n");
    },
  };
}
