// The `apiary` command, run as a real child process on the built package.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { apiary } from "./helpers.ts";

describe("apiary simulate", () => {
  it("runs the built-in demo on the worker pool and prints one JSON summary", async () => {
    const { code, stdout } = await apiary("simulate", "--json", "--tasks", "40", "--threads", "2", "--seed", "7");
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ scenario: "demo", seed: 7, backend: "piscina", threads: 2 });
    expect(report.tasks).toMatchObject({ submitted: 40, completed: 40, failed: 0, queued: 0, running: 0 });
    expect(report.latencyMs.p50).toBeGreaterThan(0);
    expect(report.latencyMs.p99).toBeGreaterThanOrEqual(report.latencyMs.p95);
    expect(report.agents.map((a: { id: string }) => a.id)).toEqual(["solar-1", "solar-2", "quant-1", "generalist"]);
    expect(report.agents.reduce((n: number, a: { tasks: number }) => n + a.tasks, 0)).toBe(40);
    // solar-2 cannot run Monte Carlo (no capability); quant-1 is below the energy level asked.
    expect(report.results.energy.runs + report.results.montecarlo.runs).toBe(40);
    expect(Math.abs(report.results.montecarlo.meanEstimate - Math.PI)).toBeLessThan(0.01);
  });

  it("prints a readable summary with throughput, percentiles and tasks per agent", async () => {
    const { code, stdout } = await apiary("simulate", "--tasks", "20", "--threads", "2");
    expect(code).toBe(0);
    expect(stdout).toMatch(/throughput\s+[\d.]+ tasks\/s/);
    expect(stdout).toMatch(/latency ms\s+p50 [\d.]+\s+p95 [\d.]+\s+p99 [\d.]+/);
    expect(stdout).toContain("quant-1");
  });

  it("rejects bad flags with exit code 2 and says which value was wrong", async () => {
    const bad = await apiary("simulate", "--tasks", "zero");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"--tasks" must be an integer >= 1, received "zero"');
    const unknown = await apiary("fly");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "fly"');
  });
});

describe("apiary flags", () => {
  it("refuses a flag its subcommand does not take with exit code 2, naming the flag, in every subcommand", async () => {
    const runs = await Promise.all([
      apiary("simulate", "--port", "5"),
      apiary("sweep", "scenario.json", "--replicas", "2", "--port", "5"),
      apiary("load", "--port", "5"),
      apiary("serve", "--tasks", "5"),
      apiary("inspect", "--html", "report.html"),
      apiary("replay", "trace.jsonl", "--seed", "3"),
    ]);
    const expected = [
      'apiary: unknown option "--port" for "apiary simulate"',
      'apiary sweep: unknown option "--port" for "apiary sweep"',
      'apiary load: unknown option "--port" for "apiary load"',
      'apiary: unknown option "--tasks" for "apiary serve"',
      'apiary: unknown option "--html" for "apiary inspect"',
      'apiary: unknown option "--seed" for "apiary replay"; it takes --port, --host, --duration-ms, --speed, --help',
    ];
    runs.forEach((run, i) => {
      expect(run.code).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toContain(expected[i]);
    });
  });

  it("refuses an out-of-range value with exit code 2, naming the flag and the value, negative numbers included", async () => {
    const cases: [string[], string][] = [
      [["simulate", "--threads", "999"], '"--threads" must be an integer from 1 to 512, received "999"'],
      [["simulate", "--threads", "0"], '"--threads" must be an integer from 1 to 512, received "0"'],
      [["simulate", "--threads", "-3"], '"--threads" must be an integer from 1 to 512, received "-3"'],
      [["simulate", "--threads=-3"], '"--threads" must be an integer from 1 to 512, received "-3"'],
      [["simulate", "--seed", "-1"], '"--seed" must be an integer >= 0, received "-1"'],
      [["load", "--threads", "-3"], '"--threads" must be an integer from 1 to 512, received "-3"'],
      [["sweep", "scenario.json", "--replicas", "-2"], '"--replicas" must be an integer from 1 to 10000, received "-2"'],
      [["sweep", "scenario.json", "--replicas", "2", "--threads", "999"], '"--threads" must be an integer from 1 to 256, received "999"'],
      [["serve", "--port", "70000"], '"--port" must be an integer from 0 to 65535, received "70000"'],
      [["inspect", "--duration-ms", "-5"], '"--duration-ms" must be an integer from 1 to 2147483647, received "-5"'],
      [["replay", "trace.jsonl", "--duration-ms", "99999999999"], '"--duration-ms" must be an integer from 1 to 2147483647, received "99999999999"'],
    ];
    const runs = await Promise.all(cases.map(([args]) => apiary(...args)));
    runs.forEach((run, i) => {
      expect(run.code, cases[i]![0].join(" ")).toBe(2);
      expect(run.stderr).toContain(cases[i]![1]);
    });
  });

  it("says which flag lacks its value, or takes none", async () => {
    const [none, option, boolean] = await Promise.all([apiary("simulate", "--threads"), apiary("simulate", "--threads", "--json"), apiary("simulate", "--json=1")]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('"--threads" needs a value, received none');
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('"--threads" needs a value, received the option "--json" (write --threads=VALUE for a value that starts with "-")');
    expect(boolean.code).toBe(2);
    expect(boolean.stderr).toContain('"--json" takes no value');
  });

  it("prints the version from package.json with --version and -v", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    for (const run of await Promise.all([apiary("--version"), apiary("-v")])) {
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`apiary ${version}\n`);
      expect(run.stderr).toBe("");
    }
  });

  it("checks the trace file before starting the relay: no URL for a file that is not there", async () => {
    const run = await apiary("replay", "no-such-trace.jsonl", "--duration-ms", "100");
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain('apiary: cannot read trace file "no-such-trace.jsonl": ENOENT');
  });
});
