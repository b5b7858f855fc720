/**
 * Bench scope `inspect`: the hive's tasks per CPU second (inline backend, tiny tasks: the cost of
 * what runs beside it, robust to other processes on the machine) with the inspector on — the live
 * relay (`inspectHive`'s default filter) with nobody watching and with a viewer connected (in this
 * process: its reading counts too), a trace file (filtered and sampled), a no-op observer — and
 * with its dashboard open (`hive.serve()` with an event-stream viewer, on the same hive,
 * alternately), each against the hive without, in the same run. Then the relay's memory over a long run (a viewer connected, agents crashing and
 * restarting so actors come and go): the actors it keeps and the heap after a full GC, early
 * and late. Then a bare XState actor (toggle + assign) with the trace writer, every event and
 * filtered.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { WebSocket } from "ws";
import { assign, createActor, setup } from "xstate";
import { filterInspect } from "../src/observe/inspect.ts";
import { inspectHive } from "../src/hive/inspect-hive.ts";
import { createTraceWriter } from "../src/observe/trace.ts";
import { type BenchResult, type BenchScope, compare, opsPerSecond } from "./harness.ts";
import { benchHive, HIVE_BATCH, hiveOpsPerCpuSecond } from "./hive-load.ts";

const machine = setup({ types: { context: {} as { count: number }, events: {} as { type: "toggle" } } }).createMachine({
  context: { count: 0 },
  initial: "off",
  states: {
    off: { on: { toggle: { target: "on", actions: assign({ count: ({ context }) => context.count + 1 }) } } },
    on: { on: { toggle: "off" } },
  },
});

const BATCH = 1_000;

const scope: BenchScope = async ({ quick }) => {
  const minMs = quick ? 200 : 1_000;
  const rounds = quick ? 1 : 3;
  const dir = mkdtempSync(join(tmpdir(), "apiary-bench-inspect-"));
  try {
    const plain = createActor(machine).start();
    const raw = () =>
      opsPerSecond(
        () => {
          for (let i = 0; i < BATCH; i++) plain.send({ type: "toggle" });
        },
        BATCH,
        { minMs },
      );

    const full = createTraceWriter({ file: join(dir, "full.jsonl"), batchSize: 1_024 });
    const fullActor = createActor(machine, { inspect: full }).start();
    const filtered = createTraceWriter({ file: join(dir, "filtered.jsonl"), batchSize: 1_024 });
    const filteredActor = createActor(machine, {
      inspect: filterInspect(filtered, { types: ["@xstate.actor", "@xstate.event", "@xstate.snapshot"], sample: { "@xstate.snapshot": 100 } }),
    }).start();

    const results: BenchResult[] = [];
    // --- the hive, inspector on vs off ---
    const off = await benchHive();
    const hiveOff = () => hiveOpsPerCpuSecond(off, minMs);
    const inspected = await inspectHive({ backend: "inline", agents: [{ id: "a", concurrency: 64 }, { id: "b", concurrency: 64 }] });
    await inspected.hive.start();
    const sampled = await inspectHive(
      { backend: "inline", agents: [{ id: "a", concurrency: 64 }, { id: "b", concurrency: 64 }] },
      { filter: { types: ["@xstate.actor", "@xstate.event", "@xstate.snapshot"], sample: { "@xstate.snapshot": 100, "@xstate.event": 10 } } },
    );
    await sampled.hive.start();
    const traced = await benchHive({
      inspect: { file: join(dir, "hive.jsonl"), types: ["@xstate.actor", "@xstate.event", "@xstate.snapshot"], sample: { "@xstate.snapshot": 100 } },
    });
    const noopHive = await benchHive({ inspect: () => {} });
    const served = await benchHive();
    try {
      // Warm every hive up first: the JIT keeps speeding the hive up for seconds, and a pair
      // measured early would otherwise read slower than one measured late.
      for (const hive of [off, inspected.hive, sampled.hive, traced, noopHive, served]) await hiveOpsPerCpuSecond(hive, quick ? 500 : 2_000);
      results.push(await compare("hive + inspector relay (nobody watching)", "hive, no inspect", () => hiveOpsPerCpuSecond(inspected.hive, minMs), hiveOff, rounds));
      const watcher = await relayViewer(inspected.relay.wsUrl);
      try {
        results.push(await compare("hive + inspector relay (a viewer connected)", "hive, no inspect", () => hiveOpsPerCpuSecond(inspected.hive, minMs), hiveOff, rounds));
        results.at(-1)!.extra = { relayed: inspected.relay.relayed, receivedByViewer: watcher.received() };
      } finally {
        watcher.close();
      }
      results.push(await compare("hive + inspector relay (1/10 events, 1/100 snaps)", "hive, no inspect", () => hiveOpsPerCpuSecond(sampled.hive, minMs), hiveOff, rounds));
      results.at(-1)!.extra = { relayed: sampled.relay.relayed };
      results.push(await compare("hive + trace file (filtered, 1/100 snaps)", "hive, no inspect", () => hiveOpsPerCpuSecond(traced, minMs), hiveOff, rounds));
      results.push(await compare("hive + no-op inspect (XState's own cost)", "hive, no inspect", () => hiveOpsPerCpuSecond(noopHive, minMs), hiveOff, rounds));
      // The same hive with and without its dashboard open, alternately: no difference of JIT
      // state or heap between two hives gets counted as the dashboard's.
      let frames = 0;
      results.push(
        await compare(
          "hive + open dashboard (an SSE viewer)",
          "the same hive, no dashboard",
          async () => {
            const server = await served.serve({ port: 0 });
            const viewer = await openEventStream(`${server.url}/events`);
            try {
              return await hiveOpsPerCpuSecond(served, minMs);
            } finally {
              frames += viewer.frames();
              viewer.close();
              await server.close();
            }
          },
          () => hiveOpsPerCpuSecond(served, minMs),
          quick ? 3 : 7,
        ),
      );
      results.at(-1)!.extra = { goal: ">= 0.95", framesReceived: frames };
    } finally {
      await Promise.all([off.stop(), inspected.close(), sampled.close(), traced.stop(), noopHive.stop(), served.stop()]);
    }
    results.push(await dashboardCpu(quick ? 2_000 : 5_000));
    results.push(await relayMemory(quick ? 40 : 200));

    // --- a bare actor with the trace writer ---
    results.push(
      await compare(
        "xstate + trace writer (every event)",
        "xstate, no inspect",
        async () => {
          const r = await opsPerSecond(
            async () => {
              for (let i = 0; i < BATCH; i++) fullActor.send({ type: "toggle" });
              await full.flush();
            },
            BATCH,
            { minMs },
          );
          return r;
        },
        raw,
        rounds,
      ),
    );
    results.push(
      await compare(
        "xstate + trace writer (filtered, 1/100 snaps)",
        "xstate, no inspect",
        async () =>
          opsPerSecond(
            async () => {
              for (let i = 0; i < BATCH; i++) filteredActor.send({ type: "toggle" });
              await filtered.flush();
            },
            BATCH,
            { minMs },
          ),
        raw,
        rounds,
      ),
    );
    const noop = createActor(machine, { inspect: () => {} }).start();
    results.push(
      await compare(
        "xstate + no-op inspect (XState's own cost)",
        "xstate, no inspect",
        () =>
          opsPerSecond(
            () => {
              for (let i = 0; i < BATCH; i++) noop.send({ type: "toggle" });
            },
            BATCH,
            { minMs },
          ),
        raw,
        rounds,
      ),
    );
    await full.close();
    await filtered.close();
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/**
 * The relay over a long run: a hive on it with a viewer connected, batches of tasks, an agent
 * crashed (its worker and port actors replaced) every 10 batches. Reports the actors the relay
 * keeps and the heap after a full GC at a tenth of the run and at its end; `ratio` = heap at the
 * end ÷ heap at a tenth (1 = flat), with tasks/s of each part as the two throughputs.
 */
async function relayMemory(batches: number): Promise<BenchResult> {
  const gc = exposeGc();
  const inspected = await inspectHive({ backend: "inline", agents: [{ id: "a", concurrency: 64 }, { id: "b", concurrency: 64 }, { id: "c", concurrency: 8 }] });
  await inspected.hive.start();
  const watcher = await relayViewer(inspected.relay.wsUrl);
  const measure = async (): Promise<{ actors: number; heapMb: number }> => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc();
    return { actors: inspected.relay.actors, heapMb: Math.round(process.memoryUsage().heapUsed / 1e5) / 10 };
  };
  try {
    const run = async (from: number, to: number): Promise<number> => {
      const t0 = performance.now();
      for (let b = from; b < to; b++) {
        if (b % 10 === 9) inspected.hive.failAgent(["a", "b", "c"][b % 3]!, "bench drill");
        await Promise.all(Array.from({ length: HIVE_BATCH }, (_, i) => inspected.hive.run({ kind: "echo", input: i }).catch(() => undefined)));
      }
      return ((to - from) * HIVE_BATCH * 1_000) / (performance.now() - t0);
    };
    const tenth = Math.max(1, Math.floor(batches / 10));
    const early = await run(0, tenth);
    const atTenth = await measure();
    const late = await run(tenth, batches);
    const atEnd = await measure();
    return {
      name: `relay memory over ${(batches * HIVE_BATCH).toLocaleString("en")} tasks (viewer on, agents restarting)`,
      opsPerSec: Math.round(late),
      baseline: `the first ${(tenth * HIVE_BATCH).toLocaleString("en")} tasks`,
      baselineOpsPerSec: Math.round(early),
      ratio: Math.round((atEnd.heapMb / atTenth.heapMb) * 1_000) / 1_000,
      extra: {
        actorsKeptAtTenth: atTenth.actors,
        actorsKeptAtEnd: atEnd.actors,
        heapMbAtTenth: atTenth.heapMb,
        heapMbAtEnd: atEnd.heapMb,
        relayed: inspected.relay.relayed,
        receivedByViewer: watcher.received(),
      },
    };
  } finally {
    watcher.close();
    await inspected.close();
  }
}

/**
 * What an open dashboard costs, counted directly: this process's CPU time per second on a hive
 * between bursts of work (its actors, workers included, alive), with `hive.serve()` and a viewer
 * reading the event stream against without. The dashboard's work (sampling once a second,
 * writing a frame) does not grow with the task rate, so `ratio` = (1 s − that CPU) ÷ 1 s bounds
 * the throughput a hive that keeps a core busy keeps with its dashboard open.
 */
async function dashboardCpu(ms: number): Promise<BenchResult> {
  const hive = await benchHive();
  try {
    await Promise.all(Array.from({ length: HIVE_BATCH }, (_, i) => hive.run({ kind: "echo", input: i })));
    const cpuPerSecond = async (): Promise<number> => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await new Promise((resolve) => setTimeout(resolve, ms));
      const used = process.cpuUsage(cpu0);
      return (used.user + used.system) / 1_000 / ((performance.now() - t0) / 1_000);
    };
    const closed = await cpuPerSecond();
    const server = await hive.serve({ port: 0 });
    const viewer = await openEventStream(`${server.url}/events`);
    const open = await cpuPerSecond();
    const frames = viewer.frames();
    viewer.close();
    await server.close();
    const costMs = Math.max(0, open - closed);
    return {
      name: "hive + open dashboard: its CPU per second",
      opsPerSec: Math.round((1_000 - costMs) * 10) / 10,
      baseline: "1,000 ms",
      baselineOpsPerSec: 1_000,
      ratio: Math.round(((1_000 - costMs) / 1_000) * 1_000) / 1_000,
      extra: { goal: ">= 0.95", dashboardCpuMsPerSecond: Math.round(costMs * 100) / 100, cpuMsPerSecondClosed: Math.round(closed * 100) / 100, framesReceived: frames },
    };
  } finally {
    await hive.stop();
  }
}

/** A WebSocket viewer on the relay that counts (and drops) what it receives. */
async function relayViewer(wsUrl: string): Promise<{ received(): number; close(): void }> {
  const socket = new WebSocket(wsUrl);
  let received = 0;
  socket.on("message", () => void received++);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return { received: () => received, close: () => socket.terminate() };
}

/** A dashboard viewer: reads the event stream and counts its frames. */
function openEventStream(url: string): Promise<{ frames(): number; close(): void }> {
  return new Promise((resolve, reject) => {
    const request = get(url, (response) => {
      let frames = 0;
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => void (frames += chunk.split("event: frame").length - 1));
      response.on("error", () => {});
      resolve({ frames: () => frames, close: () => request.destroy() });
    });
    request.on("error", reject);
  });
}

/** `gc()`, made available without --expose-gc (the bench runs with plain flags). */
function exposeGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

export default scope;
