/**
 * The hive's observability on Deno: metrics text, the health server over a real socket, and a
 * hive connected to the inspector relay (offline: everything on loopback).
 *
 * @module
 */
import { WebSocket } from "ws";
import { createHive, inspectHive } from "../../src/index.ts";
import { assertEquals } from "./assert.ts";

const tasks = new URL("../fixtures/tasks.mjs", import.meta.url);

Deno.test("a hive on Deno serves its metrics and readiness on 127.0.0.1", async () => {
  await using hive = createHive({ backend: "inline", tasks, agents: [{ id: "a" }] });
  await hive.start();
  await hive.run({ kind: "double", input: { n: 1 } });
  const server = await hive.serve({ port: 0 });
  const text = await (await fetch(`${server.url}/metrics`)).text();
  assertEquals(text.includes('apiary_tasks_total{kind="double",outcome="completed"} 1\n'), true);
  const ready = await fetch(`${server.url}/health/ready`);
  assertEquals(ready.status, 200);
  assertEquals(await ready.json(), { ready: true });
  await hive.stop();
});

Deno.test("inspectHive on Deno relays the hive's actors to a viewer", async () => {
  await using inspected = await inspectHive({ backend: "inline", tasks, agents: [{ id: "a" }] });
  const socket = new WebSocket(inspected.relay.wsUrl);
  const types = new Set<string>();
  const sawSubmit = new Promise<void>((resolve) => {
    socket.on("message", (data: { toString(): string }) => {
      const m = JSON.parse(data.toString()) as { type: string; event?: { type?: string } };
      types.add(m.type);
      if (m.event?.type === "queen.submit") resolve();
    });
  });
  await new Promise<void>((resolve) => socket.once("open", () => resolve()));
  await inspected.hive.start();
  assertEquals(await inspected.hive.run({ kind: "double", input: { n: 3 } }), 6);
  await sawSubmit;
  assertEquals(types.has("@xstate.actor"), true);
  socket.terminate();
  await inspected.close();
  // let @statelyai/inspect's per-event timers run out before the sanitizer looks
  await new Promise((resolve) => setTimeout(resolve, 20));
});
