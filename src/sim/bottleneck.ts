/**
 * The bottleneck analysis of a run: for each task kind, the agents that can serve it (meet its
 * `requires`), how busy they are and the queueing that causes; where the completed tasks' time
 * went; which resource saturates first as the load grows; and what would relieve it — predicted
 * with Erlang C (M/M/c) or, for a closed loop, the closed-loop bound, and confirmed by a quick
 * re-simulation where the caller can afford one ({@link confirmRelief}). Every finding says how
 * it was obtained.
 *
 * @module
 */
import { isEligible } from "../../actors/allocation.ts";
import type { Capabilities } from "../../actors/types.ts";
import { mmcWait } from "./erlang.ts";
import { formatDuration, formatMs, formatNumber, formatPercent } from "./format.ts";
import type { Bottleneck, Method, PoolFigures, Relief, RunReport } from "./report.ts";
import { agentIds, type Scenario } from "./scenario.ts";
import type { Target } from "./targets.ts";

/** Options of {@link analyseBottleneck}. */
export interface BottleneckOptions {
  /** The scenario that ran: agent groups (for the change to propose) and its arrivals. */
  scenario?: Scenario;
  /** The run's targets: a wait target sets what the relief must reach. */
  targets?: readonly Target[];
}

/** The most agents a relief adds before it gives up (the pool is hopeless at any size). */
const MAX_ADDED_AGENTS = 10_000;

function capabilityText(requires: Capabilities): string {
  const parts = Object.entries(requires).map(([k, v]) => `${k} ≥ ${v}`);
  return parts.length === 0 ? "any agent" : parts.join(", ");
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

function share(part: number, whole: number): string {
  return whole > 0 ? formatPercent(part / whole, 0) : "—";
}

/** Time the dependency's breaker was open inside [from, to], ms, from its marks. */
function openTime(report: RunReport, dependency: string, from: number, to: number): number {
  let open = -1;
  let total = 0;
  for (const m of report.marks) {
    if (m.agentId !== `dependency:${dependency}`) continue;
    if (m.what === "breaker.open" && open < 0) open = m.t;
    else if ((m.what === "breaker.closed" || m.what === "breaker.halfOpen") && open >= 0) {
      total += Math.max(0, Math.min(m.t, to) - Math.max(open, from));
      open = -1;
    }
  }
  if (open >= 0) total += Math.max(0, to - Math.max(open, from));
  return total;
}

/** Analyses `report` (see the module comment). Cheap: no simulation. */
export function analyseBottleneck(report: RunReport, options: BottleneckOptions = {}): Bottleneck {
  const findings: Bottleneck["findings"] = [];
  const say = (text: string, method: Method): void => void findings.push({ text, method });
  const kinds = report.byKind ?? {};
  const known = report.agents.filter((a) => a.capabilities !== undefined);
  const pools: PoolFigures[] = [];
  const members = new Map<string, typeof report.agents>();
  let totalSlotWait = 0;
  for (const g of Object.values(kinds)) totalSlotWait += g.timeBreakdown.waitSlotMs * g.timeBreakdown.count;
  for (const [kind, g] of Object.entries(kinds)) {
    if (g.requires === undefined || known.length === 0) continue;
    const eligible = known.filter((a) => isEligible(a.capabilities!, g.requires!));
    if (eligible.length === 0) continue;
    members.set(kind, eligible);
    const slots = eligible.reduce((n, a) => n + (a.concurrency ?? 1), 0);
    const busy = eligible.reduce((n, a) => n + a.utilisation * (a.concurrency ?? 1), 0);
    const run = g.timeBreakdown.runMs + g.timeBreakdown.fastFailMs;
    pools.push({
      kind,
      requires: g.requires,
      agents: eligible.length,
      slots,
      utilisation: slots > 0 ? busy / slots : 0,
      offeredSlots: (g.throughputPerSec * run) / 1_000,
      waitP95Ms: g.waitMs.p95,
      waitMeanMs: g.timeBreakdown.waitSlotMs,
      shareOfWaiting: totalSlotWait > 0 ? (g.timeBreakdown.waitSlotMs * g.timeBreakdown.count) / totalSlotWait : 0,
    });
  }

  // Per capability: the agents that have it at the lowest level any kind asks.
  const levels = new Map<string, number>();
  for (const g of Object.values(kinds)) for (const [c, v] of Object.entries(g.requires ?? {})) levels.set(c, Math.min(levels.get(c) ?? Infinity, v));
  const capabilities = [...levels].map(([capability, minLevel]) => {
    const having = known.filter((a) => (a.capabilities![capability] ?? -1) >= minLevel);
    const slots = having.reduce((n, a) => n + (a.concurrency ?? 1), 0);
    const busy = having.reduce((n, a) => n + a.utilisation * (a.concurrency ?? 1), 0);
    return { capability, minLevel, agents: having.length, slots, utilisation: slots > 0 ? busy / slots : 0 };
  });

  // Where the time went.
  const b = report.timeBreakdown;
  if (b !== undefined && b.count > 0) {
    const total = b.waitSlotMs + b.waitThreadMs + b.runMs + b.backoffMs + b.fastFailMs;
    const parts: [string, number][] = [["running", b.runMs], ["waiting for an agent slot", b.waitSlotMs], ["waiting for a worker thread", b.waitThreadMs], ["in retry backoff", b.backoffMs], [
      "failing fast on open breakers",
      b.fastFailMs,
    ]];
    const shown = parts.filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]).map(([what, v]) => `${formatDuration(v)} ${what} (${share(v, total)})`);
    say(
      `A completed task took ${formatDuration(total)} on average from submit to completion: ${shown.join(", ") || "no time at all"}.${
        b.fastFailAttempts > 0 ? ` ${formatNumber(b.fastFailAttempts, 2)} attempts per completed task failed fast on an open breaker.` : ""
      }`,
      "measured",
    );
  }

  // Dependencies whose breakers opened.
  const from = report.warmupMs;
  const to = report.warmupMs + report.durationMs;
  const deps = [...new Set(report.marks.filter((m) => m.agentId.startsWith("dependency:")).map((m) => m.agentId.slice("dependency:".length)))];
  const fastFails = report.agents.reduce((n, a) => n + (a.fastFails ?? 0), 0);
  let opened = 0;
  for (const d of deps) {
    const open = openTime(report, d, from, to);
    if (open <= 0) continue;
    opened++;
    say(
      `Dependency ${d}: its breaker was open ${formatDuration(open)} (${share(open, to - from)} of the window). More agents do not help while it is down; retries with backoff carry its tasks over.`,
      "measured",
    );
  }
  if (opened > 0 && fastFails > 0) say(`${plural(fastFails, "attempt")} failed fast on open breakers inside the window (each agent's count is in the agents table).`, "measured");

  // Which resource saturates first.
  const candidates: { resource: string; utilisation: number }[] = [];
  const seen = new Set<string>();
  for (const p of pools) {
    const key = members.get(p.kind)!.map((a) => a.id).join("\u0000");
    if (seen.has(key)) continue;
    seen.add(key);
    const sharing = pools.filter((q) => members.get(q.kind)!.map((a) => a.id).join("\u0000") === key).map((q) => q.kind);
    const who = Object.keys(p.requires).length === 0 ? "all agents" : `agents with ${capabilityText(p.requires)}`;
    candidates.push({ resource: `${who} (${plural(p.agents, "agent")}, ${plural(p.slots, "slot")}; serving ${sharing.join(", ")})`, utilisation: p.utilisation });
  }
  const threads = typeof report.extra["threads"] === "number" ? (report.extra["threads"] as number) : 0;
  const running = typeof report.extra["meanRunning"] === "number" ? (report.extra["meanRunning"] as number) : 0;
  if (threads > 0) {
    candidates.push({ resource: `worker threads (${threads})`, utilisation: Math.min(1, running / threads) });
    if (b !== undefined && b.waitThreadMs > 0) {
      const load = running > threads
        ? `${
          formatNumber(running, 1)
        } attempts were on the ${threads} threads at a time on average — more than one a thread, as a thread runs a batch's attempts one after another (that wait counts as running) — so the threads were busy all the time`
        : `worker threads ran ${formatNumber(running, 1)} attempts at a time on average (at most ${share(running, threads)} of ${threads} busy)`;
      say(`${load[0]!.toUpperCase()}${load.slice(1)}; a completed task waited ${formatDuration(b.waitThreadMs)} for a thread after its agent took it.`, "measured");
    }
  }
  candidates.sort((x, y) => y.utilisation - x.utilisation);
  const top = candidates[0];
  let saturatesFirst: Bottleneck["saturatesFirst"] = null;
  if (top !== undefined && top.utilisation > 0) {
    const headroom = top.utilisation >= 1 ? 0 : 1 / top.utilisation - 1;
    const statement = top.utilisation >= 0.98
      ? `Saturated now: ${top.resource} are busy ${formatPercent(top.utilisation)} of the window.`
      : `As the load grows in proportion, ${top.resource} saturate first: busy ${formatPercent(top.utilisation)} now, all the time at about ${formatNumber(1 / top.utilisation, 2)}× today's load.` +
        (candidates[1] !== undefined ? ` Next: ${candidates[1].resource} at ${formatPercent(candidates[1].utilisation)}.` : "");
    saturatesFirst = { resource: top.resource, utilisation: top.utilisation, headroom, statement, method: "measured" };
    say(statement, "measured");
  } else if (pools.length === 0) {
    say(known.length === 0 ? "The agents' capabilities were not reported, so their pools cannot be told apart." : "No kind states requirements an agent meets.", "measured");
  }

  const threadBound = threads > 0 && b !== undefined && b.waitThreadMs > b.waitSlotMs;
  if (threadBound) {
    say(
      `Tasks waited longer for a worker thread (${formatDuration(b!.waitThreadMs)} on average) than for an agent (${
        formatDuration(b!.waitSlotMs)
      }): more threads (--threads, or more CPUs) would help before more agents.`,
      "measured",
    );
  }
  // Kinds their dispatch limit paces: their wait is the limit's, and more agents do not shorten it.
  const paced = new Set<string>();
  for (const [kind, limit] of Object.entries(options.scenario?.policies.limits ?? {})) {
    const g = kinds[kind];
    if (g === undefined) continue;
    const perSec = (limit.max * 1_000) / limit.perMs;
    const dispatched = g.throughputPerSec * (1 + g.retried / Math.max(1, g.completed));
    if (dispatched < perSec / 2) continue;
    paced.add(kind);
    say(
      `${kind} is paced by its dispatch limit (${formatNumber(limit.max)} per ${formatDuration(limit.perMs)}, ${formatNumber(perSec, 2)}/s): it was dispatched at about ${
        formatNumber(dispatched, 2)
      }/s, ${share(dispatched, perSec)} of it. Its tasks wait for the limit whenever they arrive faster (a mean wait of ${
        formatDuration(g.timeBreakdown.waitSlotMs)
      }, counted above as waiting for a slot): more agents do not shorten that wait; a higher "policies.limits.${kind}" does, if what it protects allows.`,
      "measured",
    );
  }
  const agentBound = paced.size === 0 ? pools : pools.filter((p) => !paced.has(p.kind));
  const relief = threadBound ? [] : reliefFor(report, agentBound, members, options);
  for (const r of relief) say(r.statement, r.method);
  if (relief.length === 0 && agentBound.length > 0) {
    const worst = [...agentBound].sort((x, y) => y.waitMeanMs - x.waitMeanMs)[0]!;
    const g = kinds[worst.kind]!;
    const runMs = g.timeBreakdown.runMs + g.timeBreakdown.fastFailMs;
    if (worst.waitMeanMs <= Math.max(1, runMs / 10)) {
      say(
        `No kind waits long for an agent's slot (the longest mean wait for one is ${worst.kind}'s, ${
          formatMs(worst.waitMeanMs)
        } ms, under a tenth of its run time), so more agents would not shorten latency${b !== undefined && b.backoffMs + b.fastFailMs > b.waitSlotMs ? "; retries and their backoff cost more" : ""}.`,
        "measured",
      );
    } else if (!threadBound) {
      const closed = report.extra["closedLoop"] === true || (options.scenario !== undefined && "closed" in options.scenario.workload.arrivals);
      const why = closed ? "its agents also serve other kinds in a closed loop, where no closed form applies" : "that already meets the target set for it";
      say(
        `${worst.kind} waits for an agent's slot (${formatMs(worst.waitMeanMs)} ms on average), but ${why}: \`apiary plan\` with --vary on an agent group's count finds the size that meets a target.`,
        "measured",
      );
    }
  }
  return { pools, capabilities, saturatesFirst, relief, findings };
}

/** The agent group (index and size) most of `agents` belong to, and its profile. */
function profileOf(agents: RunReport["agents"], scenario: Scenario | undefined): { index: number; count: number; name: string; capabilities: Capabilities; concurrency: number } | undefined {
  if (scenario === undefined) return undefined;
  const ids = new Set(agents.map((a) => a.id));
  let best: { index: number; hits: number } | undefined;
  scenario.agents.forEach((g, index) => {
    const hits = agentIds(g).filter((id) => ids.has(id)).length;
    if (hits > 0 && (best === undefined || hits > best.hits)) best = { index, hits };
  });
  if (best === undefined) return undefined;
  const g = scenario.agents[best.index]!;
  return { index: best.index, count: g.count, name: g.name, capabilities: g.capabilities, concurrency: g.concurrency };
}

/** The wait figure and level a relief must reach for `kind`: a target's, else a tenth of the run time. */
function goalFor(kind: string, runMs: number, targets: readonly Target[] | undefined): { figure: string; limit: number; why: string } {
  for (const t of targets ?? []) {
    if ((t.op === "<" || t.op === "<=") && (t.figure === `byKind.${kind}.waitMs.p95` || t.figure === "waitMs.p95")) return { figure: t.figure, limit: t.value, why: `the target ${t.text}` };
  }
  return { figure: `byKind.${kind}.waitMs.p95`, limit: Math.max(1, runMs / 10), why: `a tenth of its mean run time (${formatDuration(Math.max(1, runMs / 10))})` };
}

function reliefFor(report: RunReport, pools: readonly PoolFigures[], members: ReadonlyMap<string, RunReport["agents"]>, options: BottleneckOptions): Relief[] {
  // The kind that waits most for agents, if any does.
  const worst = [...pools].sort((x, y) => y.shareOfWaiting - x.shareOfWaiting || y.waitP95Ms - x.waitP95Ms)[0];
  if (worst === undefined) return [];
  const g = report.byKind![worst.kind]!;
  const runMs = g.timeBreakdown.runMs + g.timeBreakdown.fastFailMs;
  if (!(runMs > 0)) return [];
  const goal = goalFor(worst.kind, runMs, options.targets);
  const profile = profileOf(members.get(worst.kind)!, options.scenario);
  const perAgent = profile?.concurrency ?? Math.max(1, Math.round(worst.slots / Math.max(1, worst.agents)));
  const relevant = Object.keys(worst.requires).map((k) => `${k} ${profile?.capabilities[k] ?? "?"}`);
  if (perAgent > 1) relevant.push(`${perAgent} slots each`);
  const like = profile !== undefined ? `like ${profile.name}${relevant.length > 0 ? ` (${relevant.join(", ")})` : ""}` : `with ${capabilityText(worst.requires)}`;
  const closed = report.extra["closedLoop"] === true || (options.scenario !== undefined && "closed" in options.scenario.workload.arrivals);
  const c = worst.slots;
  const a = worst.utilisation * c;

  if (closed) {
    const inFlight = typeof report.extra["inFlight"] === "number"
      ? (report.extra["inFlight"] as number)
      : options.scenario !== undefined && "closed" in options.scenario.workload.arrivals
      ? options.scenario.workload.arrivals.closed.inFlight
      : undefined;
    if (inFlight === undefined || pools.length > 1) return [];
    const wait = (slots: number): number => (Math.max(0, inFlight - slots) * runMs) / slots;
    const before = g.timeBreakdown.waitSlotMs;
    if (wait(c) <= 0 || before <= 0) return [];
    const limit = goal.figure.endsWith("waitMs.p95") ? Math.max(1, runMs / 10) : goal.limit;
    let added = 1;
    while (added < MAX_ADDED_AGENTS && wait(c + added * perAgent) > limit) added++;
    const after = wait(c + added * perAgent);
    const vary = profile !== undefined ? { [`agents.${profile.index}.count`]: profile.count + added } : undefined;
    return [{
      change: `${plural(added, "more agent")} ${like}`,
      ...(vary !== undefined ? { vary } : {}),
      figure: `byKind.${worst.kind}.waitMs.mean`,
      before,
      after,
      goal: limit,
      method: "closed-loop",
      statement: `${plural(added, "more agent")} ${like} bring the mean wait for a slot of ${worst.kind} from ${formatDuration(before)} to about ${formatDuration(after)}: with ${
        formatNumber(inFlight)
      } tasks in flight on ${plural(c, "slot")} every slot is busy and each task waits (in flight − slots) × run time ÷ slots (closed-loop bound, run time ${formatDuration(runMs)}).`,
    }];
  }

  const rate = (a * 1_000) / runMs; // arrivals the pool's busy time implies
  const raw = (slots: number): number => mmcWait(slots, rate, runMs).quantileMs(0.95);
  const before = worst.waitP95Ms;
  const predictedNow = raw(c);
  if (before <= goal.limit) return [];
  // Real service times are rarely exponential: scale the formula to what was measured today.
  const scale = Number.isFinite(predictedNow) && predictedNow > 0 && before > 0 ? Math.min(5, Math.max(0.2, before / predictedNow)) : 1;
  const p95 = (slots: number): number => raw(slots) * scale;
  let added = 1;
  while (added < MAX_ADDED_AGENTS && p95(c + added * perAgent) > goal.limit) added++;
  const after = p95(c + added * perAgent);
  const vary = profile !== undefined ? { [`agents.${profile.index}.count`]: profile.count + added } : undefined;
  const how = !Number.isFinite(predictedNow)
    ? `today's slots are offered more work than they can do, so it predicts an unbounded wait there (${formatMs(before)} ms measured)`
    : scale === 1
    ? `at today's slots it gives ${formatMs(predictedNow)} ms, as measured`
    : scale === before / predictedNow
    ? `scaled by ${formatNumber(scale, 2)} to match the ${formatMs(before)} ms measured at today's slots (unscaled it gives ${formatMs(predictedNow)} ms: service times are not exponential)`
    : `scaled by ${formatNumber(scale, 2)}, the most it is scaled by: unscaled it gives ${formatMs(predictedNow)} ms at today's slots against the ${
      formatMs(before)
    } ms measured, a gap no service-time shape explains (a backlog from bursts, more likely), so take this prediction with care`;
  return [{
    change: `${plural(added, "more agent")} ${like}`,
    ...(vary !== undefined ? { vary } : {}),
    figure: `byKind.${worst.kind}.waitMs.p95`,
    before,
    after,
    goal: goal.limit,
    method: "erlang-c",
    statement: `${plural(added, "more agent")} ${like} bring the p95 wait of ${worst.kind} from ${formatMs(before)} ms to about ${formatMs(after)} ms, under ${goal.why}. Erlang C (M/M/c) for the ${
      plural(c, "slot")
    } that can serve it, offered ${formatNumber(a, 1)} busy slots of ${formatDuration(runMs)} runs, ${how}.`,
  }];
}

/**
 * Checks each relief that names a scenario change by running the scenario again with it (same
 * seed) and records the figure measured there. Costs one simulation per relief.
 */
export async function confirmRelief(
  bottleneck: Bottleneck,
  scenario: Scenario,
  seed: number,
  run: (scenario: unknown, seed: number) => Promise<RunReport>,
  setPath: (scenario: unknown, path: string, value: number) => unknown,
): Promise<void> {
  for (const r of bottleneck.relief) {
    if (r.vary === undefined) continue;
    let changed: unknown = scenario;
    for (const [path, value] of Object.entries(r.vary)) changed = setPath(changed, path, value);
    const again = await run(changed, seed);
    const { group, figure } = ((): { group?: string; figure: string } => {
      const m = /^byKind\.([^.]+)\.(.+)$/.exec(r.figure);
      return m === null ? { figure: r.figure } : { group: m[1]!, figure: m[2]! };
    })();
    const source = group === undefined ? again : again.byKind?.[group];
    let value: unknown = source;
    for (const key of figure.split(".")) value = value === undefined || value === null ? undefined : (value as Record<string, unknown>)[key];
    if (typeof value !== "number") continue;
    r.resimulated = value;
    // Steady-state theory misses backlogs that bursts (outages, spikes) build: say so when the run disagrees.
    const off = value > r.goal
      ? ` That misses the goal of ${
        formatMs(r.goal)
      } ms the prediction was made for: waits that build up in bursts (outages, latency spikes, arrival bursts) are beyond steady-state queueing theory; \`apiary plan\` with --vary ${
        Object.keys(r.vary)[0]
      }=… finds the size that meets a target by simulation.`
      : "";
    const text = `Re-simulated with that change (same seed ${seed}): ${r.figure.endsWith(".mean") ? "mean wait" : "p95 wait"} ${formatMs(value)} ms (before: ${formatMs(r.before)} ms).${off}`;
    r.statement += ` ${text}`;
    bottleneck.findings.push({ text, method: "re-simulation" });
  }
}
