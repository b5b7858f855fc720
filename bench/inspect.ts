/**
 * Bench scope `inspect`: the hive's throughput (inline backend, tiny tasks) with the inspector
 * on — the live relay (`inspectHive`'s default filter), a trace file (filtered and sampled), a
 * no-op observer — against the same hive with no inspector, in the same run. Then the same for
 * a bare XState actor (toggle + assign) with the trace writer, every event and filtered.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assign, createActor, setup } from "xstate";
import { filterInspect } from "../src/observe/inspect.ts";
import { inspectHive } from "../src/hive/inspect-hive.ts";
import { createTraceWriter } from "../src/observe/trace.ts";
import { type BenchResult, type BenchScope, compare, opsPerSecond } from "./harness.ts";
import { benchHive, hiveOpsPerSecond } from "./hive-load.ts";

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
    const hiveOff = () => hiveOpsPerSecond(off, minMs);
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
    try {
      results.push(await compare("hive + inspector relay (live, default filter)", "hive, no inspect", () => hiveOpsPerSecond(inspected.hive, minMs), hiveOff, rounds));
      results.push(await compare("hive + inspector relay (1/10 events, 1/100 snaps)", "hive, no inspect", () => hiveOpsPerSecond(sampled.hive, minMs), hiveOff, rounds));
      results.push(await compare("hive + trace file (filtered, 1/100 snaps)", "hive, no inspect", () => hiveOpsPerSecond(traced, minMs), hiveOff, rounds));
      results.push(await compare("hive + no-op inspect (XState's own cost)", "hive, no inspect", () => hiveOpsPerSecond(noopHive, minMs), hiveOff, rounds));
      results[0]!.extra = { relayed: inspected.relay.relayed };
      results[1]!.extra = { relayed: sampled.relay.relayed };
    } finally {
      await Promise.all([off.stop(), inspected.close(), sampled.close(), traced.stop(), noopHive.stop()]);
    }

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

export default scope;
