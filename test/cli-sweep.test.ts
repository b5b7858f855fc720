// `apiary sweep` as a real child process on the built package: replicas on worker threads,
// a parameter grid, JSON and HTML output, and usage errors that name what was wrong.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseVary } from "../src/cli/sweep-command.ts";
import type { SweepReport } from "../src/sim/report.ts";
import { apiary } from "./helpers.ts";

const scenario = {
  name: "tiny <queue>",
  agents: [{ name: "server", count: 1 }],
  workload: { kinds: [{ name: "job", duration: { exponential: { meanMs: 100 } } }], arrivals: { poisson: { ratePerSec: 5 } } },
  run: { durationMs: 120_000 },
};

describe("apiary sweep", () => {
  let dir = "";
  let file = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "apiary-sweep-"));
    file = join(dir, "tiny.json");
    await writeFile(file, JSON.stringify(scenario));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs the grid's replicas on threads and prints means with intervals as JSON, and an HTML report", async () => {
    const html = join(dir, "sweep.html");
    const { code, stdout, stderr } = await apiary("sweep", file, "--replicas", "3", "--threads", "2", "--vary", "agents.0.count=1,2", "--seed", "5", "--json", "--html", html);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as SweepReport;
    expect(report).toMatchObject({ mode: "sweep", scenario: "tiny <queue>", replicas: 3, threads: 2, vary: { "agents.0.count": [1, 2] } });
    expect(report.wallMs).toBeUndefined(); // --json is reproducible
    expect(report.rows.map((r) => r.params)).toEqual([{ "agents.0.count": 1 }, { "agents.0.count": 2 }]);
    const [one, two] = report.rows.map((r) => r.figures["waitMs.mean"]!);
    expect(one!.n).toBe(3);
    // A second server takes the queueing away: the intervals do not overlap.
    expect(two!.ci95[1]).toBeLessThan(one!.ci95[0]);
    const page = await readFile(html, "utf8");
    expect(page).toContain("tiny &lt;queue&gt;");
    expect(page).toContain("<svg");
    // Same seed, same figures.
    const again = await apiary("sweep", file, "--replicas", "3", "--threads", "1", "--vary", "agents.0.count=1,2", "--seed", "5", "--json");
    expect(JSON.parse(again.stdout).rows).toEqual(report.rows);
  }, 60_000);

  it("holds every combination to --target with 95% confidence and exits 1 when one misses", async () => {
    const { code, stdout } = await apiary("sweep", file, "--replicas", "3", "--threads", "2", "--vary", "agents.0.count=1,2", "--target", "waitMs.mean<20", "--json");
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as SweepReport;
    expect(report.targets).toEqual(["waitMs.mean<20"]);
    // One server queues (ρ 0.5: mean wait 100 ms); two hardly do.
    expect(report.rows.map((r) => r.targets![0]!.passed)).toEqual([false, true]);
    expect(report.rows[1]!.targets![0]!.ci95![1]).toBeLessThan(20);
    expect(report.rows[0]!.bottleneck!.findings.length).toBeGreaterThan(0);
    const text = await apiary("sweep", file, "--replicas", "3", "--threads", "2", "--vary", "agents.0.count=2", "--target", "waitMs.mean<20");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {2}agents\.0\.count=2 {2}PASS {2}waitMs\.mean<20 {2}\(wait before first attempt, mean\): [\d.]+ ms \[95% CI/m);
  }, 60_000);

  it("exits 2 naming what was wrong", async () => {
    const missing = await apiary("sweep", file);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('"--replicas" is required');
    const badVary = await apiary("sweep", file, "--replicas", "2", "--vary", "agents.0.count");
    expect(badVary.code).toBe(2);
    expect(badVary.stderr).toContain('"--vary" must look like key=a,b,c or key=8..16, received "agents.0.count"');
    const badValue = await apiary("sweep", file, "--replicas", "2", "--vary", "agents.0.count=0");
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toMatch(/Cannot sweep at agents\.0\.count=0: .*"agents\[0\]\.count"/);
    const noFile = await apiary("sweep", join(dir, "nope.json"), "--replicas", "2");
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain("cannot read the scenario");
  }, 60_000);

  it("plans: the smallest count that meets the target, as JSON with the choice and its evidence, and as a table", async () => {
    const html = join(dir, "plan.html");
    const { code, stdout, stderr } = await apiary("plan", file, "--vary", "agents.0.count=1..4", "--target", "waitMs.mean<20", "--replicas", "3", "--threads", "2", "--json", "--html", html);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.choice).toEqual({ "agents.0.count": 2 });
    expect(report.evidence.previous.params).toEqual({ "agents.0.count": 1 });
    expect(report.wallMs).toBeUndefined();
    expect(await readFile(html, "utf8")).toContain("smallest that meets every target");
    const text = await apiary("plan", file, "--vary", "agents.0.count=1..4", "--target", "waitMs.mean<20", "--replicas", "3", "--threads", "2");
    expect(text.stdout).toMatch(/^choice {7}agents\.0\.count=2$/m);
    const none = await apiary("plan", file, "--vary", "agents.0.count=1,2", "--target", "waitMs.mean<0.001", "--replicas", "2", "--threads", "2");
    expect(none.code).toBe(1);
    expect(none.stdout).toContain("choice       none: no setting meets every target");
  }, 90_000);

  it("refuses a plan without --vary or --target, or with a bad one, with exit 2", async () => {
    const [noVary, noTarget, badTarget, badRange] = await Promise.all([
      apiary("plan", file, "--target", "waitMs.mean<20"),
      apiary("plan", file, "--vary", "agents.0.count=1..3"),
      apiary("plan", file, "--vary", "agents.0.count=1..3", "--target", "waitMs.mean≤20"),
      apiary("plan", file, "--vary", "agents.0.count=1...3", "--target", "waitMs.mean<20"),
    ]);
    expect(noVary.code).toBe(2);
    expect(noVary.stderr).toContain('apiary plan: "--vary" is required');
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toContain('apiary plan: "--target" is required');
    expect(badTarget.code).toBe(2);
    expect(badTarget.stderr).toContain('apiary plan: "--target" must be FIGURE<VALUE');
    expect(badTarget.stderr).toContain('received "waitMs.mean≤20"');
    expect(badRange.code).toBe(2);
    expect(badRange.stderr).toContain('"--vary" must list values a,b,c or a range of integers A..B, received "agents.0.count=1...3"');
  });

  it("reads --vary values as JSON where they parse, and A..B as every integer from A to B", () => {
    expect(parseVary("a.b=1,2.5,true,x")).toEqual(["a.b", [1, 2.5, true, "x"]]);
    expect(parseVary("agents.0.count=8..12")).toEqual(["agents.0.count", [8, 9, 10, 11, 12]]);
    expect(parseVary("n=1..3,8,4..2")).toEqual(["n", [1, 2, 3, 8, 4, 3, 2]]);
    expect(() => parseVary("n=1..")).toThrow('"--vary" must list values a,b,c or a range of integers A..B, received "n=1.."');
    expect(() => parseVary("n=1..100000")).toThrow('"--vary" may list at most 10000 values');
  });
});
