import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { createActor, createMachine } from "xstate";
import { startInspector } from "../../src/observe/inspect.ts";

const toggle = createMachine({ id: "toggle", initial: "off", states: { off: { on: { toggle: "on" } }, on: { on: { toggle: "off" } } } });

Deno.test("startInspector relays a real actor's events on Deno", async () => {
  await using inspector = await startInspector({ port: 0 });
  const socket = new WebSocket(inspector.wsUrl);
  const types: string[] = [];
  const done = new Promise<void>((resolve) => {
    socket.on("message", (data: { toString(): string }) => {
      const m = JSON.parse(data.toString()) as { type: string; event?: { type: string } };
      types.push(m.type === "@xstate.event" ? `event:${m.event?.type}` : m.type);
      if (types.includes("event:toggle")) resolve();
    });
  });
  await new Promise<void>((resolve) => socket.once("open", () => resolve()));
  const actor = createActor(toggle, { inspect: inspector.inspect }).start();
  actor.send({ type: "toggle" });
  await done;
  assert.ok(types.includes("@xstate.actor"));
  socket.terminate();
  actor.stop();
  // let @statelyai/inspect's per-event timers run out before the sanitizer looks
  await new Promise((resolve) => setTimeout(resolve, 20));
});

Deno.test("a trace written on Deno replays into the relay", async () => {
  const { createTraceWriter } = await import("../../src/observe/trace.ts");
  const { replayTrace } = await import("../../src/observe/inspect.ts");
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/t.jsonl`;
    const trace = createTraceWriter({ file });
    const actor = createActor(toggle, { inspect: trace }).start();
    actor.send({ type: "toggle" });
    await trace.close();
    actor.stop();
    await using inspector = await startInspector();
    assert.equal(await replayTrace(file, inspector), 5); // actor, 2 events, 2 snapshots
    // the relay counts a message when it arrives, which may be just after the send completes
    for (let i = 0; i < 200 && inspector.relayed < 5; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(inspector.relayed, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
