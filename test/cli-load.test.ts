// `apiary load` as a real child process on the built package: real worker threads, real CPU
// tasks, small levels so the file stays quick.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoadReport } from "../src/sim/report.ts";
import { apiary } from "./helpers.ts";

describe("apiary load", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "apiary-load-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs each level closed-loop on worker threads, loses nothing, and writes JSON and an HTML report", async () => {
    const html = join(dir, "report.html");
    const { code, stdout, stderr } = await apiary("load", "--levels", "10,100", "--tasks-per-level", "200", "--threads", "2", "--json", "--html", html);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as LoadReport;
    expect(report.mode).toBe("load");
    expect(report.levels.map((l) => l.inFlight)).toEqual([10, 100]);
    for (const level of report.levels) {
      const t = level.tasks;
      // Every task of the level counts (no warm-up with --tasks-per-level) and every one completed.
      expect(t).toEqual({ submitted: 200, accepted: 200, rejected: 0, completed: 200, failed: 0, cancelled: 0, deadLettered: 0, shed: 0, retried: 0 });
      expect(level.successRate).toBe(1);
      expect(level.extra).toMatchObject({ inFlight: level.inFlight, closedLoop: true, threads: 2, backend: "piscina", allSubmitted: 200, allAccepted: 200, allCompleted: 200, allUnfinished: 0 });
      const l = level.latencyMs;
      expect(l.count).toBe(200);
      expect(l.p50).toBeGreaterThan(0);
      expect(l.p50).toBeLessThanOrEqual(l.p90);
      expect(l.p90).toBeLessThanOrEqual(l.p95);
      expect(l.p95).toBeLessThanOrEqual(l.p99);
      expect(l.p99).toBeLessThanOrEqual(l.max);
      expect(level.throughputPerSec).toBeGreaterThan(0);
      expect(level.histogram.reduce((n, b) => n + b.count, 0)).toBe(200);
      expect(level.series.reduce((n, p) => n + p.completed, 0)).toBe(200);
      // The closed loop never has more than the level in the hive.
      expect(Math.max(...level.series.map((p) => p.queued + p.running))).toBeLessThanOrEqual(level.inFlight);
      expect(level.agents.map((a) => a.id)).toEqual(["burn-1", "burn-2", "burn-3", "burn-4", "quant-1", "quant-2", "generalist-1", "generalist-2"]);
      expect(level.agents.reduce((n, a) => n + a.completed, 0)).toBe(200);
    }
    // With 100 in flight and 22 agent slots, tasks queue: the deeper level waits longer.
    expect(report.levels[1]!.waitMs.p50).toBeGreaterThan(report.levels[0]!.waitMs.p50);
    // Not a terminal: no progress bar, only the note about the file.
    expect(stderr).toBe(`apiary load: wrote the HTML report to ${html}\n`);

    const page = await readFile(html, "utf8");
    expect(page.startsWith("<!doctype html>")).toBe(true);
    for (const kind of ["level-throughput", "level-latency"]) expect(page).toContain(`data-chart="${kind}"`);
    for (const kind of ["latency-histogram", "throughput", "queue-depth", "utilisation", "timeline"]) {
      expect(page.match(new RegExp(`data-chart="${kind}"`, "g"))).toHaveLength(2);
    }
    expect(page).toContain('<section class="level" id="level-100"><h2>100 tasks in flight</h2>');
    expect(page).toContain(">generalist-2</text>");
  });

  it("with a bounded queue, counts what it shed and rejected, and the counts still reconcile", async () => {
    const { code, stdout, stderr } = await apiary("load", "--levels", "60", "--tasks-per-level", "300", "--max-queued", "5", "--threads", "2");
    expect(code, stderr).toBe(0);
    const row = stdout.split("\n").find((l) => /^\s+60\s/.test(l));
    expect(row, stdout).toBeDefined();
    const [inFlight, accepted, completed, failed, deadLettered, shed, rejected, cancelled, success, , , , , lost] = row!.trim().split(/\s+/);
    const n = (s: string | undefined): number => Number((s ?? "").replace(/,/g, ""));
    expect(n(inFlight)).toBe(60);
    expect(n(shed) + n(rejected)).toBeGreaterThan(0);
    expect(n(accepted) + n(rejected)).toBe(300);
    expect(n(completed) + n(failed) + n(deadLettered) + n(shed) + n(cancelled)).toBe(n(accepted));
    expect(n(lost)).toBe(0);
    expect(success).toBe(`${((n(completed) / n(accepted)) * 100).toFixed(1)}%`);
    expect(stdout).toMatch(new RegExp(`^shed {9}60 in flight: ${shed} shed, ${rejected} rejected$`, "m"));
    expect(stdout).toContain("lost         none: at every level");
  });

  it("runs a scenario's agents and task mix for real, each kind a burn of its drawn duration, and says what it left out", async () => {
    const file = join(dir, "scenario.json");
    await writeFile(
      file,
      JSON.stringify({
        name: "crunch <shop>",
        seed: 7,
        agents: [
          { name: "cpu", count: 2, capabilities: { crunch: 1 }, concurrency: 2 },
          { name: "idle", capabilities: { other: 1 } },
        ],
        workload: {
          kinds: [
            { name: "crunch", requires: { crunch: 0.5 }, duration: { constant: 0.5 }, weight: 3 },
            { name: "light", requires: { crunch: 0.1 }, duration: { exponential: { meanMs: 0.3 } } },
          ],
          arrivals: { closed: { inFlight: 20 } },
        },
        faults: { taskFailureProbability: 0.1 },
        run: { durationMs: 1_000 },
      }),
    );
    const { code, stdout, stderr } = await apiary("load", file, "--tasks-per-level", "150", "--threads", "2", "--json");
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as LoadReport;
    expect(report.scenario).toBe("crunch <shop>");
    // The closed loop's inFlight is the level; the agent groups expand to their ids.
    expect(report.levels.map((l) => l.inFlight)).toEqual([20]);
    const [level] = report.levels;
    expect(level!.tasks).toMatchObject({ accepted: 150, completed: 150, failed: 0, deadLettered: 0 });
    expect(level!.agents.map((a) => [a.id, a.completed > 0])).toEqual([["cpu-1", true], ["cpu-2", true], ["idle", false]]);
    // Injected faults are simulation-only: none of the tasks failed, and stderr says so.
    expect(stderr).toContain('"crunch <shop>" runs live; left out: injected faults (taskFailureProbability)');
  });

  it("refuses an invalid scenario and bad flags with exit code 2, naming the value", async () => {
    const file = join(dir, "bad.json");
    await writeFile(file, JSON.stringify({ name: "x", agents: [] }));
    const bad = await apiary("load", file);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid scenario: "agents" must list at least one agent group, received an array of 0');
    const missing = await apiary("load", join(dir, "missing.json"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`cannot read scenario file ${JSON.stringify(join(dir, "missing.json"))}`);
    const levels = await apiary("load", "--levels", "10,0");
    expect(levels.code).toBe(2);
    expect(levels.stderr).toContain('"--levels" must be a comma-separated list of positive integers, received "10,0"');
    const both = await apiary("load", "--tasks-per-level", "5", "--duration-ms", "100");
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give "--tasks-per-level" or "--duration-ms", not both; received 5 and 100');
  });
});
