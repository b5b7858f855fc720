// `apiary simulate scenario.json`, run as a real child process on the built package.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiary, apiaryWith } from "./helpers.ts";

let dir = "";
const file = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "apiary-sim-"));
  await writeFile(
    file("small.json"),
    JSON.stringify({
      name: "small",
      agents: [{ name: "w", count: 3, concurrency: 2 }],
      workload: { kinds: [{ name: "job", duration: { exponential: { meanMs: 200 } }, retries: 1 }], arrivals: { poisson: { ratePerSec: 10 } } },
      faults: { taskFailureProbability: 0.05, agentCrashesPerHour: 60 },
      run: { durationMs: 60_000, warmupMs: 5_000 },
    }),
  );
  await writeFile(file("bad.json"), JSON.stringify({ name: "bad", agents: [{ name: "w", concurrency: 0 }], workload: {}, run: { durationMs: 1 } }));
  await writeFile(file("broken.json"), "{ not json");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("apiary simulate scenario.json", () => {
  it("prints the run report as JSON, the same bytes for the same seed, without the wall time", async () => {
    const a = await apiary("simulate", file("small.json"), "--json", "--seed", "3");
    const b = await apiary("simulate", file("small.json"), "--json", "--seed", "3");
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const report = JSON.parse(a.stdout);
    expect(report).toMatchObject({ mode: "simulation", scenario: "small", seed: 3, durationMs: 60_000, warmupMs: 5_000 });
    expect(report.wallMs).toBeUndefined();
    expect(report.tasks.accepted).toBe(report.tasks.completed + report.tasks.failed + report.tasks.cancelled + report.tasks.deadLettered + report.tasks.shed);
    expect(report.agents).toHaveLength(3);
  });

  it("prints a summary: tasks by state, throughput, latency and wait percentiles, faults, per-agent utilisation", async () => {
    const { code, stdout, stderr } = await apiary("simulate", file("small.json"));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^apiary simulation — small, seed 1:/);
    expect(stdout).toMatch(/ended\s+completed [\d,]+\s+failed \d+\s+dead-lettered \d+/);
    expect(stdout).toMatch(/throughput\s+[\d.]+ tasks\/s/);
    expect(stdout).toMatch(/latency ms\s+p50 [\d.,]+\s+p95 [\d.,]+\s+p99 [\d.,]+/);
    expect(stdout).toMatch(/wait ms\s+p50 [\d.,]+/);
    expect(stdout).toMatch(/means\s+latency [\d.,]+ ms\s+wait [\d.,]+ ms\s+in system [\d.]+/);
    expect(stdout).toMatch(/faults\s+crashes \d+\s+restarts \d+/);
    expect(stdout).toMatch(/w-2\s+\d+\s+\d+\s+[\d.]+%/);
    expect(stderr).toBe(""); // no progress bar: stderr is not a TTY
  });

  it("rejects an invalid scenario with exit code 2, naming the field and the value", async () => {
    const bad = await apiary("simulate", file("bad.json"));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid scenario: "agents[0].concurrency" must be an integer from 1 to 100000, received 0');
    const broken = await apiary("simulate", file("broken.json"));
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("is not valid JSON");
    const missing = await apiary("simulate", file("nope.json"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read scenario file");
  });

  it("refuses before running a scenario no agent can serve, one that could not finish in hours, and a run given both a duration and a task count", async () => {
    const base = {
      agents: [{ name: "w", capabilities: { plan: 0.9 } }],
      workload: { kinds: [{ name: "code", requires: { code: 0.5 }, duration: { constant: 10 } }], arrivals: { poisson: { ratePerSec: 1 } } },
    };
    await writeFile(file("unmet.json"), JSON.stringify({ name: "unmet", ...base, run: { durationMs: 60_000 } }));
    const fits = { ...base, workload: { ...base.workload, kinds: [{ name: "plan", requires: { plan: 0.5 }, duration: { constant: 10 } }] } };
    await writeFile(file("endless.json"), JSON.stringify({ name: "endless", ...fits, run: { durationMs: 1e15 } }));
    await writeFile(file("both.json"), JSON.stringify({ name: "both", ...fits, run: { durationMs: 60_000, tasks: 10_000 } }));
    const [unmet, endless, both, sweep] = await Promise.all([
      apiary("simulate", file("unmet.json")),
      apiary("simulate", file("endless.json")),
      apiary("simulate", file("both.json")),
      apiary("sweep", file("unmet.json"), "--replicas", "2"),
    ]);
    expect(unmet.code).toBe(2);
    expect(unmet.stderr).toContain('Invalid scenario: "workload.kinds[0].requires" must be met by some agent group (kind "code"), and none has code >= 0.5, received {"code":0.5}');
    expect(endless.code).toBe(2);
    expect(endless.stderr).toContain('"run.durationMs" must keep the simulated time (warmupMs + durationMs) within a year (31,536,000,000 ms), received 1000000000000000');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('"run.tasks" may not be given with "run.durationMs": give exactly one of the two, received 10000');
    expect(sweep.code).toBe(2);
    expect(sweep.stderr).toContain('must be met by some agent group (kind "code")');
  });

  it("names the bundled examples when the scenario file is not there", async () => {
    const missing = await apiary("simulate", "mm2");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read scenario file "mm2"');
    expect(missing.stderr).toContain("a bundled example may be named instead: mm1, mmc, outage, swarm-day");
  });

  it("writes the HTML report with --html, and says demo flags do not apply to a scenario", async () => {
    const html = await apiary("simulate", file("small.json"), "--json", "--html", file("report.html"));
    expect(html.code).toBe(0);
    expect(JSON.parse(html.stdout).scenario).toBe("small");
    const page = await readFile(file("report.html"), "utf8");
    expect(page.startsWith("<!doctype html>")).toBe(true);
    expect(page).toContain("small");
    expect(html.stderr).toContain("wrote the HTML report");
    const tasks = await apiary("simulate", file("small.json"), "--tasks", "5");
    expect(tasks.code).toBe(2);
    expect(tasks.stderr).toContain('"--tasks" applies to the built-in demo only');
  });
});

describe("apiary simulate on Node: the young generation sized for simulations (src/sim/gc.ts)", () => {
  /** Runs `apiary simulate small.json` with a preload that logs each Node process's flags. */
  async function probe(name: string, options: { env?: Record<string, string>; nodeArgs?: string[] } = {}) {
    const log = file(`${name}.log`);
    const preload = file("probe.cjs");
    await writeFile(preload, 'require("node:fs").appendFileSync(process.env.APIARY_TEST_PROBE, JSON.stringify(process.execArgv) + "\\n");\n');
    const run = await apiaryWith(
      { nodeArgs: options.nodeArgs ?? [], env: { ...options.env, NODE_OPTIONS: `--require=${preload}`, APIARY_TEST_PROBE: log } },
      "simulate",
      file("small.json"),
      "--json",
      "--seed",
      "3",
    );
    const processes = (await readFile(log, "utf8")).trim().split("\n").map((line) => JSON.parse(line) as string[]);
    return { run, processes };
  }

  it("relaunches itself once with --max-semi-space-size=128, and the report is the same bytes", async () => {
    const relaunched = await probe("relaunch");
    const kept = await probe("kept", { env: { APIARY_NO_RELAUNCH: "1" } });
    expect(relaunched.run.code).toBe(0);
    expect(relaunched.processes).toHaveLength(2);
    expect(relaunched.processes[0]).not.toContain("--max-semi-space-size=128");
    expect(relaunched.processes[1]).toContain("--max-semi-space-size=128");
    // APIARY_NO_RELAUNCH=1 keeps the first process; the flag changes speed, never results.
    expect(kept.processes).toHaveLength(1);
    expect(kept.processes[0]).not.toContain("--max-semi-space-size=128");
    expect(kept.run.stdout).toBe(relaunched.run.stdout);
  });

  it("keeps the first process when a semi-space size is given already", async () => {
    const given = await probe("given", { nodeArgs: ["--max-semi-space-size=64"] });
    expect(given.run.code).toBe(0);
    expect(given.processes).toEqual([["--max-semi-space-size=64"]]);
  });
});
