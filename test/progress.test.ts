// The CLI progress bar: silent for quick runs and off a TTY, then share done, detail and ETA.
import { describe, expect, it } from "vitest";
import { createProgress } from "../src/cli/progress.ts";

function terminal(isTTY = true): { isTTY: boolean; text: string[]; write(t: string): void } {
  const text: string[] = [];
  return { isTTY, text, write: (t) => void text.push(t) };
}

describe("createProgress", () => {
  it("draws nothing for work that ends within a second", () => {
    const stream = terminal();
    let now = 0;
    const bar = createProgress("load", 100, true, { stream, now: () => now });
    for (let done = 1; done <= 100; done++) {
      now += 5;
      bar.update(done);
    }
    bar.finish();
    expect(stream.text).toEqual([]);
  });

  it("after a second shows the share done, the caller's detail and the time left, then ends its line", () => {
    const stream = terminal();
    let now = 0;
    const bar = createProgress("load", 100, true, { stream, now: () => now });
    now = 1_500;
    bar.update(25, "10 in flight  250/s");
    expect(stream.text).toHaveLength(1);
    // 25% in 1.5 s: 4.5 s to go.
    expect(stream.text[0]).toBe(`\rload [########----------------------] 25%  10 in flight  250/s  ETA 5s\x1b[K`);
    now = 1_550;
    bar.update(26);
    expect(stream.text).toHaveLength(1); // at most one redraw per 100 ms
    now = 1_700;
    bar.update(50, "half");
    expect(stream.text[1]).toContain("] 50%  half  ETA 2s");
    bar.finish();
    expect(stream.text.at(-2)).toContain(`[${"#".repeat(30)}] 100%  half\x1b[K`);
    expect(stream.text.at(-1)).toBe("\n");
  });

  it("stays silent when disabled (--json) or when the stream is not a terminal", () => {
    for (const [stream, enabled] of [[terminal(false), true], [terminal(true), false]] as const) {
      let now = 0;
      const bar = createProgress("load", 10, enabled, { stream, now: () => now });
      now = 5_000;
      bar.update(5);
      bar.finish();
      expect(stream.text).toEqual([]);
    }
  });
});
