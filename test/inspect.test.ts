import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { assign, createActor, setup } from "xstate";
import { filterInspect, replayTrace, startInspector } from "../src/observe/inspect.ts";
import { createTraceWriter } from "../src/observe/trace.ts";

const counter = setup({ types: { context: {} as { count: number }, events: {} as { type: "inc" } } }).createMachine({
  id: "counter",
  context: { count: 0 },
  initial: "counting",
  states: { counting: { on: { inc: { actions: assign({ count: ({ context }) => context.count + 1 }) } } } },
});

interface Message {
  type: string;
  sessionId: string;
  name?: string;
  definition?: string;
  createdAt?: string;
  id?: string | null;
  event?: { type: string };
  snapshot?: { context?: { count: number }; value?: unknown; status?: string };
}

/** A viewer on the relay (what the bridge page is): collects messages, resolves when `until` holds. */
async function viewer(wsUrl: string): Promise<{ messages: Message[]; until(test: (m: Message[]) => boolean): Promise<void>; close(): void }> {
  const socket = new WebSocket(wsUrl);
  const messages: Message[] = [];
  const waiters: (() => void)[] = [];
  socket.on("message", (data) => {
    messages.push(JSON.parse(data.toString()) as Message);
    for (const w of waiters) w();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return {
    messages,
    until: (test) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`viewer timed out with ${JSON.stringify(messages.map((m) => m.type))}`)), 5_000);
        const check = () => {
          if (test(messages)) {
            clearTimeout(timer);
            resolve();
          }
        };
        waiters.push(check);
        check();
      }),
    close: () => socket.terminate(),
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "apiary-inspect-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("startInspector", () => {
  it("relays a real actor's events over loopback to a WebSocket viewer", async () => {
    await using inspector = await startInspector({ port: 0 });
    expect(inspector.url).toBe(`http://127.0.0.1:${inspector.port}`);
    expect(inspector.wsUrl).toBe(`ws://127.0.0.1:${inspector.port}`);
    const view = await viewer(inspector.wsUrl);
    const actor = createActor(counter, { inspect: inspector.inspect }).start();
    actor.send({ type: "inc" });
    actor.send({ type: "inc" });
    await view.until((m) => m.some((x) => x.type === "@xstate.snapshot" && x.snapshot?.context?.count === 2));
    const actorMessage = view.messages.find((m) => m.type === "@xstate.actor");
    expect(actorMessage).toMatchObject({ sessionId: actor.sessionId, name: "counter" });
    expect(JSON.parse(actorMessage?.definition as string)).toMatchObject({ id: "counter" });
    expect(view.messages.filter((m) => m.type === "@xstate.event").map((m) => m.event?.type)).toEqual(["xstate.init", "inc", "inc"]);
    view.close();
    actor.stop();
  });

  it("serves its dashboard at /, the page framing Stately's inspector at /stately, and 404 elsewhere", async () => {
    await using inspector = await startInspector({ inspectorUrl: "https://example.test/inspect?a=1&b=2" });
    expect(inspector.statelyUrl).toBe(`${inspector.url}/stately`);
    const dashboard = await fetch(inspector.url);
    expect(dashboard.status).toBe(200);
    expect(dashboard.headers.get("content-security-policy")).toMatch(/^default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self'/);
    expect(await dashboard.text()).toContain("<title>apiary inspector relay</title>");
    const page = await fetch(inspector.statelyUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await page.text();
    expect(html).toContain(`new WebSocket("${inspector.wsUrl}")`);
    expect(html).toContain('src="https://example.test/inspect?a=1&amp;b=2"');
    expect((await fetch(`${inspector.url}/other`)).status).toBe(404);
  });

  it("brings a viewer that connects late up to date: each live actor's registration, then its latest snapshot, then the stream", async () => {
    await using inspector = await startInspector();
    const actor = createActor(counter, { inspect: filterInspect(inspector.inspect, { types: ["@xstate.actor", "@xstate.event", "@xstate.snapshot"] }) }).start();
    for (let i = 0; i < 5; i++) actor.send({ type: "inc" });
    const late = await viewer(inspector.wsUrl);
    await late.until((m) => m.length >= 2);
    // Not the five events before it connected: the actor as it is now.
    expect(late.messages.map((m) => m.type)).toEqual(["@xstate.actor", "@xstate.snapshot"]);
    expect(late.messages[0]).toMatchObject({ sessionId: actor.sessionId, name: "counter", id: null, snapshot: { status: "active", value: "counting", context: { count: 5 } } });
    expect(late.messages[1]).toMatchObject({ sessionId: actor.sessionId, snapshot: { value: "counting", context: { count: 5 } }, event: { type: "inc" } });
    expect(Math.abs(Number(late.messages[0]!.createdAt) - Date.now())).toBeLessThan(10_000);
    actor.send({ type: "inc" });
    await late.until((m) => m.some((x) => x.snapshot?.context?.count === 6));
    expect(late.messages.slice(2).map((m) => m.type)).toEqual(["@xstate.event", "@xstate.snapshot"]);
    // Three events in one turn: each event, and the actor's snapshot once, as it ends the turn.
    for (let i = 0; i < 3; i++) actor.send({ type: "inc" });
    await late.until((m) => m.some((x) => x.snapshot?.context?.count === 9));
    expect(late.messages.slice(4).map((m) => m.type)).toEqual(["@xstate.event", "@xstate.event", "@xstate.event", "@xstate.snapshot"]);
    late.close();
  });

  it("drops actors that stop, so a late viewer sees only live ones and memory follows the live actors, even when snapshots are sampled", async () => {
    await using inspector = await startInspector();
    const observe = filterInspect(inspector.inspect, { sample: { "@xstate.snapshot": 1_000 } });
    const keep = createActor(counter, { inspect: observe }).start();
    for (let i = 0; i < 2_000; i++) {
      const passing = createActor(counter, { inspect: observe }).start();
      passing.send({ type: "inc" });
      passing.stop();
    }
    expect(inspector.actors).toBe(1);
    const late = await viewer(inspector.wsUrl);
    await late.until((m) => m.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(late.messages.map((m) => [m.type, m.sessionId])).toEqual([
      ["@xstate.actor", keep.sessionId],
      ["@xstate.snapshot", keep.sessionId],
    ]);
    late.close();
  });

  it("holds back a viewer that falls behind, then brings it up to date again instead of queueing without bound", async () => {
    await using inspector = await startInspector();
    const big = setup({ types: { context: {} as { blob: string; n: number }, events: {} as { type: "inc" } } }).createMachine({
      id: "big",
      context: { blob: "x".repeat(20_000), n: 0 },
      on: { inc: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
    });
    const actor = createActor(big, { inspect: inspector.inspect }).start();
    const socket = new WebSocket(inspector.wsUrl);
    const received: Message[] = [];
    socket.on("message", (data) => void received.push(JSON.parse(data.toString()) as Message));
    await new Promise<void>((resolve) => socket.once("open", () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.pause(); // a viewer that reads nothing for a while
    for (let i = 0; i < 2_000; i++) {
      actor.send({ type: "inc" });
      await null; // a turn each: the relay sends one snapshot (20 kB) per actor and turn
    }
    socket.resume();
    // Caught up: it gets the actor again (its registration and latest snapshot), then the stream.
    actor.send({ type: "inc" });
    for (let i = 0; i < 200 && !received.some((m) => m.type === "@xstate.snapshot" && ((m.snapshot?.context as { n?: number } | undefined)?.n ?? 0) >= 2_001); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      actor.send({ type: "inc" });
    }
    const registrations = received.filter((m) => m.type === "@xstate.actor");
    expect(registrations.length).toBeGreaterThanOrEqual(2);
    // Far fewer than the 4,000 messages sent while it was paused.
    expect(received.length).toBeLessThan(3_000);
    socket.terminate();
  });

  it("closes on abort and frees its port", async () => {
    const controller = new AbortController();
    const inspector = await startInspector({ signal: controller.signal });
    controller.abort();
    await inspector.close();
    await expect(fetch(inspector.url)).rejects.toThrow();
  });

  it("rejects a port in use with SERVE_FAILED and bad options with INVALID_OPTIONS", async () => {
    await using first = await startInspector();
    await expect(startInspector({ port: first.port })).rejects.toMatchObject({ code: "SERVE_FAILED" });
    await expect(startInspector({ inspectorUrl: "ftp://x" })).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining('"inspectorUrl" must be an http(s) URL, received "ftp://x"'),
    });
  });
});

describe("replayTrace", () => {
  it("sends a recorded trace into the relay as the inspector's events, in order", async () => {
    const file = join(dir, "run.jsonl");
    const trace = createTraceWriter({ file });
    const actor = createActor(counter, { inspect: trace }).start();
    actor.send({ type: "inc" });
    actor.send({ type: "inc" });
    actor.send({ type: "inc" });
    await trace.close();

    await using inspector = await startInspector();
    const view = await viewer(inspector.wsUrl);
    const sent = await replayTrace(file, inspector);
    // 1 actor + 4 events + 4 snapshots (microsteps and actions have no inspector counterpart)
    expect(sent).toBe(9);
    await view.until((m) => m.length >= 9);
    expect(view.messages.map((m) => m.type)).toEqual([
      "@xstate.actor",
      "@xstate.event",
      "@xstate.snapshot",
      "@xstate.event",
      "@xstate.snapshot",
      "@xstate.event",
      "@xstate.snapshot",
      "@xstate.event",
      "@xstate.snapshot",
    ]);
    expect(view.messages.every((m) => m.sessionId === actor.sessionId)).toBe(true);
    // The live stream's shape: epoch createdAt, no id, the actor's snapshot with its state value.
    expect(view.messages[0]).toMatchObject({ name: "counter", id: null, snapshot: { status: "active", value: "counting", context: { count: 0 } } });
    for (const m of view.messages) {
      expect(m.id).toBeNull();
      expect(Math.abs(Number(m.createdAt) - Date.now())).toBeLessThan(60_000);
    }
    expect(view.messages.at(-1)?.snapshot).toMatchObject({ value: "counting", status: "active", context: { count: 3 } });
    view.close();
  });

  it("keeps the replayed actors that are still alive for a viewer that connects after the replay", async () => {
    const file = join(dir, "alive.jsonl");
    const trace = createTraceWriter({ file });
    const gone = createActor(counter, { inspect: trace }).start();
    const alive = createActor(counter, { inspect: trace }).start();
    alive.send({ type: "inc" });
    gone.stop();
    await trace.close();

    await using inspector = await startInspector();
    await replayTrace(file, inspector);
    for (let i = 0; i < 200 && inspector.actors !== 1; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(inspector.actors).toBe(1);
    const late = await viewer(inspector.wsUrl);
    await late.until((m) => m.length >= 2);
    expect(late.messages.map((m) => [m.type, m.sessionId])).toEqual([
      ["@xstate.actor", alive.sessionId],
      ["@xstate.snapshot", alive.sessionId],
    ]);
    expect(late.messages[1]?.snapshot?.context?.count).toBe(1);
    late.close();
  });

  it("paces a replay by the trace's own clock at the speed asked", async () => {
    const file = join(dir, "paced.jsonl");
    let now = 0;
    const trace = createTraceWriter({ file, now: () => now });
    const actor = createActor(counter, { inspect: trace }).start();
    now = 400; // the trace's clock: 400 ms later
    actor.send({ type: "inc" });
    await trace.close();
    await using inspector = await startInspector();
    const t0 = performance.now();
    await replayTrace(file, inspector, { speed: 4 }); // 400 ms at 4x: about 100 ms
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
    await expect(replayTrace(file, inspector, { speed: 0 })).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining('"speed" must be a positive number, received 0') });
  });

  it("rejects a line that is not a trace record with TRACE_FAILED naming the line", async () => {
    const file = join(dir, "bad.jsonl");
    await writeFile(file, '{"seq":1,"at":0,"type":"@xstate.event","rootId":"x:0","actor":{"id":"a","sessionId":"x:0"},"event":{"type":"go"}}\nnot json\n');
    await using inspector = await startInspector();
    await expect(replayTrace(file, inspector)).rejects.toMatchObject({ code: "TRACE_FAILED", message: expect.stringContaining("line 2 is not JSON") });
    await expect(replayTrace(join(dir, "missing.jsonl"), inspector)).rejects.toMatchObject({ code: "TRACE_FAILED" });
  });
});
