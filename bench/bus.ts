/**
 * Bench scope `bus`: queued publish → microtask delivery to one subscriber, against node's
 * EventEmitter (synchronous emit) in the same run; also apiary's own sync mode.
 *
 * @module
 */
import { EventEmitter } from "node:events";
import { EventBus } from "../src/observe/bus.ts";
import { type BenchResult, type BenchScope, compare, opsPerSecond } from "./harness.ts";

type Ev = { type: "task.completed"; at: number; taskId: string };

const BATCH = 10_000;

const scope: BenchScope = async ({ quick }) => {
  const minMs = quick ? 200 : 1_000;
  const rounds = quick ? 1 : 3;
  const events: Ev[] = Array.from({ length: BATCH }, (_, i) => ({ type: "task.completed", at: i, taskId: `t${i}` }));
  let sink = 0;

  const queued = new EventBus<Ev>();
  queued.on("task.completed", (e) => {
    sink += e.at;
  });
  const sync = new EventBus<Ev>({ delivery: "sync" });
  sync.on("task.completed", (e) => {
    sink += e.at;
  });
  const emitter = new EventEmitter();
  emitter.on("task.completed", (e: Ev) => {
    sink += e.at;
  });

  const emitterRun = () =>
    opsPerSecond(
      () => {
        for (const e of events) emitter.emit(e.type, e);
      },
      BATCH,
      { minMs },
    );

  const results: BenchResult[] = [];
  results.push(
    await compare(
      "bus: publish (queued) + delivery, 1 subscriber",
      "node EventEmitter emit",
      () =>
        opsPerSecond(
          async () => {
            for (const e of events) queued.publish(e);
            await queued.flush();
          },
          BATCH,
          { minMs },
        ),
      emitterRun,
      rounds,
    ),
  );
  results.push(
    await compare(
      "bus: publish (sync delivery), 1 subscriber",
      "node EventEmitter emit",
      () =>
        opsPerSecond(
          () => {
            for (const e of events) sync.publish(e);
          },
          BATCH,
          { minMs },
        ),
      emitterRun,
      rounds,
    ),
  );
  if (sink === 0) throw new Error("bench: nothing was delivered");
  return results;
};

export default scope;
