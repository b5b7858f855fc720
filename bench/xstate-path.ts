/**
 * The floor under `simulate`: raw XState machines wired the way a task travels through a hive —
 * Queen → Supervisor → Agent → Worker → port and back, nine actor events per task
 * (`submit`, `enqueue`, `assign`, `run`, `started`, `outcome`, `done` at the Agent, `done` at the
 * Supervisor, `finished`) — with the same states (Agent idle / busy / saturated by its slots,
 * Worker idle / running) and the Queen's three lifecycle emissions per task, but no work in any
 * action: no scoring, no records, no clock, no report. Tasks end oldest first with a fixed number
 * in flight, so every agent keeps moving between busy and saturated.
 *
 * What it costs is what XState itself charges for the route; `simulate` cannot go faster than
 * this without fewer events per task.
 *
 * @module
 */
import { createActor, emit, enqueueActions, fromCallback, sendParent, sendTo, setup, type ActorRefFrom } from "xstate";

type Done = () => void;

/** A hive-shaped chain of raw machines; `run(n)` pushes `n` tasks through it. */
export function createXStatePath(agents: number, slots: number, inFlight: number): { run(tasks: number): void; stop(): void } {
  const due: Done[] = [];
  let head = 0;
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
    types: { context: {} as { agents: AgentRef[]; next: number }, events: {} as { type: "supervisor.enqueue"; id: number } | { type: "supervisor.done"; id: number } },
    actors: { agent },
    actions: {
      enqueue: enqueueActions(({ context, event, enqueue }) => {
        const ref = context.agents[context.next]!;
        context.next = (context.next + 1) % context.agents.length;
        enqueue.sendTo(ref, { type: "agent.assign", id: event.id });
        enqueue(sendParent({ type: "queen.started", id: event.id }));
      }),
    },
  }).createMachine({
    context: ({ spawn }) => ({ agents: Array.from({ length: agents }, (_, i) => spawn("agent", { id: `agent-${i}`, input: { slots } })), next: 0 }),
    on: {
      "supervisor.enqueue": { actions: "enqueue" },
      "supervisor.done": { actions: sendParent(({ event }) => ({ type: "queen.finished", id: event.id })) },
    },
  });
  type QueenEv = { type: "queen.submit"; id: number } | { type: "queen.started"; id: number } | { type: "queen.finished"; id: number };
  const queen = setup({
    types: { events: {} as QueenEv, emitted: {} as { type: "queen.events"; task: number; what: string } },
    actors: { supervisor },
  }).createMachine({
    invoke: { id: "supervisor", src: "supervisor" },
    on: {
      "queen.submit": { actions: [sendTo("supervisor", ({ event }) => ({ type: "supervisor.enqueue", id: event.id })), emit(({ event }) => ({ type: "queen.events", task: event.id, what: "queued" }))] },
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
        if (due.length - head >= inFlight) due[head++]!();
        if (head > 4_096) {
          due.splice(0, head);
          head = 0;
        }
      }
      if (seen === 0) throw new Error("the XState path emitted nothing");
    },
    stop(): void {
      actor.stop();
    },
  };
}
