// The Stately inspector's own receiver (`createWebSocketReceiver` from @statelyai/inspect), connected
// to the relay 2 s after a busy hive started (with an agent crashed and restarted meanwhile), gets
// every live actor — a registration whose definition rebuilds with createMachine, and a snapshot
// with its state — before anything else, and nothing about the actors that stopped before it came.
import { createWebSocketReceiver, type StatelyInspectionEvent, type StatelySnapshotEvent } from "@statelyai/inspect";
import { afterEach, describe, expect, it } from "vitest";
import { type AnyActorRef, createMachine, type InspectionEvent } from "xstate";
import { createHive, type Hive } from "../src/index.ts";
import { type InspectorRelay, startInspector } from "../src/observe/inspect.ts";

const tasks = new URL("./fixtures/dashboard-tasks.mjs", import.meta.url);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("a viewer that connects late", () => {
  it("gets every live actor of a busy hive with a definition that rebuilds and its snapshot, and nothing about stopped ones", { timeout: 30_000 }, async () => {
    const relay: InspectorRelay = await startInspector();
    cleanups.push(() => relay.close());
    // Ground truth, beside the relay: the actors alive, and those that stopped.
    const alive = new Map<string, AnyActorRef>();
    const stopped = new Set<string>();
    const hive: Hive = createHive({
      backend: "inline",
      tasks,
      agents: [{ id: "a", concurrency: 4 }, { id: "b", concurrency: 2 }, { id: "c", concurrency: 1 }],
      defaults: { retries: 0 },
      inspect: (event: InspectionEvent) => {
        if (event.type === "@xstate.actor") alive.set(event.actorRef.sessionId, event.actorRef as AnyActorRef);
        if (event.type === "@xstate.snapshot" && (event.snapshot as { status: string }).status !== "active") {
          alive.delete(event.actorRef.sessionId);
          stopped.add(event.actorRef.sessionId);
        }
        relay.inspect(event);
      },
    });
    cleanups.push(() => hive.stop());
    await hive.start();
    // Busy: a steady stream of overlapping tasks (thousands of inspection messages a second).
    let n = 0;
    const load = setInterval(() => {
      for (let i = 0; i < 10; i++) void hive.run({ kind: "sleep", input: { ms: 5 + (n++ % 40) } }).catch(() => {});
    }, 10);
    cleanups.push(async () => clearInterval(load));
    setTimeout(() => hive.failAgent("b", "drill"), 800); // its worker stops and a new one starts
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(relay.relayed).toBeGreaterThan(2_000);
    expect(stopped.size).toBeGreaterThan(0);

    const received: StatelyInspectionEvent[] = [];
    const receiver = createWebSocketReceiver({ server: relay.wsUrl });
    receiver.subscribe((event) => void received.push(event));
    const liveAtConnect = new Set(alive.keys());
    const stoppedAtConnect = new Set(stopped);
    // The census arrives first; wait until every actor alive at connection has its snapshot.
    const snapshotOf = (id: string) => received.find((m): m is StatelySnapshotEvent => m.type === "@xstate.snapshot" && m.sessionId === id);
    for (let i = 0; i < 100 && ![...liveAtConnect].every((id) => snapshotOf(id) !== undefined || !alive.has(id)); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    clearInterval(load);

    const registered = new Set<string>();
    for (const m of received) {
      if (m.type === "@xstate.actor") {
        registered.add(m.sessionId);
        expect(stoppedAtConnect.has(m.sessionId), `registration of stopped actor ${m.name}`).toBe(false);
        const definition = JSON.parse(m.definition!) as { id?: string; states?: object };
        if (definition.states !== undefined) expect(() => createMachine(definition as never)).not.toThrow();
      } else {
        // Everything it hears is about an actor it was told of first: it can draw all of it.
        expect(registered.has(m.sessionId), `${m.type} about an unknown actor`).toBe(true);
      }
    }
    const names = received.filter((m) => m.type === "@xstate.actor").map((m) => (m as { name: string }).name);
    for (const name of ["queen", "supervisor", "a", "b", "c", "worker", "port"]) expect(names).toContain(name);
    for (const id of liveAtConnect) {
      if (!alive.has(id)) continue; // stopped since (a worker of a crashed agent): fine either way
      expect(registered.has(id), `live actor ${alive.get(id)!.id} not registered`).toBe(true);
      const snapshot = snapshotOf(id)?.snapshot as { status?: string; value?: unknown } | undefined;
      expect(snapshot?.status, `no snapshot for ${alive.get(id)!.id}`).toBe("active");
      if ((alive.get(id) as unknown as { logic: { config?: { states?: object } } }).logic.config?.states !== undefined) expect(snapshot?.value).toBeDefined();
    }
  });
});
