/**
 * Bench scope `faults`: goodput — good tasks completed per second of wall time — on real Piscina
 * threads (2) when 10% of the tasks are poison: handlers that throw, exit their thread, hang
 * without looking at their signal, or run out of memory under `resourceLimits`, and a mix of
 * all four. Good tasks burn ~1 ms of CPU. For each mix, in the same process:
 *
 * - the hive under the mix (6 agents × 4 slots, `abortGraceMs` 30, no retries);
 * - the hive running only the same good tasks → `vsClean` = goodput(mix) ÷ goodput(clean);
 * - raw Piscina (same threads, limits and handler) under the same mix, each task given
 *   `AbortSignal.timeout(timeoutMs)` as a Piscina user writes it, in a closed loop of 4 in
 *   flight → `ratio` = hive ÷ raw. Also reported, not compared: raw Piscina with every task
 *   submitted at once. Its timeouts count from submission, so it drops the good tasks still
 *   queued when they expire and ends early: a high rate over few good tasks.
 *
 * For the mixes with hangs it also reports the wall time lost against the clean run beside the
 * thread time the hangs themselves hold: hangs × (timeoutMs + abortGraceMs) ÷ threads.
 * `--quick` runs half the tasks.
 *
 * @module
 */
import { Piscina } from "piscina";
import { type ApiaryError, createHive, type HiveEvent } from "../src/index.ts";
import type { FaultInput, FaultOutput, PoisonMode } from "./fault-tasks.ts";
import type { BenchResult, BenchScope } from "./harness.ts";

const THREADS = 2;
const BURN_MS = 1;
const ABORT_GRACE_MS = 30;
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 };
/** The raw closed loop's tasks in flight: one running and one waiting per thread. */
const RAW_IN_FLIGHT = 2 * THREADS;

/** One mix: which poison, how many tasks, and the attempt timeout every task gets. */
interface Mix {
  name: string;
  modes: readonly PoisonMode[];
  total: number;
  timeoutMs: number;
}

// Sized so the hive runs each mix in ~2–5 s on a shared 2-core machine: a throw costs next to
// nothing, while a thread killed by an exit, an out-of-memory or a hang costs a thread start
// (~50–150 ms here), an out-of-memory its filling of the heap and a hang its timeout on top.
const MIXES: readonly Mix[] = [
  { name: "throw", modes: ["throw"], total: 2_500, timeoutMs: 2_000 },
  { name: "exit", modes: ["exit"], total: 300, timeoutMs: 2_000 },
  { name: "hang", modes: ["hang"], total: 300, timeoutMs: 50 },
  { name: "oom", modes: ["oom"], total: 200, timeoutMs: 2_000 },
  { name: "all four", modes: ["throw", "exit", "hang", "oom"], total: 400, timeoutMs: 50 },
];

/** One measured run: good tasks completed, wall time, and what it cost. */
interface Run {
  good: number;
  wallMs: number;
  threadRestarts: number;
  /** Good tasks that did not complete, by error code. */
  goodLost: Record<string, number>;
  agentsCrashed?: number;
  degraded?: boolean;
}

const goodput = (r: Run): number => (r.good * 1_000) / r.wallMs;

/** The run's inputs: every tenth is poison (the mix's modes in turn), or none when `clean`. */
function inputs(mix: Mix, clean: boolean): FaultInput[] {
  const out: FaultInput[] = [];
  for (let i = 0; i < mix.total; i++) {
    const mode = i % 10 === 0 ? mix.modes[(i / 10) % mix.modes.length] : undefined;
    if (mode !== undefined && clean) continue;
    out.push({ i, mode, burnMs: BURN_MS });
  }
  return out;
}

function isGood(input: FaultInput, out: unknown): boolean {
  return input.mode === undefined && (out as FaultOutput | undefined)?.doubled === input.i * 2;
}

function tallyLost(lost: Record<string, number>, error: unknown): void {
  const code = (error as ApiaryError | undefined)?.code ?? (error as Error | undefined)?.name ?? "unknown";
  lost[code] = (lost[code] ?? 0) + 1;
}

async function runHive(mix: Mix, clean: boolean): Promise<Run> {
  const hive = createHive({
    backend: "piscina",
    threads: THREADS,
    tasks: new URL("./fault-tasks.js", import.meta.url),
    agents: Array.from({ length: 6 }, (_, i) => ({ id: `agent-${i + 1}`, concurrency: 4 })),
    abortGraceMs: ABORT_GRACE_MS,
    resourceLimits: RESOURCE_LIMITS,
    defaults: { timeoutMs: mix.timeoutMs, retries: 0 },
  });
  await hive.start();
  let agentsCrashed = 0;
  let degraded = false;
  hive.on("*", (e: HiveEvent) => {
    if (e.type === "agent.crashed") agentsCrashed++;
    if (e.type === "hive.degraded") degraded = true;
  });
  // Warm both threads and the JIT on good work before the clock starts.
  await Promise.all(Array.from({ length: 50 }, (_, i) => hive.run({ kind: "work", input: { i: -1 - i, burnMs: BURN_MS } })));
  const restartsBefore = hive.stats().pool.threadRestarts;
  const tasks = inputs(mix, clean);
  const t0 = performance.now();
  const outcomes = await Promise.allSettled(tasks.map((input) => hive.run({ kind: "work", input })));
  const wallMs = performance.now() - t0;
  const threadRestarts = hive.stats().pool.threadRestarts - restartsBefore;
  await hive.stop();
  let good = 0;
  const goodLost: Record<string, number> = {};
  tasks.forEach((input, k) => {
    const o = outcomes[k]!;
    if (o.status === "fulfilled" && isGood(input, o.value)) good++;
    else if (input.mode === undefined) tallyLost(goodLost, o.status === "rejected" ? o.reason : new Error("wrong output"));
  });
  return { good, wallMs, threadRestarts, goodLost, agentsCrashed, degraded };
}

/** Raw Piscina: every task all at once (`inFlight` Infinity) or in a closed loop of `inFlight`. */
async function runRaw(mix: Mix, inFlight: number): Promise<Run> {
  const pool = new Piscina<FaultInput, FaultOutput>({
    filename: new URL("./fault-raw-worker.js", import.meta.url).href,
    minThreads: THREADS,
    maxThreads: THREADS,
    resourceLimits: RESOURCE_LIMITS,
  });
  let created = 0;
  pool.on("workerCreate", () => created++);
  pool.on("error", () => {}); // a thread that dies between tasks; Piscina replaces it
  await Promise.all(Array.from({ length: 50 }, (_, i) => pool.run({ i: -1 - i, burnMs: BURN_MS })));
  const createdBefore = created;
  const tasks = inputs(mix, false);
  let good = 0;
  const goodLost: Record<string, number> = {};
  const one = (input: FaultInput): Promise<void> =>
    pool.run(input, { signal: AbortSignal.timeout(mix.timeoutMs) }).then(
      (out) => {
        if (isGood(input, out)) good++;
      },
      (error: unknown) => {
        if (input.mode === undefined) tallyLost(goodLost, error);
      },
    );
  const t0 = performance.now();
  if (!Number.isFinite(inFlight)) {
    await Promise.all(tasks.map(one));
  } else {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < tasks.length) await one(tasks[next++]!);
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
  }
  const wallMs = performance.now() - t0;
  const threadRestarts = created - createdBefore;
  await pool.destroy();
  return { good, wallMs, threadRestarts, goodLost };
}

const round3 = (x: number): number => Math.round(x * 1_000) / 1_000;

function describeRun(prefix: string, r: Run): Record<string, number | string> {
  const lost = Object.entries(r.goodLost).map(([code, n]) => `${code}:${n}`).join(" ");
  return {
    [`${prefix}Goodput`]: Math.round(goodput(r)),
    [`${prefix}Good`]: r.good,
    [`${prefix}WallMs`]: Math.round(r.wallMs),
    [`${prefix}ThreadRestarts`]: r.threadRestarts,
    ...(lost === "" ? {} : { [`${prefix}GoodLost`]: lost }),
  };
}

const faults: BenchScope = async ({ quick }) => {
  const results: BenchResult[] = [];
  for (const full of MIXES) {
    const mix = quick ? { ...full, total: Math.round(full.total / 2) } : full;
    // Raw first, then the hive clean and under the mix, so drift hits neither side alone.
    const rawAll = await runRaw(mix, Infinity);
    const rawLoop = await runRaw(mix, RAW_IN_FLIGHT);
    const clean = await runHive(mix, true);
    const hive = await runHive(mix, false);
    const raw = rawLoop;
    const hangs = inputs(mix, false).filter((t) => t.mode === "hang").length;
    const threadKillers = inputs(mix, false).filter((t) => t.mode !== undefined && t.mode !== "throw").length;
    const extra: Record<string, number | string> = {
      tasks: mix.total,
      poison: mix.total / 10,
      burnMs: BURN_MS,
      timeoutMs: mix.timeoutMs,
      vsClean: round3(goodput(hive) / goodput(clean)),
      ...describeRun("hive", hive),
      hiveAgentsCrashed: hive.agentsCrashed ?? 0,
      hiveDegraded: String(hive.degraded ?? false),
      ...describeRun("clean", clean),
      ...describeRun("rawAll", rawAll),
      ...describeRun(`rawLoop${RAW_IN_FLIGHT}`, rawLoop),
    };
    if (threadKillers > 0) {
      extra["hiveRestartsPerKiller"] = round3(hive.threadRestarts / threadKillers);
      extra["rawRestartsPerKiller"] = round3(rawLoop.threadRestarts / threadKillers);
    }
    if (hangs > 0) {
      extra["hangs"] = hangs;
      extra["lossMs"] = Math.round(hive.wallMs - clean.wallMs);
      extra["hangsHoldMs"] = Math.round((hangs * (mix.timeoutMs + ABORT_GRACE_MS)) / THREADS);
    }
    results.push({
      name: `faults: 10% ${mix.name}, ${mix.total} tasks`,
      opsPerSec: Math.round(goodput(hive)),
      baseline: `raw piscina, ${RAW_IN_FLIGHT} in flight`,
      baselineOpsPerSec: Math.round(goodput(raw)),
      ratio: round3(goodput(hive) / goodput(raw)),
      extra,
    });
  }
  return results;
};

export default faults;
