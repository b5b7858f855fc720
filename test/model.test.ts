// Model-based tests: an abstract model of the Agent's and the Supervisor's lifecycles is walked
// with @xstate/graph; every edge (shortest path to a state, then each event) is replayed on the
// real machines, and the real state must match the model's at every step.
import { getShortestPaths } from "@xstate/graph";
import { assign, createActor, createMachine, SimulatedClock } from "xstate";
import { describe, expect, it } from "vitest";
import type { AgentEvent } from "../actors/agent.ts";
import type { ReadyTask } from "../actors/types.ts";
import { createHive } from "../src/index.ts";
import { fixtureTasks, harness, inlineBackend, settle, sharedFlag, tree } from "./helpers.ts";

type Ev = { type: "ASSIGN" } | { type: "DONE" } | { type: "FAIL" } | { type: "RESTART" } | { type: "READY" };
const EVENTS: Ev[] = [{ type: "ASSIGN" }, { type: "DONE" }, { type: "FAIL" }, { type: "RESTART" }, { type: "READY" }];

/** The Agent as its users see it, concurrency 2. */
const agentModel = createMachine({
  types: {} as { context: { busy: number }; events: Ev },
  context: { busy: 0 },
  initial: "idle",
  states: {
    idle: { on: { ASSIGN: { target: "busy", actions: assign({ busy: 1 }) }, FAIL: "failed" } },
    busy: {
      on: {
        ASSIGN: { target: "saturated", actions: assign({ busy: 2 }) },
        DONE: { target: "idle", actions: assign({ busy: 0 }) },
        FAIL: { target: "failed", actions: assign({ busy: 0 }) },
      },
    },
    saturated: {
      on: {
        DONE: { target: "busy", actions: assign({ busy: 1 }) },
        FAIL: { target: "failed", actions: assign({ busy: 0 }) },
      },
    },
    failed: { on: { RESTART: "restarting" } },
    restarting: { on: { READY: "idle" } },
  },
});

/** Every edge of the model: the shortest path to each state, then each event it accepts. */
function edges<M extends typeof agentModel | typeof supervisorModel>(model: M, events: Ev[] | SEv[]) {
  const out: { events: { type: string }[]; states: string[] }[] = [];
  for (const path of getShortestPaths(model as typeof agentModel, { events: events as Ev[] })) {
    for (const e of events) {
      const snap = path.state;
      if (!snap.can(e as never)) continue;
      const steps = [...path.steps.slice(1).map((s) => s.event), e];
      const states: string[] = [];
      const actor = createActor(model as typeof agentModel).start();
      for (const ev of steps) {
        actor.send(ev as never);
        states.push(String(actor.getSnapshot().value));
      }
      out.push({ events: steps, states });
    }
  }
  return out;
}

describe("Agent, model-based", () => {
  const cases = edges(agentModel, EVENTS);
  it("covers every transition of the model", () => {
    expect(cases.length).toBeGreaterThanOrEqual(9);
  });
  it.each(cases.map((c) => [c.events.map((e) => e.type).join(" → "), c] as const))("%s", async (_name, c) => {
    const clock = new SimulatedClock();
    const { agent } = tree(await inlineBackend(), clock);
    const { ref } = harness(agent, { id: "a", capabilities: {}, concurrency: 2 }, clock);
    const running: string[] = [];
    let n = 0;
    const task = (id: string): ReadyTask => ({ id, kind: "waitAbort", input: { flag: sharedFlag().flag }, requires: {}, priority: "normal", timeoutMs: 60_000, attempt: 1, enqueuedAt: 0 });
    for (let i = 0; i < c.events.length; i++) {
      const e = c.events[i]!.type;
      let real: AgentEvent;
      if (e === "ASSIGN") {
        const id = `t${++n}`;
        running.push(id);
        real = { type: "agent.assign", assignments: [{ task: task(id), seq: n }], at: 0 };
      } else if (e === "DONE") real = { type: "agent.cancel", ids: [running.shift()!], reason: "done", at: 0 };
      else if (e === "FAIL") {
        running.length = 0;
        real = { type: "agent.fail", reason: "model", at: 0 };
      } else if (e === "RESTART") real = { type: "agent.restart", at: 0 };
      else real = { type: "agent.ready", at: 0 };
      ref.send(real);
      await settle();
      expect(ref.getSnapshot().value).toBe(c.states[i]);
      expect((ref.getSnapshot().context as { busy: number }).busy).toBe(running.length);
    }
  });
});

type SEv = { type: "CRASH" } | { type: "BACKOFF_ELAPSED" };

/** An agent as its Supervisor sees it: at most 2 restarts in the window, then it fails for good. */
const supervisorModel = createMachine({
  types: {} as { context: { restarts: number }; events: SEv },
  context: { restarts: 0 },
  initial: "up",
  states: {
    up: {
      on: {
        CRASH: [
          { guard: ({ context }) => context.restarts < 2, target: "restarting", actions: assign({ restarts: ({ context }) => context.restarts + 1 }) },
          { target: "failed" },
        ],
      },
    },
    restarting: { on: { BACKOFF_ELAPSED: "up" } },
    failed: {},
  },
});

describe("Supervisor, model-based", () => {
  const cases = edges(supervisorModel as never, [{ type: "CRASH" }, { type: "BACKOFF_ELAPSED" }] as SEv[]);
  it("covers every transition of the model", () => {
    expect(cases.length).toBeGreaterThanOrEqual(5);
  });
  it.each(cases.map((c) => [c.events.map((e) => e.type).join(" → "), c] as const))("%s", async (_name, c) => {
    const clock = new SimulatedClock();
    const hive = createHive({
      backend: "inline",
      tasks: fixtureTasks,
      clock,
      agents: [{ id: "a" }],
      supervision: { maxRestarts: 2, withinMs: 1_000_000, backoff: { minMs: 100, maxMs: 100, jitter: 0 } },
    });
    await hive.start();
    try {
      for (let i = 0; i < c.events.length; i++) {
        if (c.events[i]!.type === "CRASH") hive.failAgent("a", "model");
        else clock.increment(100);
        await settle();
        const a = hive.stats().agents[0]!;
        expect(a.status).toBe(c.states[i]);
        expect(hive.stats().degraded !== null).toBe(c.states[i] === "failed");
      }
    } finally {
      await hive.stop();
    }
  });
});
