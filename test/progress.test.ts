// CLI progress: silent for quick runs; a bar on a TTY, plain lines every 5 s elsewhere; share done, detail and ETA.
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

  it("stays silent when disabled", () => {
    for (const stream of [terminal(false), terminal(true)]) {
      let now = 0;
      const bar = createProgress("load", 10, false, { stream, now: () => now });
      now = 5_000;
      bar.update(5);
      bar.finish();
      expect(stream.text).toEqual([]);
    }
  });

  it("off a terminal writes a plain line every 5 s, never a bar, and a closing line", () => {
    const stream = terminal(false);
    let now = 0;
    const progress = createProgress("simulating (s)", 1_000, true, { stream, now: () => now });
    now = 4_000;
    progress.update(100);
    expect(stream.text).toEqual([]); // a run shorter than 5 s prints nothing
    now = 5_000;
    progress.update(250, "3,100 tasks/s");
    now = 7_000;
    progress.update(300);
    now = 10_000;
    progress.update(500);
    progress.finish();
    // 25% in 5 s: 15 s to go; 50% in 10 s: 10 s to go.
    expect(stream.text).toEqual([
      "simulating (s) 25% (250/1000)  3,100 tasks/s  ETA 15s\n",
      "simulating (s) 50% (500/1000)  ETA 10s\n",
      "simulating (s) 100% (1000/1000) in 10s\n",
    ]);
  });

  it("off a terminal prints nothing for work that ends within 5 s", () => {
    const stream = terminal(false);
    let now = 0;
    const progress = createProgress("sweep", 10, true, { stream, now: () => now });
    now = 4_999;
    progress.update(10);
    progress.finish();
    expect(stream.text).toEqual([]);
  });
});
