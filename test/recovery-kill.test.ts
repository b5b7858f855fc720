// Crash recovery under kill -9: a hive in a child process (real Piscina worker threads, a file
// journal with durability every-task) is killed with SIGKILL at a dozen points — during submits,
// during runs, during journal writes — and restarted on the same store each time. Every task a
// run reported accepted must reach exactly one terminal state across all runs.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { createRandom } from "../src/core/random.ts";

const child = new URL("./fixtures/journal-child.mjs", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "apiary-kill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Line = { ready?: true; accepted?: string; ended?: string; state?: string; write?: number; recovered?: number; drained?: true; results?: Record<string, string | null> };
type Trigger = { on: "accepted" | "ended" | "write"; after: number };

/** Runs the child until `trigger` (then SIGKILL) or until it exits; returns every line it printed. */
function run(args: string[], trigger?: Trigger): Promise<{ lines: Line[]; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const proc: ChildProcess = spawn(process.execPath, [child, dir, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    const lines: Line[] = [];
    let seen = 0;
    let killed = false;
    createInterface({ input: proc.stdout! }).on("line", (text) => {
      const line = JSON.parse(text) as Line;
      lines.push(line);
      if (trigger === undefined || killed) return;
      const hit = trigger.on === "accepted" ? line.accepted : trigger.on === "ended" ? line.ended : line.write;
      if (hit !== undefined && ++seen >= trigger.after) {
        killed = true;
        proc.kill("SIGKILL");
      }
    });
    proc.on("error", reject);
    proc.on("close", () => resolve({ lines, killed }));
  });
}

describe("kill -9 and recover", () => {
  it("every accepted task reaches exactly one terminal state across 12 SIGKILLs", async () => {
    const random = createRandom(7);
    const kinds: Trigger["on"][] = ["accepted", "ended", "write"];
    const accepted = new Set<string>();
    const terminal = new Map<string, string[]>();
    let kills = 0;
    let resumed = 0;
    const perRun = 30;
    const runs = 12;
    for (let r = 0; r < runs; r++) {
      const trigger: Trigger = { on: kinds[r % 3]!, after: 1 + Math.floor(random.next() * 20) };
      const { lines, killed } = await run([String(r * perRun), String(perRun)], trigger);
      if (killed) kills++;
      for (const l of lines) {
        if (l.recovered !== undefined) resumed += l.recovered;
        if (l.accepted !== undefined) accepted.add(l.accepted);
        if (l.ended !== undefined) terminal.set(l.ended, [...(terminal.get(l.ended) ?? []), l.state!]);
      }
    }
    expect(kills).toBeGreaterThanOrEqual(10);
    // The kills left unfinished work behind, which later runs took back.
    expect(resumed).toBeGreaterThan(0);
    // A last run without a kill drains what is left and reports every task's end.
    const total = runs * perRun;
    const { lines } = await run([String(total), "0", String(total)]);
    for (const l of lines) if (l.ended !== undefined) terminal.set(l.ended, [...(terminal.get(l.ended) ?? []), l.state!]);
    const results = lines.find((l) => l.results !== undefined)!.results!;
    expect(accepted.size).toBeGreaterThan(100);
    for (const id of accepted) {
      // Ended in one run only, and the journal agrees on how.
      const ends = terminal.get(id) ?? [];
      expect(ends.length, `${id} ended ${ends.length} times`).toBeLessThanOrEqual(1);
      expect(results[id], `${id} has no recorded end`).toBe("completed");
      if (ends.length === 1) expect(ends[0]).toBe("completed");
    }
    // Nothing ended twice, accepted or not.
    for (const [id, ends] of terminal) expect(ends.length, id).toBe(1);
  }, 120_000);
});
