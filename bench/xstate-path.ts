/**
 * The floor under `simulate`: raw XState machines wired the way a task travels through a hive —
 * Queen → Supervisor → Agent → Worker → port and back, nine actor events per task
 * (`submit`, `enqueue`, `assign`, `run`, `started`, `outcome`, `done` at the Agent, `done` at the
 * Supervisor, `finished`) — with the same states (Agent idle / busy / saturated by its slots,
 * Worker idle / running) and the Queen's three lifecycle emissions per task, but no work in any
 * action: no scoring, no records, no clock, no report. With a fixed number in flight, each task
 * goes to the least loaded agent and a random one of those in flight ends next, so agents change
 * state about as often as in the simulation: `stateChanges()` gives the share of Agent events
 * that changed the Agent's state (≈ 25% at 320 in flight on 100 × 4 slots; the bench swarm's
 * simulation: 28%).
 *
 * What it costs is what XState itself charges for the route; `simulate` cannot go faster than
 * this without fewer events per task.
 *
 * @module
 */
import { type ActorRefFrom, createActor, emit, enqueueActions, fromCallback, sendParent, sendTo, setup } from "xstate";

type Done = () => void;

/** A hive-shaped chain of raw machines; `run(n)` pushes `n` tasks through it. */
export function createXStatePath(agents: number, slots: number, inFlight: number): { run(tasks: number): void; stateChanges(): number; stop(): void } {
  const due: Done[] = [];
  let seed = 0x9e3779b9;
  /** xorshift32: a fixed sequence, so every run of the bench does the same work. */
  const draw = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4_294_967_296;
  };
  let changes = 0;
  let agentEvents = 0;
  const port = fromCallback<{ type: "port.exec"; id: number }>(({ receive, sendBack }) => {
    receive((e) => {
      due.push(() => sendBack({ type: "worker.outcome", id: e.id }));
    });
  });
  const worker = setup({
    types: { context: {} as { running: number }, events: {} as { type: "worker.run"; id: number } | { type: "worker.outcome"; id: number } },
    actors: { port },
    actions: {
      run: enqueueActions(({ context, event, enqueue }) => {
        context.running++;
        enqueue.sendTo("port", { type: "port.exec", id: event.id });
      }),
      settle: enqueueActions(({ context, event, enqueue }) => {
        context.running--;
        enqueue(sendParent({ type: "agent.done", id: event.id }));
      }),
    },
  }).createMachine({
    context: { running: 0 },
    invoke: { id: "port", src: "port" },
    initial: "idle",
    states: {
      idle: { on: { "worker.run": { target: "running", actions: "run" } } },
      running: {
        on: {
          "worker.run": { actions: "run" },
          "worker.outcome": [{ guard: ({ context }) => context.running === 1, target: "idle", actions: "settle" }, { actions: "settle" }],
        },
      },
    },
  });
  type AgentEv = { type: "agent.assign"; id: number } | { type: "agent.done"; id: number };
  const agent = setup({
    types: { context: {} as { busy: number; slots: number }, events: {} as AgentEv, input: {} as { slots: number } },
    actors: { worker },
    actions: {
      assign: enqueueActions(({ context, event, enqueue }) => {
        context.busy++;
        enqueue.sendTo("worker", { type: "worker.run", id: event.id });
      }),
      done: enqueueActions(({ context, event, enqueue }) => {
        context.busy--;
        enqueue(sendParent({ type: "supervisor.done", id: event.id }));
      }),
    },
    guards: {
      fills: ({ context }) => context.busy + 1 >= context.slots,
      empties: ({ context }) => context.busy === 1,
    },
  }).createMachine({
    context: ({ input }) => ({ busy: 0, slots: input.slots }),
    invoke: { id: "worker", src: "worker" },
    initial: "idle",
    states: {
      idle: { on: { "agent.assign": [{ guard: "fills", target: "saturated", actions: "assign" }, { target: "busy", actions: "assign" }] } },
      busy: {
        on: {
          "agent.assign": [{ guard: "fills", target: "saturated", actions: "assign" }, { actions: "assign" }],
          "agent.done": [{ guard: "empties", target: "idle", actions: "done" }, { actions: "done" }],
        },
      },
      saturated: { on: { "agent.done": [{ guard: "empties", target: "idle", actions: "done" }, { target: "busy", actions: "done" }] } },
    },
  });
  type AgentRef = ActorRefFrom<typeof agent>;
  const supervisor = setup({
    types: { context: {} as { agents: AgentRef[]; busy: Int32Array; on: Int32Array }, events: {} as { type: "supervisor.enqueue"; id: number } | { type: "supervisor.done"; id: number } },
    actors: { agent },
    actions: {
      enqueue: enqueueActions(({ context, event, enqueue }) => {
        // The least loaded agent, scanning from a random one (the simulation's load term balances
        // its agents the same way).
        const start = Math.floor(draw() * agents);
        let a = start;
        for (let k = 1; k < agents; k++) {
          const i = (start + k) % agents;
          if (context.busy[i]! < context.busy[a]!) a = i;
        }
        const before = context.busy[a]!++;
        agentEvents++;
        if (before === 0 || before + 1 === slots) changes++;
        context.on[event.id % context.on.length] = a;
        enqueue.sendTo(context.agents[a]!, { type: "agent.assign", id: event.id });
        enqueue(sendParent({ type: "queen.started", id: event.id }));
      }),
      done: enqueueActions(({ context, event, enqueue }) => {
        const after = --context.busy[context.on[event.id % context.on.length]!]!;
        agentEvents++;
        if (after === 0 || after + 1 === slots) changes++;
        enqueue(sendParent({ type: "queen.finished", id: event.id }));
      }),
    },
  }).createMachine({
    context: ({ spawn }) => ({ agents: Array.from({ length: agents }, (_, i) => spawn("agent", { id: `agent-${i}`, input: { slots } })), busy: new Int32Array(agents), on: new Int32Array(1 << 16) }),
    on: {
      "supervisor.enqueue": { actions: "enqueue" },
      "supervisor.done": { actions: "done" },
    },
  });
  type QueenEv = { type: "queen.submit"; id: number } | { type: "queen.started"; id: number } | { type: "queen.finished"; id: number };
  const queen = setup({
    types: { events: {} as QueenEv, emitted: {} as { type: "queen.events"; task: number; what: string } },
    actors: { supervisor },
  }).createMachine({
    invoke: { id: "supervisor", src: "supervisor" },
    on: {
      "queen.submit": {
        actions: [sendTo("supervisor", ({ event }) => ({ type: "supervisor.enqueue", id: event.id })), emit(({ event }) => ({ type: "queen.events", task: event.id, what: "queued" }))],
      },
      "queen.started": { actions: emit(({ event }) => ({ type: "queen.events", task: event.id, what: "started" })) },
      "queen.finished": { actions: emit(({ event }) => ({ type: "queen.events", task: event.id, what: "completed" })) },
    },
  });
  const actor = createActor(queen).start();
  let seen = 0;
  actor.on("queen.events", () => {
    seen++;
  });
  let id = 0;
  return {
    run(tasks: number): void {
      for (let i = 0; i < tasks; i++) {
        actor.send({ type: "queen.submit", id: ++id });
        if (due.length >= inFlight) {
          // A random one of those in flight ends (swap-remove).
          const k = Math.floor(draw() * due.length);
          const end = due[k]!;
          due[k] = due[due.length - 1]!;
          due.pop();
          end();
        }
      }
      if (seen === 0) throw new Error("the XState path emitted nothing");
    },
    stateChanges(): number {
      return agentEvents === 0 ? 0 : changes / agentEvents;
    },
    stop(): void {
      actor.stop();
    },
  };
}
