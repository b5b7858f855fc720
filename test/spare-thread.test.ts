// The Piscina backend's warm spare thread and what goes with it: the balancer that keeps the
// spare idle while the working threads live, the runner's handling of batches lost with a thread
// they did not kill, and the worker entry that loads the task module as the thread starts.
import { afterEach, describe, expect, it } from "vitest";
import { PiscinaBackend, SPARE_THREADS } from "../src/backends/piscina.ts";
import { type Batch, BatchRunner, MAX_IDLE_LOSSES } from "../src/backends/runner.ts";
import { type PoolThread, spareKeepingBalancer } from "../src/backends/spare-balancer.ts";
import type { Attempt, AttemptResult } from "../src/backends/types.ts";
import { stampEnd, stampStart, startStampViews, type TaskOutcome } from "../workers/protocol.ts";
import { loadModuleSync } from "../workers/load-module.ts";
import { ThreadRuntime } from "../workers/runtime.ts";

/** A thread as Piscina shows it to a balancer: `usage` messages, of which all carry a signal. */
function thread(id: number, usage: number): PoolThread {
  return { id, currentUsage: usage === 1 ? Infinity : usage, isRunningAbortableTask: usage === 1, histogram: null, terminating: false, destroyed: false } as unknown as PoolThread;
}

const task = { taskId: 1, filename: "entry.js", name: "default", created: 0, isAbortable: true } as Parameters<ReturnType<typeof spareKeepingBalancer>>[0];

describe("spare-keeping balancer", () => {
  const ready = new Set([1, 2, 3]);

  it("gives work to an idle thread while fewer than `threads` are busy", () => {
    const pick = spareKeepingBalancer({ threads: 2, messagesPerThread: 1, ready });
    expect(pick(task, [thread(1, 1), thread(2, 0), thread(3, 0)])?.id).toBe(2);
  });

  it("keeps the spare idle once `threads` threads are busy: the message waits in the pool's queue", () => {
    const pick = spareKeepingBalancer({ threads: 2, messagesPerThread: 1, ready });
    expect(pick(task, [thread(1, 1), thread(2, 1), thread(3, 0)])).toBeNull();
  });

  it("queues a second message in a busy thread when it may hold two, never in the spare", () => {
    const pick = spareKeepingBalancer({ threads: 2, messagesPerThread: 2, ready });
    expect(pick(task, [thread(1, 2), thread(2, 1), thread(3, 0)])?.id).toBe(2);
    expect(pick(task, [thread(1, 2), thread(2, 2), thread(3, 0)])).toBeNull();
  });

  it("never picks a thread still starting, even when it is the only idle one", () => {
    const pick = spareKeepingBalancer({ threads: 2, messagesPerThread: 1, ready: new Set([1, 3]) });
    // Piscina lists starting threads first.
    expect(pick(task, [thread(2, 0), thread(1, 1), thread(3, 0)])?.id).toBe(3);
    expect(pick(task, [thread(2, 0), thread(1, 1)])).toBeNull();
  });

  it("moves work to the spare when a working thread is gone", () => {
    const pick = spareKeepingBalancer({ threads: 2, messagesPerThread: 1, ready });
    const dying = { ...thread(1, 1), terminating: true } as PoolThread;
    expect(pick(task, [dying, thread(2, 1), thread(3, 0)])?.id).toBe(3);
  });
});

function attempt(seq: number): Attempt {
  return { id: `t${seq}`, seq, kind: "work", input: seq, attempt: 1, agentId: "a", timeoutMs: 10_000 };
}

/** A runner whose transport hands each batch to the test, which settles it by hand. */
function manualRunner(spread = 4, abortGraceMs = 1_000) {
  const sent: { batch: Batch; resolve: (o: TaskOutcome[]) => void; reject: (e: unknown) => void }[] = [];
  const runner = new BatchRunner({ maxBatch: 8, spread, abortGraceMs }, (batch) =>
    new Promise<TaskOutcome[]>((resolve, reject) => {
      sent.push({ batch, resolve, reject });
      // As Piscina does: an aborted batch is given up at once (and its thread terminated).
      batch.controller.signal.addEventListener("abort", () => reject(batch.controller.signal.reason));
    }));
  const results = new Map<number, AttemptResult>();
  const exec = (seqs: number[]): void => {
    for (const seq of seqs) runner.exec(attempt(seq), (r) => results.set(seq, r), () => {});
  };
  const stamps = startStampViews(runner.startStamps);
  const tick = () => new Promise((r) => setTimeout(r, 0));
  return { runner, sent, results, exec, stamps, tick };
}

const seqsOf = (batch: Batch): number[] => batch.tasks.map((t) => t.seq);

describe("batches lost with a thread", () => {
  it("a batch that waited behind the culprit's runs again as it was, and the death counts once", async () => {
    const { runner, sent, results, exec, stamps, tick } = manualRunner(2);
    exec([1, 2, 3, 4]);
    await tick();
    const [running, waiting] = sent;
    expect(seqsOf(running!.batch)).toEqual([1, 2]);
    expect(seqsOf(waiting!.batch)).toEqual([3, 4]);
    // Attempt 1 ended, attempt 2 was running when the thread died; the other batch never began.
    stampStart(stamps, 1, Date.now());
    stampEnd(stamps, 1);
    stampStart(stamps, 2, Date.now());
    const death = new Error("worker exited with code: 4");
    running!.reject(death);
    waiting!.reject(death);
    await tick();
    await tick();
    expect(results.get(2)?.ok).toBe(false);
    expect((results.get(2) as { error: { code: string } }).error.code).toBe("WORKER_CRASHED");
    expect([...results.keys()]).toEqual([2]);
    expect(runner.threadDeaths).toBe(1);
    // 1, 3 and 4 run again as they were: batched as usual, not each alone to find a culprit.
    const again = sent.slice(2);
    expect(again.flatMap((s) => seqsOf(s.batch)).sort()).toEqual([1, 3, 4]);
    expect(again.every((s) => s.batch.counted)).toBe(true);
  });

  it("a batch behind others is sent again however often its thread dies for another's sake", async () => {
    const { sent, results, exec, tick } = manualRunner();
    exec([1]);
    await tick();
    exec([2]);
    await tick();
    for (let round = 0; round <= MAX_IDLE_LOSSES; round++) {
      const [first, behind] = sent.splice(0, 2);
      const death = new Error(`worker exited, round ${round}`);
      first!.reject(death);
      behind!.reject(death);
      await tick();
      await tick();
    }
    // Attempt 1 was lost first each time with nothing running: after MAX_IDLE_LOSSES it fails.
    expect((results.get(1) as { error: { code: string } } | undefined)?.error.code).toBe("WORKER_CRASHED");
    expect(results.has(2)).toBe(false);
    expect(sent.some((s) => seqsOf(s.batch).includes(2))).toBe(true);
  });

  it("blames nobody still running when the thread was terminated for an attempt aborted beside it", async () => {
    const { runner, sent, results, exec, stamps, tick } = manualRunner(1, 5);
    exec([1, 2]);
    await tick();
    // 1 timed out and was aborted; it then ended, but 2 was still running when the grace ran out.
    stampStart(stamps, 1, Date.now());
    runner.abort(1);
    stampEnd(stamps, 1);
    stampStart(stamps, 2, Date.now());
    await new Promise((r) => setTimeout(r, 30));
    expect(sent[0]!.batch.controller.signal.aborted).toBe(true);
    expect(results.size).toBe(0);
    expect(sent.slice(1).map((s) => seqsOf(s.batch))).toEqual([[2]]);
  });

  it("halves the batch size at each thread death and grows it back by one with each reply", async () => {
    const { sent, exec, stamps, tick } = manualRunner(1);
    exec([1, 2, 3, 4, 5, 6, 7, 8]);
    await tick();
    expect(seqsOf(sent[0]!.batch)).toHaveLength(8);
    stampStart(stamps, 1, Date.now());
    sent[0]!.reject(new Error("worker exited with code: 4"));
    await tick();
    await tick();
    expect(seqsOf(sent[1]!.batch)).toEqual([2, 3, 4, 5]);
    sent[1]!.resolve([2, 3, 4, 5].map((n) => ({ ok: true, value: n })));
    await tick();
    await tick();
    expect(seqsOf(sent[2]!.batch)).toEqual([6, 7, 8]);
  });

  it("a batch whose thread keeps dying before any of it starts fails after MAX_IDLE_LOSSES", async () => {
    const { sent, results, exec, tick } = manualRunner();
    exec([7]);
    await tick();
    for (let i = 0; i <= MAX_IDLE_LOSSES; i++) {
      expect(results.has(7)).toBe(false);
      sent.shift()!.reject(new Error("worker exited with code: 1"));
      await tick();
      await tick();
    }
    expect((results.get(7) as { error: { code: string } }).error.code).toBe("WORKER_CRASHED");
  });
});

const threadsTasks = new URL("./fixtures/threads.mjs", import.meta.url).href;

function run(backend: PiscinaBackend, seq: number, kind: string): Promise<AttemptResult> {
  return new Promise((resolve) => backend.exec({ ...attempt(seq), kind, input: null }, resolve, () => {}));
}

describe("the Piscina backend's spare thread", () => {
  const backends: PiscinaBackend[] = [];
  afterEach(async () => {
    await Promise.all(backends.splice(0).map((b) => b.close()));
  });

  function backend(threads: number): PiscinaBackend {
    const b = new PiscinaBackend({ tasksUrl: threadsTasks, threads, maxBatch: 1, abortGraceMs: 1_000, startTimeoutMs: 30_000 });
    backends.push(b);
    return b;
  }

  it("gets no work while the working threads live, and is no restart", async () => {
    const b = backend(1);
    await b.start();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => run(b, i + 1, "where")));
    const ids = new Set(results.map((r) => (r as { value: { threadId: number } }).value.threadId));
    expect(ids.size).toBe(1);
    expect(b.stats()).toMatchObject({ threads: 1, threadRestarts: 0 });
  });

  it("runs the built-ins on its threads, each loaded on first use", async () => {
    const b = backend(2);
    expect((await b.start()).kinds).toEqual(["burn", "echo", "energy", "exit", "montecarlo", "where"]);
    const burned = await new Promise<AttemptResult>((resolve) => b.exec({ ...attempt(1), kind: "burn", input: { ms: 1 } }, resolve, () => {}));
    expect(burned.ok && typeof burned.value === "number" && burned.value > 0).toBe(true);
    const pi = await new Promise<AttemptResult>((resolve) => b.exec({ ...attempt(2), kind: "montecarlo", input: { samples: 1_000, seed: 1 } }, resolve, () => {}));
    expect(pi.ok).toBe(true);
  });

  it("runs the work after a thread's death on a thread started before it died, and counts one restart", async () => {
    expect(SPARE_THREADS).toBeGreaterThanOrEqual(1);
    const b = backend(1);
    await b.start();
    const before = (await run(b, 1, "where")) as { value: { threadId: number } };
    // Give the spare time to have loaded the task module too.
    await new Promise((r) => setTimeout(r, 300));
    const diedAt = Date.now();
    const exited = await run(b, 2, "exit");
    expect(exited.ok).toBe(false);
    const after = (await run(b, 3, "where")) as { value: { threadId: number; loadedAt: number } };
    expect(after.value.threadId).not.toBe(before.value.threadId);
    expect(after.value.loadedAt).toBeLessThan(diedAt);
    expect(b.stats().threadRestarts).toBe(1);
  });
});

describe("the worker entry's task module loading", () => {
  it("loads an ES module synchronously on Node, the same instance import() gives", async () => {
    const ns = loadModuleSync(threadsTasks);
    expect(ns).toBeDefined();
    const imported = (await import(/* @vite-ignore */ threadsTasks)) as { default: unknown };
    expect(Object.keys(ns!.default as object)).toEqual(Object.keys(imported.default as object));
  });

  it("leaves to import() what it cannot load synchronously: top-level await, CommonJS, other URLs", async () => {
    expect(loadModuleSync(new URL("./fixtures/top-level-await.mjs", import.meta.url).href)).toBeUndefined();
    expect(loadModuleSync(new URL("./fixtures/commonjs-tasks.cjs", import.meta.url).href)).toBeUndefined();
    expect(loadModuleSync("data:text/javascript,export default {}")).toBeUndefined();
    expect(loadModuleSync(new URL("./fixtures/missing.mjs", import.meta.url).href)).toBeUndefined();
    for (const [file, kind] of [["top-level-await.mjs", "ready"], ["commonjs-tasks.cjs", "legacy"]] as const) {
      const runtime = new ThreadRuntime(new URL(`./fixtures/${file}`, import.meta.url).href, null, null, null, loadModuleSync);
      expect((await runtime.describe()).kinds).toContain(kind);
    }
  });

  it("describes the built-ins and the module's kinds when the module loaded synchronously", async () => {
    const runtime = new ThreadRuntime(threadsTasks, null, null, null, loadModuleSync);
    void runtime.load();
    expect(runtime.run([{ id: "t", seq: 1, kind: "echo", input: 5, attempt: 1, agentId: "a" }])).toEqual([{ ok: true, value: 5 }]);
    expect((await runtime.describe()).kinds).toEqual(["burn", "echo", "energy", "exit", "montecarlo", "where"]);
  });

  it("loads a built-in's module when a thread first runs its kind, then runs it synchronously", async () => {
    const runtime = new ThreadRuntime(null, null);
    expect((await runtime.describe()).kinds).toEqual(["burn", "echo", "energy", "montecarlo"]);
    const burn = { id: "t", seq: 1, kind: "burn", input: { ms: 0 }, attempt: 1, agentId: "a" };
    const first = runtime.run([burn]);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toEqual([{ ok: true, value: 0 }]);
    expect(runtime.run([burn])).toEqual([{ ok: true, value: 0 }]);
  });

  it("reports a module that cannot be loaded, with its URL", async () => {
    const url = new URL("./fixtures/missing.mjs", import.meta.url).href;
    const runtime = new ThreadRuntime(url, null, null, null, loadModuleSync);
    await expect(runtime.describe()).rejects.toThrow(`tasks module ${url} could not be loaded`);
  });
});

describe("stopping while a thread loads its task module", () => {
  it("never aborts the process: 150 stops, each just after a thread died and its replacement began loading", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [new URL("./fixtures/stop-while-loading.mjs", import.meta.url).pathname, "150"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    // Before the load guard: "FATAL ERROR: v8::… " and SIGABRT in about one run in three.
    expect(out).not.toContain("FATAL ERROR");
    expect(code).toBe(0);
    expect(out).toContain('{"survived":150}');
  }, 60_000);
});
