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

  it("exits 2 naming what was wrong", async () => {
    const missing = await apiary("sweep", file);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('"--replicas" is required');
    const badVary = await apiary("sweep", file, "--replicas", "2", "--vary", "agents.0.count");
    expect(badVary.code).toBe(2);
    expect(badVary.stderr).toContain('"--vary" must look like key=a,b,c, received "agents.0.count"');
    const badValue = await apiary("sweep", file, "--replicas", "2", "--vary", "agents.0.count=0");
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toMatch(/Cannot sweep at agents\.0\.count=0: .*"agents\[0\]\.count"/);
    const noFile = await apiary("sweep", join(dir, "nope.json"), "--replicas", "2");
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain("cannot read the scenario");
  }, 60_000);

  it("reads --vary values as JSON where they parse", () => {
    expect(parseVary("a.b=1,2.5,true,x")).toEqual(["a.b", [1, 2.5, true, "x"]]);
  });
});
