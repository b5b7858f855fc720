// The metrics and the example alert rules checked by Prometheus's own tools: `promtool check
// metrics` lints a busy hive's /metrics, `promtool check rules` and `promtool test rules` check
// examples/prometheus/alerts.yml and its unit tests, and a real Prometheus server scrapes a hive
// and aggregates its latency histogram with histogram_quantile.
//
// Without promtool (Debian's `prometheus` package) the tests skip and say so, unless
// APIARY_REQUIRE_PROMTOOL=1 (CI sets it), in which case they fail.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHive, type Hive } from "../src/index.ts";
import { fixtureTasks, onPath } from "./helpers.ts";

const required = process.env.APIARY_REQUIRE_PROMTOOL === "1";
const examples = fileURLToPath(new URL("../examples/prometheus/", import.meta.url));

const promtool = onPath("promtool");
const prometheus = onPath("prometheus");
const MISSING = "no promtool on the PATH (install Debian's `prometheus` package)";

function need(tool: string | undefined, skip: (note?: string) => never): string {
  if (tool !== undefined) return tool;
  if (required) throw new Error(`APIARY_REQUIRE_PROMTOOL=1 but ${MISSING}`);
  return skip(MISSING);
}

/** Runs `tool args`, writing `input` to its stdin; resolves with its exit code and output. */
function run(tool: string, args: string[], input?: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(tool, args, { cwd: examples, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : -1;
      if (code === -1) reject(error);
      else resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(input ?? "");
  });
}

describe("Prometheus's own tools", () => {
  let hive: Hive;
  let url = "";

  beforeAll(async () => {
    hive = createHive({ backend: "inline", tasks: fixtureTasks, agents: [{ id: "a", concurrency: 2 }, { id: "b", concurrency: 1 }], defaults: { retries: 0 } });
    await hive.start();
    hive.dependency("llm", () => "ok");
    await Promise.all(Array.from({ length: 50 }, (_, n) => hive.run({ kind: "double", input: { n } })));
    await hive.run({ kind: "failTimes", input: { times: 1 }, retries: 1 });
    await hive.run({ kind: "fail", input: {} }).catch(() => {});
    url = (await hive.serve({ port: 0 })).url;
  });
  afterAll(async () => {
    await hive?.stop();
  });

  it("lints a busy hive's /metrics clean with promtool check metrics", async ({ skip }) => {
    const tool = need(promtool, skip);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain("# TYPE apiary_task_latency_seconds histogram");
    expect(text).toMatch(/apiary_task_latency_seconds_bucket\{kind="double",agent="a",le="\+Inf"\} \d+/);
    const { code, output } = await run(tool, ["check", "metrics"], text);
    expect(output).toBe("");
    expect(code).toBe(0);
  });

  it("checks the example alert rules and passes their unit tests", async ({ skip }) => {
    const tool = need(promtool, skip);
    const checked = await run(tool, ["check", "rules", "alerts.yml"]);
    expect(checked.output).toContain("SUCCESS: 6 rules found");
    expect(checked.code).toBe(0);
    const tested = await run(tool, ["test", "rules", "alerts.test.yml"]);
    expect(tested.output).toContain("SUCCESS");
    expect(tested.code).toBe(0);
  });

  it("is scraped by a real Prometheus, which aggregates the latency buckets over agents", { timeout: 60_000 }, async ({ skip }) => {
    const server = need(prometheus, skip);
    const dir = await mkdtemp(join(tmpdir(), "apiary-prometheus-"));
    const port = await freePort();
    const target = new URL(url).host;
    await writeFile(join(dir, "prometheus.yml"), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: apiary\n    static_configs:\n      - targets: ["${target}"]\n`);
    const child = spawn(server, [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: "ignore" });
    try {
      const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
        const response = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
        return ((await response.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
      };
      // Keep tasks completing so rate() has something to see between scrapes.
      const busy = setInterval(() => void hive.run({ kind: "double", input: { n: 1 } }).catch(() => {}), 20);
      let median: { value: [number, string] }[] = [];
      try {
        for (let i = 0; i < 200 && median.length === 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          median = await query('histogram_quantile(0.5, sum by (le) (rate(apiary_task_latency_seconds_bucket{kind="double"}[10s])))').catch(() => []);
          if (median.length > 0 && Number.isNaN(Number(median[0]!.value[1]))) median = [];
        }
      } finally {
        clearInterval(busy);
      }
      expect(median).toHaveLength(1);
      const seconds = Number(median[0]!.value[1]);
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThan(1);
      const [up] = await query('up{job="apiary"}');
      expect(up?.value[1]).toBe("1");
      const [count] = await query('sum(apiary_task_latency_seconds_count{kind="double"})');
      expect(Number(count?.value[1])).toBeGreaterThanOrEqual(50);
    } finally {
      child.kill();
      await new Promise((resolve) => child.once("exit", resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A port free now (bound and released), for a server that cannot be told to pick one. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
