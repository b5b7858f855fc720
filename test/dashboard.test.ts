// The live dashboard, server side: the page and its Content-Security-Policy, the event stream a
// running hive feeds (diagrams, frames, events), the relay's dashboard fed by a replayed trace,
// and the state diagrams themselves.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createActor, setup } from "xstate";
import { createDashboard, createHive, type Hive } from "../src/index.ts";
import type { DashboardFrame } from "../src/observe/dashboard.ts";
import { activePaths, renderMachine } from "../src/observe/diagram.ts";
import { replayTrace, startInspector } from "../src/observe/inspect.ts";
import { createTraceWriter } from "../src/observe/trace.ts";

const tasks = new URL("./fixtures/dashboard-tasks.mjs", import.meta.url);
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started(): Promise<Hive> {
  const hive = createHive({ backend: "inline", tasks, agents: [{ id: "a", concurrency: 2 }, { id: "b", concurrency: 1 }], defaults: { retries: 0 } });
  cleanups.push(() => hive.stop());
  await hive.start();
  return hive;
}

/** Reads an event stream: collects its messages; `until` resolves once one matches. */
function stream(
  url: string,
): { messages: { event: string; data: unknown }[]; until(test: (m: { event: string; data: unknown }) => boolean, timeoutMs?: number): Promise<{ event: string; data: unknown }>; close(): void } {
  const messages: { event: string; data: unknown }[] = [];
  const controller = new AbortController();
  const waiters = new Set<() => void>();
  void (async () => {
    const response = await fetch(url, { signal: controller.signal });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) messages.push({ event, data: JSON.parse(data) });
      }
      for (const w of waiters) w();
    }
  })().catch(() => {});
  return {
    messages,
    until: (test, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching message in ${JSON.stringify(messages.map((m) => m.event))}`)), timeoutMs);
        const check = (): void => {
          const m = messages.find(test);
          if (m === undefined) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        };
        waiters.add(check);
        check();
      }),
    close: () => controller.abort(),
  };
}

describe("hive.serve() dashboard", () => {
  it("serves a self-contained page at / whose policy allows its own inline script and style by hash and nothing from elsewhere", async () => {
    const hive = await started();
    const server = await hive.serve({ port: 0 });
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await response.text();
    const csp = response.headers.get("content-security-policy")!;
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    const style = /<style>([\s\S]*)<\/style>/.exec(html)![1]!;
    const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    expect(csp).toBe(
      `default-src 'none'; script-src ${hash(script)}; style-src ${hash(style)}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    // No reference to anything outside the page's own origin (the SVG namespace is a name, not a fetch).
    expect(html.replaceAll("http://www.w3.org/2000/svg", "")).not.toMatch(/(https?:)?\/\/[a-z]/i);
    expect(html).toContain('new EventSource("events")');
    expect((await fetch(`${server.url}/`, { method: "HEAD" })).status).toBe(200);
    expect((await fetch(`${server.url}/`, { method: "POST" })).status).toBe(405);
    // The health routes are still there beside it.
    expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
  });

  it("streams the machines' diagrams, frames with every agent, the queue and the counts, and restarts as they happen", async () => {
    const hive = await started();
    const server = await hive.serve({ port: 0 });
    const events = stream(`${server.url}/events`);
    cleanups.push(async () => events.close());
    const machines = (await events.until((m) => m.event === "machines" && (m.data as { machines: unknown[] }).machines.length >= 3)).data as { machines: { kind: string; svg: string }[] };
    const kinds = machines.machines.map((m) => m.kind);
    expect(kinds).toEqual(expect.arrayContaining(["queen", "supervisor", "agent"]));
    const agentSvg = machines.machines.find((m) => m.kind === "agent")!.svg;
    for (const state of ["idle", "busy", "saturated", "failed", "restarting", "stopped"]) expect(agentSvg).toContain(`data-count="${state}"`);

    const first = (await events.until((m) => m.event === "frame")).data as DashboardFrame;
    expect(first.agents.map((a) => a.id)).toEqual(["a", "b"]);
    expect(first.status).toMatchObject({ state: "accepting", backend: "inline" });
    expect(Object.keys(first.queue!)).toEqual(["critical", "high", "normal", "low", "background"]);

    // Work that takes a while, and a crash: the frames follow, the restart shows as it happens.
    // 30 tasks of 300 ms on 3 slots: 3 s of work, so the first frames see a queue.
    const runs = Array.from({ length: 30 }, (_, i) => hive.run({ kind: "sleep", input: { ms: 300 }, priority: i % 2 === 0 ? "low" : "high" }).catch(() => undefined));
    const busy = (await events.until((m) => m.event === "frame" && (m.data as DashboardFrame).agents.some((a) => a.busy > 0))).data as DashboardFrame;
    expect(busy.machines.find((m) => m.kind === "agent")!.states).toMatchObject({ saturated: 2 });
    expect(busy.queue!["low"]! + busy.queue!["high"]!).toBeGreaterThan(0);
    hive.failAgent("b", "drill");
    const restart = (await events.until((m) => m.event === "event" && (m.data as { kind: string }).kind === "agent.restarting")).data;
    expect(restart).toMatchObject({ level: "info", text: expect.stringContaining("agent b restarting") });
    await Promise.all(runs);
    const done = (await events.until((m) => m.event === "frame" && ((m.data as DashboardFrame).tasks?.["completed"] ?? 0) >= 1)).data as DashboardFrame;
    expect(done.latency).toMatchObject({ windowMs: 300_000 });
    expect(done.latency!.count).toBeGreaterThan(0);
  });

  it("refuses a source that is not one, and bad options, naming the field", () => {
    expect(() => createDashboard({ title: "x" } as never)).toThrow(/Cannot create dashboard: "source.sample" must be a function, received undefined/);
    expect(() => createDashboard({ title: "x", sample: () => ({ actors: [] }) }, { intervalMs: 0 })).toThrow(/"options.intervalMs" must be a positive integer, received 0/);
  });

  it("ends open event streams when the server closes, so closing does not wait for viewers", async () => {
    const hive = await started();
    const server = await hive.serve({ port: 0 });
    const events = stream(`${server.url}/events`);
    await events.until((m) => m.event === "frame");
    const t0 = performance.now();
    await server.close();
    expect(performance.now() - t0).toBeLessThan(1_000);
    events.close();
  });
});

describe("the relay's dashboard", () => {
  it("shows the machines and agents of a hive trace replayed into it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "apiary-dashboard-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, "hive.jsonl");
    // A trace of a hive still running when it ends (closed before the hive stops).
    const trace = createTraceWriter({ file });
    const hive = createHive({ backend: "inline", tasks, agents: [{ id: "solo", concurrency: 1 }], inspect: trace });
    cleanups.push(() => hive.stop());
    await hive.start();
    await hive.run({ kind: "sleep", input: { ms: 5 } });
    await trace.close();

    const relay = await startInspector();
    cleanups.push(() => relay.close());
    const events = stream(`${relay.url}/events`);
    cleanups.push(async () => events.close());
    await replayTrace(file, relay);
    const frame = (await events.until((m) => m.event === "frame" && (m.data as DashboardFrame).agents.length === 1, 20_000)).data as DashboardFrame;
    expect(frame.agents[0]).toMatchObject({ id: "solo", concurrency: 1, breaker: "closed" });
    expect(frame.machines.map((m) => m.kind)).toEqual(expect.arrayContaining(["queen", "supervisor", "agent"]));
    expect(frame.status?.state).toBe("accepting");
    await events.until((m) => m.event === "machines" && (m.data as { machines: { kind: string }[] }).machines.some((d) => d.kind === "agent"));
  });
});

describe("state diagrams", () => {
  const machine = setup({}).createMachine({
    id: "door",
    initial: "closed",
    on: { "door.break": ".broken" },
    states: {
      closed: { on: { open: "opened", lock: "locked.engaged" } },
      opened: { on: { close: "closed" }, after: { 5000: "closed" } },
      locked: { initial: "engaged", states: { engaged: { on: { release: "releasing" } }, releasing: { always: "#door.closed" } } },
      broken: { type: "final" },
    },
  });

  it("draws every state (nested ones inside their parent) with a count slot, transitions labelled, final states framed twice", async () => {
    const svg = await renderMachine(machine.config, "door<1>");
    for (const path of ["closed", "opened", "locked", "locked.engaged", "locked.releasing", "broken"]) {
      expect(svg).toContain(`data-state="${path}"`);
      expect(svg).toContain(`data-count="${path}"`);
    }
    expect(svg).toContain('data-machine="door&lt;1&gt;"');
    expect(svg).toContain('marker id="arrow-door_1_"');
    for (const label of [">open<", ">close, after 5000<", ">release<", ">always<", ">door.break<"]) expect(svg).toContain(label);
    expect(svg).toContain("any state");
    expect(svg.match(/class="final"/g)).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|undefined/);
  });

  it("counts actors in a state and its ancestors", () => {
    const actor = createActor(machine).start();
    actor.send({ type: "lock" });
    expect(activePaths(actor.getSnapshot().value)).toEqual(["locked", "locked.engaged"]);
    expect(activePaths("idle")).toEqual(["idle"]);
    expect(activePaths({ a: "x", b: { c: "y" } })).toEqual(["a", "a.x", "b", "b.c", "b.c.y"]);
  });
});
