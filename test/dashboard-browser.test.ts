// The live dashboard in a real browser: headless Chromium (driven over the DevTools protocol)
// opens the dashboard of a running hive under load; the test reads the DOM while tasks run —
// every agent shown, states changing, each machine drawn — records every request the page makes
// (all to its own origin) and any policy violation or script error (none), and takes a
// screenshot (written to $APIARY_SCREENSHOT_DIR when set, to look at).
//
// Without Chromium the test skips and says so, unless APIARY_REQUIRE_BROWSER=1 (CI sets it), in
// which case it fails.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createHive } from "../src/index.ts";
import { type Browser, findChromium, launch } from "./cdp.ts";
import { readPng, shareOfColour } from "./png.ts";

const chromium = findChromium();
const required = process.env.APIARY_REQUIRE_BROWSER === "1";
const MISSING = "no Chromium found (install Debian's `chromium` or set APIARY_CHROMIUM to a browser binary)";
const tasks = new URL("./fixtures/dashboard-tasks.mjs", import.meta.url);
const AGENTS = ["solar-1", "solar-2", "quant-1", "generalist"];

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("the live dashboard in headless Chromium", () => {
  it("shows every agent and every machine, follows their states while tasks run, and fetches nothing from elsewhere", { timeout: 60_000 }, async ({ skip }) => {
    if (chromium === undefined) {
      if (required) throw new Error(`APIARY_REQUIRE_BROWSER=1 but ${MISSING}`);
      skip(MISSING);
    }
    const hive = createHive({
      backend: "inline",
      tasks,
      agents: AGENTS.map((id, i) => ({ id, concurrency: 3 - (i % 3) })),
      defaults: { retries: 0 },
    });
    cleanups.push(() => hive.stop());
    await hive.start();
    const server = await hive.serve({ port: 0 });
    // Bursts of tasks of different lengths: agents go idle, busy and saturated in turn.
    // The bursts come every 650 ms (9 ticks on, 4 off): a period the dashboard's one frame a
    // second does not lock onto, so its frames catch agents in every state.
    let n = 0;
    let tick = 0;
    const priorities = ["critical", "high", "normal", "low", "background"] as const;
    const load = setInterval(() => {
      const burst = tick++ % 13 < 9 ? 3 : 0;
      for (let i = 0; i < burst; i++, n++) void hive.run({ kind: "sleep", input: { ms: 40 + ((n * 37) % 300) }, priority: priorities[n % 5]! }).catch(() => {});
    }, 50);
    cleanups.push(async () => clearInterval(load));

    const browser: Browser = await launch(chromium!);
    cleanups.push(() => browser.close());
    const page = await browser.newPage(1400, 1800);
    const requests: string[] = [];
    const problems: string[] = [];
    page.on("Network.requestWillBeSent", (e) => void requests.push((e["request"] as { url: string }).url));
    page.on("Runtime.exceptionThrown", (e) => void problems.push(JSON.stringify(e["exceptionDetails"])));
    page.on("Log.entryAdded", (e) => {
      const entry = e["entry"] as { level: string; text: string; url?: string };
      // The browser's own note that a request failed is not the page's doing; anything else is.
      if (entry.level === "error") problems.push(`${entry.text} ${entry.url ?? ""}`);
    });
    await page.send("Network.enable");
    await page.send("Runtime.enable");
    await page.send("Log.enable");
    await page.send("Page.enable");
    // Before any of the page's own scripts: record what the Content-Security-Policy blocks.
    await page.send("Page.addScriptToEvaluateOnNewDocument", {
      source: `window.__violations = []; document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));`,
    });
    await page.send("Page.navigate", { url: `${server.url}/` });

    // Every agent is shown, and each machine kind is drawn with a visible size.
    await page.waitFor(`document.querySelectorAll("#agents tr[data-agent]").length === ${AGENTS.length}`);
    const shown = await page.evaluate<string[]>(`[...document.querySelectorAll("#agents tr[data-agent]")].map((r) => r.dataset.agent)`);
    expect(shown.sort()).toEqual([...AGENTS].sort());
    await page.waitFor(`document.querySelectorAll("svg.machine").length >= 4`);
    const drawn = await page.evaluate<{ kind: string; width: number; height: number; states: number }[]>(
      `[...document.querySelectorAll("svg.machine")].map((s) => { const b = s.getBoundingClientRect(); return { kind: s.dataset.machine, width: b.width, height: b.height, states: s.querySelectorAll("g.state").length }; })`,
    );
    expect(drawn.map((d) => d.kind)).toEqual(expect.arrayContaining(["queen", "supervisor", "agent", "worker"]));
    for (const d of drawn) {
      expect(d.width, `${d.kind} width`).toBeGreaterThan(100);
      expect(d.height, `${d.kind} height`).toBeGreaterThan(40);
    }
    expect(drawn.find((d) => d.kind === "agent")?.states).toBe(6);

    // States change while tasks run: sample the agents' states and the agent diagram's lit states.
    const seen = new Map<string, Set<string>>();
    const lit = new Set<string>();
    const changedAgents = () => [...seen.values()].filter((states) => states.size >= 2).length;
    // Frames come once a second: sample until the states have moved (at most 10 s on a loaded machine).
    for (let i = 0; i < 40 && (i < 10 || changedAgents() < 2 || lit.size < 2); i++) {
      const sample = await page.evaluate<{ states: [string, string][]; on: string[] }>(
        `({ states: [...document.querySelectorAll("#agents tr[data-agent]")].map((r) => [r.dataset.agent, r.querySelector("[data-state]").dataset.state]),
            on: [...document.querySelectorAll('svg[data-machine="agent"] g.state.on')].map((g) => g.dataset.state) })`,
      );
      for (const [agent, state] of sample.states) (seen.get(agent) ?? seen.set(agent, new Set()).get(agent)!).add(state);
      lit.add(sample.on.sort().join(","));
      if (i === 6) hive.failAgent("quant-1", "thread exited with code 3");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const changed = [...seen.values()].filter((states) => states.size >= 2).length;
    expect(changed, `states seen: ${JSON.stringify([...seen].map(([a, s]) => [a, [...s]]))}`).toBeGreaterThanOrEqual(2);
    expect(lit.size, `lit agent states: ${[...lit].join(" | ")}`).toBeGreaterThanOrEqual(2);
    // The crash and the restart show up in the list of events.
    await page.waitFor(`[...document.querySelectorAll("#events li")].some((li) => li.textContent.includes("agent quant-1 crashed"))`);
    const completed = await page.evaluate<string>(`document.querySelector("#c-completed .v").textContent`);
    expect(Number(completed.replace(/k$/, "e3"))).toBeGreaterThan(0);

    // Only its own origin was asked for anything (the favicon is inline; data: URLs fetch nothing).
    const origin = new URL(server.url).origin;
    const foreign = requests.filter((u) => !u.startsWith("data:") && new URL(u).origin !== origin);
    expect(foreign).toEqual([]);
    expect(requests).toContain(`${origin}/events`);
    expect(await page.evaluate<string[]>("window.__violations")).toEqual([]);
    expect(problems).toEqual([]);

    // On screen: not blank, and the lit states' honey colour is there.
    const png = await page.screenshot();
    const dir = process.env.APIARY_SCREENSHOT_DIR;
    if (dir !== undefined && dir !== "") {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "dashboard.png"), png);
    }
    const pixels = readPng(png);
    expect(pixels.width).toBe(1400);
    expect(shareOfColour(pixels, [0xf5, 0xf6, 0xf8], 2) + shareOfColour(pixels, [0xff, 0xff, 0xff], 2)).toBeLessThan(0.97);
    expect(shareOfColour(pixels, [0xff, 0xe9, 0xa8], 6)).toBeGreaterThan(0.0005);
  });
});
