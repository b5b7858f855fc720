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
  event?: { type: string };
  snapshot?: { context?: { count: number }; value?: unknown };
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

  it("serves the page a person opens, pointing at its own WebSocket, and 404 elsewhere", async () => {
    await using inspector = await startInspector({ inspectorUrl: "https://example.test/inspect?a=1&b=2" });
    const page = await fetch(inspector.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await page.text();
    expect(html).toContain(`new WebSocket("${inspector.wsUrl}")`);
    expect(html).toContain('src="https://example.test/inspect?a=1&amp;b=2"');
    expect((await fetch(`${inspector.url}/other`)).status).toBe(404);
  });

  it("replays buffered messages to a viewer that connects late, and filters through filterInspect", async () => {
    await using inspector = await startInspector({ maxBuffered: 50 });
    const actor = createActor(counter, { inspect: filterInspect(inspector.inspect, { types: ["@xstate.actor", "@xstate.event"] }) }).start();
    actor.send({ type: "inc" });
    // @statelyai/inspect hands events on in a timer; wait until the relay has them.
    await new Promise<void>((resolve) => {
      const poll = () => (inspector.relayed >= 3 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    const late = await viewer(inspector.wsUrl);
    await late.until((m) => m.length >= 3);
    expect(late.messages.map((m) => m.type)).toEqual(["@xstate.actor", "@xstate.event", "@xstate.event"]);
    late.close();
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
    expect(view.messages[0]).toMatchObject({ name: "counter" });
    expect(view.messages.at(-1)?.snapshot?.context?.count).toBe(3);
    view.close();
  });

  it("rejects a line that is not a trace record with TRACE_FAILED naming the line", async () => {
    const file = join(dir, "bad.jsonl");
    await writeFile(file, '{"seq":1,"at":0,"type":"@xstate.event","rootId":"x:0","actor":{"id":"a","sessionId":"x:0"},"event":{"type":"go"}}\nnot json\n');
    await using inspector = await startInspector();
    await expect(replayTrace(file, inspector)).rejects.toMatchObject({ code: "TRACE_FAILED", message: expect.stringContaining("line 2 is not JSON") });
    await expect(replayTrace(join(dir, "missing.jsonl"), inspector)).rejects.toMatchObject({ code: "TRACE_FAILED" });
  });
});
