/**
 * Bench scope `inspect`: an XState actor (toggle + assign) sending events with the trace writer
 * attached, against the same actor without `inspect`, in the same run. Two settings: every
 * inspection event written, and filtered (events only, 1 in 100 snapshots).
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assign, createActor, setup } from "xstate";
import { filterInspect } from "../src/inspect.ts";
import { createTraceWriter } from "../src/trace.ts";
import { compare, opsPerSecond, type BenchResult, type BenchScope } from "./harness.ts";

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
      opsPerSecond(() => {
        for (let i = 0; i < BATCH; i++) plain.send({ type: "toggle" });
      }, BATCH, { minMs });

    const full = createTraceWriter({ file: join(dir, "full.jsonl"), batchSize: 1_024 });
    const fullActor = createActor(machine, { inspect: full }).start();
    const filtered = createTraceWriter({ file: join(dir, "filtered.jsonl"), batchSize: 1_024 });
    const filteredActor = createActor(machine, {
      inspect: filterInspect(filtered, { types: ["@xstate.actor", "@xstate.event", "@xstate.snapshot"], sample: { "@xstate.snapshot": 100 } }),
    }).start();

    const results: BenchResult[] = [];
    results.push(
      await compare(
        "xstate + trace writer (every event)",
        "xstate, no inspect",
        async () => {
          const r = await opsPerSecond(async () => {
            for (let i = 0; i < BATCH; i++) fullActor.send({ type: "toggle" });
            await full.flush();
          }, BATCH, { minMs });
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
          opsPerSecond(async () => {
            for (let i = 0; i < BATCH; i++) filteredActor.send({ type: "toggle" });
            await filtered.flush();
          }, BATCH, { minMs }),
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
          opsPerSecond(() => {
            for (let i = 0; i < BATCH; i++) noop.send({ type: "toggle" });
          }, BATCH, { minMs }),
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
