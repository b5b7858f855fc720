// The reports a capacity planner reads, laid out by headless Chromium at 1,400 px: a real
// simulation (two kinds, retries, a dependency outage), a real sweep and a real plan. A probe
// script measures the page and every chart and writes its verdict into the DOM: no table runs
// off the page, no chart draws only zeros, and every axis's labels read differently.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHtml } from "../src/sim/html.ts";
import { plan } from "../src/sim/plan.ts";
import type { ScenarioInput } from "../src/sim/scenario.ts";
import { simulate } from "../src/sim/simulate.ts";
import { sweep } from "../src/sim/sweep.ts";
import { browse, needBrowser, verdictOf } from "./browser.ts";
import { readPng, shareOfColour } from "./png.ts";

const scenario: ScenarioInput = {
  name: "layout",
  seed: 4,
  agents: [
    { name: "asker", count: 3, capabilities: { llm: 0.9 }, concurrency: 2 },
    { name: "coder", count: 2, capabilities: { code: 0.8 } },
  ],
  workload: {
    kinds: [
      { name: "ask", weight: 3, requires: { llm: 0.5 }, duration: { exponential: { meanMs: 400 } }, dependsOn: ["llm"], retries: 3 },
      { name: "code", weight: 1, requires: { code: 0.5 }, duration: { exponential: { meanMs: 700 } }, priorities: { high: 1 } },
    ],
    priorities: { normal: 3, low: 1 },
    arrivals: { poisson: { ratePerSec: 6 } },
  },
  dependencies: [{ name: "llm", consecutiveFailures: 3, resetTimeoutMs: 2_000, failAfterMs: 300 }],
  faults: { outages: [{ dependency: "llm", atMs: 20_000, forMs: 8_000 }] },
  policies: { retry: { minMs: 200, maxMs: 2_000, jitter: 0 } },
  run: { durationMs: 60_000, warmupMs: 5_000 },
};

const WIDTH = 1_400;

// Before the report's Content-Security-Policy, so the policy (no scripts) does not stop it.
const PROBE = `<script>
addEventListener("load", () => {
  const width = innerWidth;
  const tables = [...document.querySelectorAll("table")].map((t) => ({ caption: (t.caption?.textContent ?? t.querySelector("th")?.textContent ?? "").slice(0, 60), right: t.getBoundingClientRect().right }));
  const charts = [...document.querySelectorAll("svg.chart")].map((svg) => {
    const texts = (selector) => [...svg.querySelectorAll(selector)].map((t) => t.textContent);
    const tips = [...svg.querySelectorAll("g.estimate > title")].map((t) => t.textContent);
    const means = tips.map((t) => Number.parseFloat(/: (-?[\\d,.]+)/.exec(t.split(" — ")[1] ?? "")?.[1]?.replace(/,/g, "") ?? "NaN"));
    return { kind: svg.dataset.chart, title: svg.querySelector("title").textContent, right: svg.getBoundingClientRect().right, y: texts("text.tick.y"), x: texts("text.tick.x"), means };
  });
  const verdict = document.createElement("pre");
  verdict.id = "verdict";
  verdict.textContent = JSON.stringify({ width, scrollWidth: document.documentElement.scrollWidth, tables, charts });
  document.body.append(verdict);
});
</script>`;

interface Verdict {
  width: number;
  scrollWidth: number;
  tables: { caption: string; right: number }[];
  charts: { kind: string; title: string; right: number; y: string[]; x: string[]; means: number[] }[];
}

describe("the reports at 1,400 px in headless Chromium", () => {
  let dir = "";
  const pages: Record<string, string> = {};
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "apiary-layout-"));
    const run = await simulate(scenario);
    const swept = await sweep(scenario, {
      replicas: 3,
      threads: 2,
      vary: { "agents.0.count": [2, 3, 4], "workload.arrivals.poisson.ratePerSec": [4, 6] },
      targets: ["byKind.ask.waitMs.p95<500", "successRate>=95%"],
    });
    const planned = await plan(scenario, { vary: { "agents.0.count": [1, 2, 3, 4, 5] }, targets: ["byKind.ask.waitMs.mean<100"], replicas: 3, threads: 2 });
    pages["run"] = renderHtml(run);
    pages["sweep"] = renderHtml(swept);
    pages["plan"] = renderHtml(planned);
  }, 240_000);
  afterAll(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  for (const name of ["run", "sweep", "plan"]) {
    it(`${name}: tables fit the page, no chart is zeros only, axis labels are distinct`, async ({ skip }) => {
      needBrowser(skip);
      const file = join(dir, `${name}.html`);
      await writeFile(file, pages[name]!.replace("<head>", `<head>${PROBE}`));
      const verdict = verdictOf<Verdict>(await browse(dir, file, "--dump-dom", `--window-size=${WIDTH},2000`))!;
      expect(verdict, "the probe wrote no verdict: the page did not load").toBeDefined();
      expect(verdict.width).toBe(WIDTH);
      expect(verdict.scrollWidth, "the page scrolls sideways").toBeLessThanOrEqual(WIDTH);
      expect(verdict.tables.length).toBeGreaterThan(0);
      for (const t of verdict.tables) expect(t.right, `table "${t.caption}" runs off the page`).toBeLessThanOrEqual(WIDTH);
      expect(verdict.charts.length).toBeGreaterThan(0);
      for (const c of verdict.charts) {
        expect(c.right, `${c.title}: off the page`).toBeLessThanOrEqual(WIDTH);
        expect(new Set(c.y).size, `${c.title}: y labels ${c.y.join(", ")}`).toBe(c.y.length);
        expect(new Set(c.x).size, `${c.title}: x labels ${c.x.join(", ")}`).toBe(c.x.length);
        if (c.kind === "estimates") {
          expect(c.means.length, c.title).toBeGreaterThan(0);
          expect(c.means.some((m) => m !== 0), `${c.title}: zeros only (${c.means.join(", ")})`).toBe(true);
          expect(c.y.length, `${c.title}: y labels`).toBeGreaterThan(1);
        }
        if (c.y.some((t) => t.endsWith("%"))) expect(Math.max(...c.y.map((t) => Number.parseFloat(t))), `${c.title}: a rate past 100%`).toBeLessThanOrEqual(100);
      }
    }, 60_000);
  }

  it("shows the sweep on screen: its tables and charts in the report's colours", async ({ skip }) => {
    needBrowser(skip);
    const file = join(dir, "sweep-shot.html");
    const png = join(dir, "sweep.png");
    await writeFile(file, pages["sweep"]!);
    await browse(dir, file, `--screenshot=${png}`, `--window-size=${WIDTH},7000`);
    const pixels = readPng(await readFile(png));
    expect(pixels.width).toBe(WIDTH);
    // Error-bar means (#4e79a7) and PASS / FAIL cells (#1a7f37 / #b42318): a few hundred pixels each at least.
    const pixelsOf = (rgb: [number, number, number]): number => shareOfColour(pixels, rgb) * pixels.width * pixels.height;
    expect(pixelsOf([0x4e, 0x79, 0xa7])).toBeGreaterThan(300);
    expect(pixelsOf([0x1a, 0x7f, 0x37]) + pixelsOf([0xb4, 0x23, 0x18])).toBeGreaterThan(300);
  }, 60_000);
});
