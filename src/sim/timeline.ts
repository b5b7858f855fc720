/**
 * The agent state timeline of the HTML report: one lane per agent over the run, coloured by
 * what the agent was doing (up, down after a crash, restarting, not in the swarm), a band for
 * its breaker (open, half-open), and a mark at each crash, restart and breaker trip.
 *
 * @module
 */
import { escapeHtml, formatDuration, truncate } from "./format.ts";
import type { AgentFigures, AgentMark } from "./report.ts";
import { emptyChart, linear, plot, px, svg, ticks, xAxis } from "./svg.ts";

/** Most agent lanes drawn; agents with marks are drawn first. */
export const MAX_LANES = 30;
/** Most state changes drawn per lane (later ones are counted, not drawn). */
const MAX_SEGMENTS_PER_LANE = 400;
/** Most point marks drawn in the whole chart. */
const MAX_GLYPHS = 2_000;

type LaneState = "up" | "down" | "restarting" | "absent";
type BreakerBand = "open" | "halfOpen" | "closed";

/** What {@link agentTimeline} drew and what it had to leave out. */
export interface TimelineChart {
  svg: string;
  /** Agents with no lane (past {@link MAX_LANES}). */
  omittedAgents: number;
  /** Marks not drawn: on agents without a lane, or past the per-chart limits. */
  omittedMarks: number;
}

/**
 * Draws the timeline of `agents` and `marks` from 0 to `endMs`; the warm-up is shaded.
 * Marks of agents missing from `agents` (e.g. removed during the run) get lanes too.
 */
export function agentTimeline(agents: readonly AgentFigures[], marks: readonly AgentMark[], endMs: number, warmupMs: number): TimelineChart {
  const title = "Agent state timeline (crashes, restarts, breaker trips)";
  const ids = laneIds(agents, marks);
  if (ids.length === 0) return { svg: emptyChart("timeline", title, "no agents in this run"), omittedAgents: 0, omittedMarks: 0 };
  const byAgent = new Map<string, AgentMark[]>();
  for (const m of [...marks].map((m, i) => ({ m, i })).sort((a, b) => a.m.t - b.m.t || a.i - b.i)) {
    const list = byAgent.get(m.m.agentId) ?? [];
    list.push(m.m);
    byAgent.set(m.m.agentId, list);
  }
  const chosen = chooseLanes(ids, byAgent);
  const t1 = Math.max(endMs, warmupMs, ...marks.map((m) => m.t), 1);
  const lane = 22;
  const p = plot(720, 56 + chosen.length * lane + 20, { left: 150, top: 12, bottom: 56 });
  const x = linear(0, t1, p.left, p.right);
  let body = "";
  let glyphs = 0;
  let omittedMarks = 0;
  for (const id of ids) if (!chosen.includes(id)) omittedMarks += byAgent.get(id)?.length ?? 0;
  chosen.forEach((id, i) => {
    const top = p.top + i * lane + 2;
    const h = lane - 4;
    const laneMarks = byAgent.get(id) ?? [];
    body += `<text class="lane-label" x="${px(p.left - 8)}" y="${px(top + h / 2)}" text-anchor="end">${escapeHtml(truncate(id, 22))}<title>${escapeHtml(id)}</title></text>`;
    const { states, breaker, dropped } = segments(laneMarks, t1);
    omittedMarks += dropped;
    for (const s of states) {
      const w = Math.max(0.5, x(s.to) - x(s.from));
      body += `<rect class="st-${s.state}" x="${px(x(s.from))}" y="${px(top)}" width="${px(w)}" height="${h}"><title>${
        escapeHtml(`${id}: ${s.state} from ${formatDuration(s.from)} to ${formatDuration(s.to)}`)
      }</title></rect>`;
    }
    for (const b of breaker) {
      const w = Math.max(0.5, x(b.to) - x(b.from));
      body += `<rect class="br-${b.state}" x="${px(x(b.from))}" y="${px(top)}" width="${px(w)}" height="5"><title>${
        escapeHtml(`${id}: breaker ${b.state} from ${formatDuration(b.from)} to ${formatDuration(b.to)}`)
      }</title></rect>`;
    }
    for (const m of laneMarks) {
      const shape = glyph(m.what);
      if (shape === undefined) continue;
      if (glyphs >= MAX_GLYPHS) {
        omittedMarks++;
        continue;
      }
      glyphs++;
      body += `<g class="mark mark-${m.what.replace(".", "-")}" transform="translate(${px(x(m.t))},${px(top + h / 2)})"><title>${
        escapeHtml(`${id}: ${m.what} at ${formatDuration(m.t)}`)
      }</title>${shape}</g>`;
    }
  });
  const axisPlot = { ...p, bottom: p.top + chosen.length * lane + 4 };
  if (warmupMs > 0) {
    // Over the lanes (translucent), so the warm-up shows whatever the agents were doing.
    body += `<rect class="warmup over" x="${px(p.left)}" y="${px(p.top)}" width="${px(x(Math.min(warmupMs, t1)) - p.left)}" height="${
      px(axisPlot.bottom - p.top)
    }"><title>warm-up (left out of the figures)</title></rect>`;
  }
  body += xAxis(axisPlot, ticks(0, t1 / 1_000, 6), (s) => x(s * 1_000), "time, s");
  body += legendRow(8, axisPlot.bottom + 34);
  return { svg: svg("timeline", title, p, body), omittedAgents: ids.length - chosen.length, omittedMarks };
}

function laneIds(agents: readonly AgentFigures[], marks: readonly AgentMark[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const id of [...agents.map((a) => a.id), ...marks.map((m) => m.agentId)]) {
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(id);
  }
  return out;
}

// Agents something happened to are the ones worth a lane; the rest fill what is left, in order.
function chooseLanes(ids: readonly string[], byAgent: ReadonlyMap<string, readonly AgentMark[]>): string[] {
  if (ids.length <= MAX_LANES) return [...ids];
  const keep = new Set<string>();
  for (const id of ids) if (keep.size < MAX_LANES && (byAgent.get(id)?.length ?? 0) > 0) keep.add(id);
  for (const id of ids) if (keep.size < MAX_LANES) keep.add(id);
  return ids.filter((id) => keep.has(id));
}

interface Segment<S> {
  from: number;
  to: number;
  state: S;
}

function segments(marks: readonly AgentMark[], t1: number): { states: Segment<LaneState>[]; breaker: Segment<"open" | "halfOpen">[]; dropped: number } {
  let state: LaneState = marks[0]?.what === "added" ? "absent" : "up";
  let since = 0;
  let band: BreakerBand = "closed";
  let bandSince = 0;
  const states: Segment<LaneState>[] = [];
  const breaker: Segment<"open" | "halfOpen">[] = [];
  let dropped = 0;
  const close = (next: LaneState, t: number): void => {
    if (next === state) return;
    if (states.length < MAX_SEGMENTS_PER_LANE) states.push({ from: since, to: t, state });
    else dropped++;
    state = next;
    since = t;
  };
  const closeBand = (next: BreakerBand, t: number): void => {
    if (next === band) return;
    if (band !== "closed") {
      if (breaker.length < MAX_SEGMENTS_PER_LANE) breaker.push({ from: bandSince, to: t, state: band });
      else dropped++;
    }
    band = next;
    bandSince = t;
  };
  for (const m of marks) {
    switch (m.what) {
      case "crashed":
      case "failed":
        close("down", m.t);
        break;
      case "restarting":
        close("restarting", m.t);
        break;
      case "restarted":
      case "added":
        close("up", m.t);
        break;
      case "removed":
        close("absent", m.t);
        break;
      case "breaker.open":
        closeBand("open", m.t);
        break;
      case "breaker.halfOpen":
        closeBand("halfOpen", m.t);
        break;
      case "breaker.closed":
        closeBand("closed", m.t);
        break;
    }
  }
  if (states.length < MAX_SEGMENTS_PER_LANE) states.push({ from: since, to: t1, state });
  closeBand("closed", t1);
  return { states: states.filter((s) => s.state !== "absent" && s.to > s.from), breaker, dropped };
}

function glyph(what: AgentMark["what"]): string | undefined {
  switch (what) {
    case "crashed":
    case "failed":
      return `<path d="M-4,-4L4,4M-4,4L4,-4"/>`;
    case "restarted":
      return `<circle r="3.5"/>`;
    case "breaker.open":
      return `<path d="M-4,-4L4,-4L0,3Z"/>`;
    default:
      return undefined;
  }
}

function legendRow(x0: number, y: number): string {
  const items: [string, string][] = [
    ["st-up", "up"],
    ["st-down", "down (crashed)"],
    ["st-restarting", "restarting"],
    ["br-open", "breaker open"],
    ["br-halfOpen", "half-open"],
  ];
  let out = "";
  let x = x0;
  for (const [className, label] of items) {
    out += `<rect class="${className}" x="${px(x)}" y="${px(y - 9)}" width="12" height="10"/><text class="legend" x="${px(x + 16)}" y="${px(y)}">${label}</text>`;
    x += 24 + label.length * 6;
  }
  const marks: [AgentMark["what"], string][] = [["crashed", "crash"], ["restarted", "restart"], ["breaker.open", "breaker trip"]];
  for (const [what, label] of marks) {
    out += `<g class="mark mark-${what.replace(".", "-")}" transform="translate(${px(x + 4)},${px(y - 4)})">${glyph(what)}</g><text class="legend" x="${px(x + 14)}" y="${px(y)}">${label}</text>`;
    x += 24 + label.length * 6;
  }
  return out;
}
