// ctx.progress(value) reaches task.progress events and handle.onProgress listeners, from a worker
// thread (through a BroadcastChannel) and from the inline backend; throttled, stale ones dropped.
import { afterEach, describe, expect, it } from "vitest";
import { createHive, type Hive, type HiveEvent, type HiveOptions } from "../src/index.ts";
import { fixtureTasks } from "./helpers.ts";

const hives: Hive[] = [];
afterEach(async () => {
  await Promise.all(hives.splice(0).map((h) => h.stop()));
});

async function started(options: Partial<HiveOptions>): Promise<Hive> {
  const hive = createHive({ tasks: fixtureTasks, agents: [{ id: "a", concurrency: 2 }], ...options });
  hives.push(hive);
  await hive.start();
  return hive;
}

describe.each(["piscina", "inline"] as const)("task progress on %s", (backend) => {
  it("delivers each step to handle.onProgress and as task.progress events, then stops at the end", async () => {
    const hive = await started({ backend, threads: 1 });
    const events: HiveEvent[] = [];
    hive.on("task.progress", (e) => void events.push(e));
    const handle = hive.submit({ kind: "progressSteps", input: { steps: 3 } });
    const seen: unknown[] = [];
    handle.onProgress((value, event) => {
      seen.push(value);
      expect(event).toMatchObject({ type: "task.progress", taskId: handle.id, kind: "progressSteps", attempt: 1 });
    });
    expect(await handle.result).toBe("done");
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([{ step: 1, of: 3 }, { step: 2, of: 3 }, { step: 3, of: 3 }]);
    expect(events.map((e) => (e as { value: unknown }).value)).toEqual(seen);
  });

  it("throttles to one report per 100 ms per attempt, the latest value winning", async () => {
    const hive = await started({ backend, threads: 1 });
    const handle = hive.submit({ kind: "progressSteps", input: { steps: 10, gapMs: 15 } });
    const seen: { step: number }[] = [];
    handle.onProgress((v) => void seen.push(v as { step: number }));
    await handle.result;
    await new Promise((r) => setTimeout(r, 20));
    // 10 reports over ~150 ms: the first at once, then at most one per 100 ms.
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.length).toBeLessThanOrEqual(3);
    expect(seen[0]).toEqual({ step: 1, of: 10 });
    expect(seen.at(-1)).toEqual({ step: 10, of: 10 });
  });

  it("delivers the last value the throttle held before the result, not after it or never", async () => {
    const hive = await started({ backend, threads: 1 });
    const handle = hive.submit({ kind: "progressSteps", input: { steps: 5, gapMs: 0 } });
    const seen: { step: number }[] = [];
    handle.onProgress((v) => void seen.push(v as { step: number }));
    expect(await handle.result).toBe("done");
    // The steps come within one throttle period: the last one travels with the attempt's outcome.
    expect(seen.at(-1)).toEqual({ step: 5, of: 5 });
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.at(-1)).toEqual({ step: 5, of: 5 }); // a straggler of the run is dropped, not delivered after
  });

  it("refuses a value that cannot cross threads with INVALID_OPTIONS, and a listener that is not a function", async () => {
    const hive = await started({ backend, threads: 1 });
    expect(await hive.run({ kind: "badProgress" })).toBe("INVALID_OPTIONS");
    const handle = hive.submit({ kind: "double", input: { n: 1 } });
    expect(() => handle.onProgress("nope" as never)).toThrow(/"listener" must be a function, received "nope"/);
    await handle.result;
  });
});
