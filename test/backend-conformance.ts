/**
 * The execution-backend contract (`ExecutionBackend`, `src/backends/types.ts`) as one suite,
 * independent of the test runner: vitest (`test/backend-conformance.test.ts`) and Deno
 * (`test/deno/backend-conformance.test.ts`) pass their own `test` function in, and every backend
 * — the named ones, the simulation's, a user's own — runs the same cases against a workload of
 * its own (see {@link BackendSubject}).
 *
 * Waits are short real-time sleeps: a backend runs work on threads, so "done is never called"
 * can only be checked by giving it the time to be called and seeing that it was not.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Attempt, AttemptResult, ExecutionBackend, StartCallback } from "../src/backends/types.ts";
import { isApiaryError } from "../src/core/errors.ts";

/** Registers one test with the runner. */
export type RegisterTest = (name: string, body: () => Promise<void>) => void;

/** An attempt's kind and input, as a subject names them. */
export interface Work {
  kind: string;
  input: unknown;
}

/** One backend under test, and the workload that exercises it. */
export interface BackendSubject {
  /** Makes a fresh backend, not started. */
  make(): ExecutionBackend | Promise<ExecutionBackend>;
  /** Kinds `start()` must offer (it may offer more). */
  kinds: readonly string[];
  /** The `i`-th of a run of attempts that succeed, and the value it must end with. */
  succeeds(i: number): Work & { value: unknown };
  /** An attempt whose handler throws, and the `name` of what it throws (the outcome's `cause`). */
  throws: Work & { causeName: string };
  /**
   * An attempt that runs until its signal fires, then sets `flag[0]` to 1 (with
   * `Atomics.notify`) and returns; for a backend without signals, one that returns on its own
   * 30–100 ms after it starts.
   */
  runs(flag: Int32Array): Work;
  /** Whether an abort reaches the handler's `ctx.signal`: false where no handler runs (simulated). @default true */
  signals?: boolean;
  /** `stats().threads` once started. */
  threads: number;
}

/** How long to give a backend to call what it must not call, ms. */
const QUIET_MS = 150;
/** The longest wait for anything a backend must do, ms. */
const PATIENCE_MS = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `flag[0]` becomes 1; rejects after {@link PATIENCE_MS}. */
async function raised(flag: Int32Array, what: string): Promise<void> {
  const deadline = Date.now() + PATIENCE_MS;
  while (Atomics.load(flag, 0) !== 1) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(5);
  }
}

/** One attempt handed to a backend, and everything the backend called back about it. */
interface Run {
  seq: number;
  /** Outcomes `done` received, in order. */
  outcomes: AttemptResult[];
  /** `onStart` calls: `[startedEpochMs, ended]`. */
  starts: [number | undefined, boolean][];
  /** Whether `done` had been called by the time `exec` returned. */
  calledInExec: boolean;
  /** Resolves with the first outcome. */
  settled: Promise<AttemptResult>;
  /** Resolves when the attempt has begun to run (and its handler has had a moment to set up). */
  started: Promise<void>;
}

/** Hands the backend attempts with fresh seqs and records what it calls back. */
class Driver {
  readonly backend: ExecutionBackend;
  #seq = 0;

  constructor(backend: ExecutionBackend) {
    this.backend = backend;
  }

  exec(work: Work): Run {
    const seq = ++this.#seq;
    const attempt: Attempt = { id: `task-${seq}`, seq, kind: work.kind, input: work.input, attempt: 1, agentId: "agent-1", timeoutMs: 30_000 };
    const outcomes: AttemptResult[] = [];
    const starts: [number | undefined, boolean][] = [];
    let settle!: (r: AttemptResult) => void;
    const settled = new Promise<AttemptResult>((resolve) => (settle = resolve));
    let begin!: () => void;
    const began = new Promise<void>((resolve) => (begin = resolve));
    const onStart: StartCallback = (at, ended) => {
      starts.push([at, ended]);
      if (at !== undefined) begin();
    };
    let inExec = true;
    const run: Run = {
      seq,
      outcomes,
      starts,
      calledInExec: false,
      settled,
      // Its start is its dispatch, or onStart says; then a moment for the handler to listen to its signal.
      started: (this.backend.startsOnDispatch ? sleep(0) : began).then(() => sleep(30)),
    };
    this.backend.exec(
      attempt,
      (result) => {
        if (inExec) run.calledInExec = true;
        outcomes.push(result);
        settle(result);
      },
      onStart,
    );
    inExec = false;
    return run;
  }
}

async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting: ${what}`)), PATIENCE_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Registers the conformance cases for one backend.
 *
 * @param label the backend's name, prefixed to each test name
 * @param subject makes the backend and names its workload
 * @param test the runner's test registration function
 */
export function backendConformance(label: string, subject: BackendSubject, test: RegisterTest): void {
  const signals = subject.signals ?? true;
  const it = (name: string, body: (driver: Driver, kinds: string[]) => Promise<void>): void =>
    test(`${label}: ${name}`, async () => {
      const backend = await subject.make();
      try {
        const { kinds } = await within(backend.start(), "start()");
        await body(new Driver(backend), kinds);
      } finally {
        await backend.close();
      }
    });

  it("start resolves to the task kinds on offer, and the backend names itself", async ({ backend }, kinds) => {
    assert.ok(Array.isArray(kinds), "start() must resolve to { kinds: string[] }");
    for (const kind of subject.kinds) assert.ok(kinds.includes(kind), `kinds ${JSON.stringify(kinds)} must include ${JSON.stringify(kind)}`);
    assert.equal(typeof backend.name, "string");
    assert.ok(backend.name.length > 0, "name must not be empty");
    assert.equal(typeof backend.startsOnDispatch, "boolean");
  });

  it("exec calls done exactly once, never from inside exec, with the handler's value", async (driver) => {
    const work = subject.succeeds(0);
    const run = driver.exec(work);
    const result = await within(run.settled, "done");
    assert.deepEqual(result, { ok: true, value: work.value });
    await sleep(QUIET_MS);
    assert.equal(run.outcomes.length, 1, "done must be called once");
    assert.equal(run.calledInExec, false, "done must not be called from inside exec");
  });

  it("a backend that does not start on dispatch reports the start, with an epoch time, before done", async (driver) => {
    const before = Date.now();
    const run = driver.exec(subject.succeeds(0));
    await within(run.settled, "done");
    if (driver.backend.startsOnDispatch) return;
    const first = run.starts[0];
    assert.ok(first !== undefined, "onStart must be called before done");
    assert.equal(typeof first[0], "number");
    assert.ok(first[0]! >= before - 1_000 && first[0]! <= Date.now() + 1_000, `start ${first[0]} must be an epoch time in ms`);
  });

  it("many attempts handed over at once each end once, with their own value", async (driver) => {
    const works = Array.from({ length: 64 }, (_, i) => subject.succeeds(i));
    const runs = works.map((w) => driver.exec(w));
    const results = await within(Promise.all(runs.map((r) => r.settled)), "64 attempts");
    results.forEach((r, i) => assert.deepEqual(r, { ok: true, value: works[i]!.value }));
    await sleep(QUIET_MS);
    for (const r of runs) assert.equal(r.outcomes.length, 1);
  });

  it("a throwing handler ends TASK_FAILED, with what it threw as the cause", async (driver) => {
    const result = await within(driver.exec(subject.throws).settled, "done");
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.ok(isApiaryError(result.error, "TASK_FAILED"), `expected TASK_FAILED, received ${String(result.error)}`);
    assert.equal((result.error.cause as Error | undefined)?.name, subject.throws.causeName);
  });

  it("abort before the attempt starts: done is never called, and the backend runs the next one", async (driver) => {
    const run = driver.exec(subject.succeeds(0));
    driver.backend.abort(run.seq);
    assert.equal(driver.backend.stats().inFlight, 0, "an aborted attempt is no longer in flight");
    await sleep(QUIET_MS);
    assert.equal(run.outcomes.length, 0, "done must not be called after abort");
    const next = subject.succeeds(1);
    assert.deepEqual(await within(driver.exec(next).settled, "the next attempt"), { ok: true, value: next.value });
  });

  it("abort after the attempt started: done is never called, whatever the handler returns", async (driver) => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const run = driver.exec(subject.runs(flag));
    await within(run.started, "the attempt's start");
    driver.backend.abort(run.seq, false);
    if (signals) await raised(flag, "the handler seeing its signal"); // it returns now
    await sleep(QUIET_MS);
    assert.equal(run.outcomes.length, 0, "done must not be called after abort");
    assert.equal(driver.backend.stats().inFlight, 0);
  });

  if (signals) {
    it("abort of a running attempt fires its signal in the handler", async (driver) => {
      const flag = new Int32Array(new SharedArrayBuffer(4));
      const run = driver.exec(subject.runs(flag));
      await within(run.started, "the attempt's start");
      assert.equal(Atomics.load(flag, 0), 0, "the signal must not fire before abort");
      driver.backend.abort(run.seq);
      await raised(flag, "the handler seeing its signal");
      assert.equal(run.outcomes.length, 0);
    });
  }

  it("abort of an attempt that settled, or of one never handed over, does nothing", async (driver) => {
    const first = driver.exec(subject.succeeds(0));
    await within(first.settled, "done");
    driver.backend.abort(first.seq);
    driver.backend.abort(987_654_321);
    await sleep(10);
    assert.equal(first.outcomes.length, 1);
    const next = subject.succeeds(1);
    assert.deepEqual(await within(driver.exec(next).settled, "the next attempt"), { ok: true, value: next.value });
  });

  it("stats count threads, attempts in flight and messages", async (driver) => {
    const start = driver.backend.stats();
    assert.deepEqual(Object.keys(start).sort(), ["inFlight", "messages", "threadRestarts", "threads"]);
    assert.equal(start.threads, subject.threads);
    assert.equal(start.inFlight, 0);
    assert.equal(start.threadRestarts, 0);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const running = driver.exec(subject.runs(flag));
    assert.equal(driver.backend.stats().inFlight, 1, "an attempt handed over is in flight at once");
    const quick = driver.exec(subject.succeeds(0));
    assert.equal(driver.backend.stats().inFlight, 2);
    await within(quick.settled, "done");
    assert.equal(driver.backend.stats().inFlight, 1, "a settled attempt is no longer in flight");
    driver.backend.abort(running.seq);
    const end = driver.backend.stats();
    assert.equal(end.inFlight, 0, "an aborted attempt is no longer in flight");
    assert.ok(end.messages >= start.messages + 1, `messages must count what was posted (${start.messages} → ${end.messages})`);
    assert.equal(end.threads, subject.threads);
  });

  it("close abandons attempts still running: done is never called; a second close resolves", async (driver) => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const running = driver.exec(subject.runs(flag));
    const queued = driver.exec(subject.succeeds(0));
    await within(running.started, "the attempt's start");
    await within(driver.backend.close(), "close()");
    await sleep(QUIET_MS);
    assert.equal(running.outcomes.length, 0, "done must not be called after close");
    assert.ok(queued.outcomes.length <= 1);
    await within(driver.backend.close(), "a second close()");
  });
}
