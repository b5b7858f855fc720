// The HTML report in a real browser: headless Chromium loads a rendered load report from a file
// and (1) a probe script measures every chart's SVG and writes its verdict into the DOM, which
// --dump-dom prints; (2) a screenshot shows the charts' colours on screen. Each run waits for
// the browser to exit; nothing sleeps.
//
// Without Chromium the tests skip and say so, unless APIARY_REQUIRE_BROWSER=1 (CI sets it), in
// which case they fail.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHtml } from "../src/sim/html.ts";
import { loadReport } from "./fixtures/reports.ts";
import { readPng, shareOfColour } from "./png.ts";

const run = promisify(execFile);
const required = process.env.APIARY_REQUIRE_BROWSER === "1";

/** `$APIARY_CHROMIUM`, or the first Chromium-like browser on the PATH. */
function findChromium(): string | undefined {
  const named = process.env.APIARY_CHROMIUM;
  if (named !== undefined && named !== "") return named;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      const path = join(dir, name);
      if (dir !== "" && existsSync(path)) return path;
    }
  }
  return undefined;
}

const chromium = findChromium();
const MISSING = "no Chromium found (install Debian's `chromium` or set APIARY_CHROMIUM to a browser binary)";

// The probe goes before the report's Content-Security-Policy <meta>, so the policy (no scripts)
// does not stop it; it also records anything the policy blocked, i.e. anything the report tried
// to fetch.
const PROBE = `<script>
const violations = [];
document.addEventListener("securitypolicyviolation", (e) => violations.push(e.violatedDirective + " " + e.blockedURI));
addEventListener("load", () => {
  const charts = [...document.querySelectorAll("svg.chart")].map((svg) => {
    const box = svg.getBoundingClientRect();
    const shapes = [...svg.querySelectorAll("rect, path, polyline, circle, line")];
    const drawn = shapes.filter((s) => { const b = s.getBBox(); return b.width > 0 || b.height > 0; }).length;
    return { kind: svg.dataset.chart, width: box.width, height: box.height, shapes: shapes.length, drawn };
  });
  const verdict = document.createElement("pre");
  verdict.id = "verdict";
  verdict.textContent = JSON.stringify({ charts, violations, title: document.title, h1: document.querySelector("h1").textContent });
  document.body.append(verdict);
});
</script>`;

interface Verdict {
  charts: { kind: string; width: number; height: number; shapes: number; drawn: number }[];
  violations: string[];
  title: string;
  h1: string;
}

describe("the HTML report in headless Chromium", () => {
  let dir = "";
  let html = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "apiary-browser-"));
    html = renderHtml(loadReport([10, 100]));
  });
  afterAll(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  /** Runs Chromium headless on `file` with `args`; resolves once it has exited. */
  async function browse(file: string, ...args: string[]): Promise<string> {
    const profile = await mkdtemp(join(dir, "profile-"));
    const { stdout } = await run(
      chromium!,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--hide-scrollbars",
        ...args,
        `file://${file}`,
      ],
      { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return stdout;
  }

  function needBrowser(skip: (note?: string) => never): void {
    if (chromium !== undefined) return;
    if (required) throw new Error(`APIARY_REQUIRE_BROWSER=1 but ${MISSING}`);
    skip(MISSING);
  }

  it("lays out every chart with a visible size and drawn shapes, and fetches nothing", async ({ skip }) => {
    needBrowser(skip);
    const file = join(dir, "probe.html");
    await writeFile(file, html.replace("<head>", `<head>${PROBE}`));
    const dom = await browse(file, "--dump-dom");
    const json = /<pre id="verdict">([\s\S]*?)<\/pre>/.exec(dom)?.[1];
    expect(json, "the probe wrote no verdict: the page did not load").toBeDefined();
    const verdict = JSON.parse(json!.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&")) as Verdict;
    // The escaped scenario name arrives as text, not as markup.
    expect(verdict.h1).toBe(`<script>alert("pwned")</script> & 'friends'`);
    expect(verdict.title).toContain(`apiary load test — <script>alert("pwned")</script>`);
    expect(verdict.violations).toEqual([]);
    // Two comparison charts, then five charts per level.
    const kinds = verdict.charts.map((c) => c.kind);
    const level = ["latency-histogram", "throughput", "queue-depth", "utilisation", "timeline"];
    expect(kinds).toEqual(["level-throughput", "level-latency", ...level, ...level]);
    for (const c of verdict.charts) {
      expect(c.width, `${c.kind} width`).toBeGreaterThan(300);
      expect(c.height, `${c.kind} height`).toBeGreaterThan(50);
      expect(c.drawn, `${c.kind} shapes drawn`).toBeGreaterThan(5);
    }
  });

  it("shows the charts on screen: the screenshot is not blank and carries the chart colours", async ({ skip }) => {
    needBrowser(skip);
    const file = join(dir, "report.html");
    const png = join(dir, "report.png");
    await writeFile(file, html);
    await browse(file, `--screenshot=${png}`, "--window-size=1000,1600");
    const pixels = readPng(await readFile(png));
    expect(pixels.width).toBe(1000);
    expect(pixels.height).toBe(1600);
    const background = shareOfColour(pixels, [0xfb, 0xfb, 0xfd], 1) + shareOfColour(pixels, [0xff, 0xff, 0xff], 1);
    expect(background).toBeLessThan(0.95);
    // Bars (#4e79a7), p95 bars (#f28e2b) and p99 bars (#e15759) of the comparison charts.
    expect(shareOfColour(pixels, [0x4e, 0x79, 0xa7])).toBeGreaterThan(0.005);
    expect(shareOfColour(pixels, [0xf2, 0x8e, 0x2b])).toBeGreaterThan(0.002);
    expect(shareOfColour(pixels, [0xe1, 0x57, 0x59])).toBeGreaterThan(0.002);
  });
});
