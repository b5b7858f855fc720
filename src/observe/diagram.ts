/**
 * A machine definition drawn as a state diagram (SVG text), for the dashboard: one box per state
 * (compound states frame their children), arrows for transitions labelled with their events, the
 * initial state marked, final states double-framed, transitions of a parent to its children
 * drawn from an "any state" marker. Placement is dagre's layered layout (the one Mermaid draws
 * state diagrams with: ranks, crossing reduction, edge labels placed clear of the boxes) —
 * hand-placed columns read poorly as soon as a machine has a few states that all lead back to one
 * (an agent's idle, busy, saturated, failed, restarting) — and it is imported on first use, so
 * importing apiary does not load it.
 *
 * Each state's group carries `data-state="path"` and an empty `<text data-count="path">`, which
 * the dashboard page fills with how many actors are in that state.
 *
 * @module
 */
import type { EdgeLabel, GraphLabel, NodeLabel } from "@dagrejs/dagre";

/** What the diagram reads of a state node's config (XState's, or its JSON). */
interface StateConfig {
  id?: unknown;
  initial?: unknown;
  type?: unknown;
  states?: unknown;
  on?: unknown;
  always?: unknown;
  after?: unknown;
  invoke?: unknown;
}

/** A state of the definition, flattened. */
interface StateInfo {
  path: string;
  name: string;
  config: StateConfig;
  children: string[];
  final: boolean;
}

const CHAR = 7.2; // mean advance of a 12 px sans-serif character
const LABEL_CHAR = 5.8; // the same at 10 px (edge labels)
const LEAF_HEIGHT = 44;
const ANY = "any state";

type Dagre = typeof import("@dagrejs/dagre");
let dagre: Promise<Dagre> | undefined;

/** True when `definition` describes states to draw (a machine, not a promise or callback actor). */
export function isMachineDefinition(definition: unknown): definition is { id?: unknown; states: object } {
  const states = (definition as StateConfig | null | undefined)?.states;
  return typeof states === "object" && states !== null && Object.keys(states).length > 0;
}

/**
 * Draws the machine `definition` as SVG text. `key` names it in element ids (several diagrams
 * share one page).
 */
export async function renderMachine(definition: unknown, key: string): Promise<string> {
  const { graphlib, layout } = await (dagre ??= import("@dagrejs/dagre"));
  const root = (typeof definition === "object" && definition !== null ? definition : {}) as StateConfig;
  const machineId = typeof root.id === "string" ? root.id : undefined;
  const states = new Map<string, StateInfo>();
  const byId = new Map<string, string>();
  const topLevel = collect(root, "", states, byId);

  const g = new graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: true, compound: true });
  g.setGraph({ rankdir: "LR", nodesep: 26, ranksep: 48, edgesep: 12, marginx: 14, marginy: 14 });
  for (const s of states.values()) {
    const compound = s.children.length > 0;
    g.setNode(node(s.path), compound ? { width: 0, height: 0, label: s.name, paddingTop: 26 } : { width: Math.max(88, s.name.length * CHAR + 36), height: LEAF_HEIGHT, label: s.name });
    const parent = s.path.includes(".") ? s.path.slice(0, s.path.lastIndexOf(".")) : undefined;
    if (parent !== undefined) g.setParent(node(s.path), node(parent));
  }

  // Transitions, merged by pair of states (dagre cannot end an edge on a compound state: such an
  // end goes to the state it enters, its initial leaf, or leaves from its first leaf).
  const edges = new Map<string, { from: string; to: string; events: string[]; any: boolean }>();
  const addEdge = (from: string, to: string, event: string, any = false): void => {
    if (from === to) return;
    const k = `${from}\u0000${to}`;
    const e = edges.get(k) ?? { from, to, events: [], any };
    if (!e.events.includes(event)) e.events.push(event);
    edges.set(k, e);
  };
  for (const s of states.values()) {
    const parent = s.path.includes(".") ? s.path.slice(0, s.path.lastIndexOf(".")) : "";
    for (const [event, target] of transitionsOf(s.config)) {
      const to = resolve(target, s.path, parent, states, byId, machineId);
      if (to !== undefined) addEdge(leafOf(s.path, states, "first"), leafOf(to, states, "initial"), event);
    }
  }
  for (const [event, target] of transitionsOf(root, false)) {
    const to = resolve(target, "", "", states, byId, machineId);
    if (to !== undefined) addEdge(ANY, leafOf(to, states, "initial"), event, true);
  }
  const anyUsed = [...edges.values()].some((e) => e.any);
  if (anyUsed) g.setNode(ANY, { width: ANY.length * LABEL_CHAR + 22, height: 18, label: ANY });
  // The initial markers: a dot leading into each initial state.
  const initials: string[] = [];
  for (const [parent, children] of [["", topLevel] as const, ...[...states.values()].map((s) => [s.path, s.children] as const)]) {
    if (children.length === 0) continue;
    const config = parent === "" ? root : states.get(parent)!.config;
    if (config.type === "parallel") continue;
    const initial = typeof config.initial === "string" && children.includes(joinPath(parent, config.initial)) ? joinPath(parent, config.initial) : children[0]!;
    const marker = `initial:${parent}`;
    g.setNode(marker, { width: 10, height: 10 });
    if (parent !== "") g.setParent(marker, node(parent));
    initials.push(marker);
    g.setEdge(marker, node(leafOf(initial, states, "initial")), { width: 0, height: 0, minlen: 1 }, marker);
  }
  for (const [k, e] of edges) {
    const label = e.events.length <= 2 ? e.events.join(", ") : `${e.events.slice(0, 2).join(", ")} +${e.events.length - 2}`;
    g.setEdge(e.from === ANY ? ANY : node(e.from), node(e.to), { label, width: label.length * LABEL_CHAR + 8, height: 14, labelpos: "c", minlen: 1 }, k);
  }
  layout(g);

  const safeKey = key.replace(/[^a-zA-Z0-9_-]/g, "_");
  const marker = `arrow-${safeKey}`;
  const graph = g.graph();
  const width = Math.ceil(graph.width ?? 0);
  const height = Math.ceil(graph.height ?? 0);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="machine" data-machine="${attr(key)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${
      attr(`state diagram of ${key}`)
    }">`,
    `<defs><marker id="${marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" class="arrowhead"/></marker></defs>`,
  ];
  // Compound states first (outermost first), so their children sit on top.
  const ordered = [...states.values()].sort((a, b) => depth(a.path) - depth(b.path));
  for (const s of ordered.filter((s) => s.children.length > 0)) out.push(stateBox(s, g.node(node(s.path)), true));
  for (const edge of g.edges()) {
    const label = g.edge(edge);
    const points = label.points ?? [];
    if (points.length < 2) continue;
    const any = edge.v === ANY;
    const title = typeof label["label"] === "string" ? `<title>${text(label["label"])}</title>` : "";
    out.push(`<path class="edge${any ? " any-edge" : ""}" d="${basis(points)}" marker-end="url(#${marker})">${title}</path>`);
  }
  for (const m of initials) {
    const p = g.node(m);
    out.push(`<circle class="initial" cx="${n(p.x ?? 0)}" cy="${n(p.y ?? 0)}" r="5"/>`);
  }
  if (anyUsed) {
    const p = g.node(ANY);
    out.push(`<rect class="any" x="${n((p.x ?? 0) - p.width / 2)}" y="${n((p.y ?? 0) - p.height / 2)}" width="${n(p.width)}" height="${n(p.height)}" rx="9"/>`);
    out.push(`<text class="any-label" x="${n(p.x ?? 0)}" y="${n((p.y ?? 0) + 3.5)}" text-anchor="middle">${ANY}</text>`);
  }
  for (const s of ordered.filter((s) => s.children.length === 0)) out.push(stateBox(s, g.node(node(s.path)), false));
  for (const edge of g.edges()) {
    const label = g.edge(edge);
    if (typeof label["label"] !== "string" || label.x === undefined || label.y === undefined) continue;
    out.push(`<text class="event" x="${n(label.x)}" y="${n(label.y + 3.5)}" text-anchor="middle">${text(label["label"])}</text>`);
  }
  out.push("</svg>");
  return out.join("");
}

function stateBox(s: StateInfo, p: NodeLabel, compound: boolean): string {
  const x = (p.x ?? 0) - p.width / 2;
  const y = (p.y ?? 0) - p.height / 2;
  const parts = [`<g class="state${compound ? " compound" : ""}" data-state="${attr(s.path)}">`];
  parts.push(`<rect class="box" x="${n(x)}" y="${n(y)}" width="${n(p.width)}" height="${n(p.height)}" rx="8"/>`);
  if (s.final) parts.push(`<rect class="final" x="${n(x + 3)}" y="${n(y + 3)}" width="${n(p.width - 6)}" height="${n(p.height - 6)}" rx="6"/>`);
  if (compound) {
    parts.push(`<text class="name" x="${n(x + 10)}" y="${n(y + 16)}">${text(s.name)}</text>`);
    parts.push(`<text class="count" data-count="${attr(s.path)}" x="${n(x + p.width - 10)}" y="${n(y + 16)}" text-anchor="end"></text>`);
  } else {
    parts.push(`<text class="name" x="${n(x + p.width / 2)}" y="${n(y + 18)}" text-anchor="middle">${text(s.name)}</text>`);
    parts.push(`<text class="count" data-count="${attr(s.path)}" x="${n(x + p.width / 2)}" y="${n(y + 35)}" text-anchor="middle"></text>`);
  }
  parts.push("</g>");
  return parts.join("");
}

/** Flattens the states under `config` into `into` (and ids into `byId`); returns its children's paths. */
function collect(config: StateConfig, prefix: string, into: Map<string, StateInfo>, byId: Map<string, string>): string[] {
  const states = (typeof config.states === "object" && config.states !== null ? config.states : {}) as Record<string, StateConfig>;
  const paths: string[] = [];
  for (const [name, child] of Object.entries(states)) {
    if (typeof child !== "object" || child === null) continue;
    const path = joinPath(prefix, name);
    const info: StateInfo = { path, name, config: child, children: [], final: child.type === "final" };
    into.set(path, info);
    if (typeof child.id === "string") byId.set(child.id, path);
    info.children = collect(child, path, into, byId);
    paths.push(path);
  }
  return paths;
}

/** A compound state's leaf an arrow meets: the one it enters (its initial, down) or its first. */
function leafOf(path: string, states: Map<string, StateInfo>, which: "initial" | "first"): string {
  let s = states.get(path);
  while (s !== undefined && s.children.length > 0) {
    const initial = which === "initial" && typeof s.config.initial === "string" ? joinPath(s.path, s.config.initial) : undefined;
    s = states.get(initial !== undefined && s.children.includes(initial) ? initial : s.children[0]!);
  }
  return s?.path ?? path;
}

/** The state path a target names, from a state at `source` whose parent is `parent` ("" at the top). */
function resolve(target: string, source: string, parent: string, states: Map<string, StateInfo>, byId: Map<string, string>, machineId: string | undefined): string | undefined {
  let path: string | undefined;
  if (target.startsWith("#")) {
    const ref = target.slice(1);
    if (machineId !== undefined && ref.startsWith(`${machineId}.`)) path = ref.slice(machineId.length + 1);
    else {
      const dot = ref.indexOf(".");
      const base = byId.get(dot === -1 ? ref : ref.slice(0, dot));
      path = base === undefined ? undefined : dot === -1 ? base : `${base}.${ref.slice(dot + 1)}`;
    }
  } else if (target.startsWith(".")) path = joinPath(source, target.slice(1));
  else path = joinPath(parent, target);
  return path !== undefined && states.has(path) ? path : undefined;
}

/** Every transition of a state node: [event name, target], for on, always, after and invoke's onDone/onError. */
function transitionsOf(node: StateConfig, includeEventless = true): [string, string][] {
  const out: [string, string][] = [];
  const add = (event: string, def: unknown): void => {
    for (const t of targetsOf(def)) out.push([event, t]);
  };
  if (typeof node.on === "object" && node.on !== null) { for (const [event, def] of Object.entries(node.on)) add(event, def); }
  if (includeEventless) {
    if (node.always !== undefined) add("always", node.always);
    if (typeof node.after === "object" && node.after !== null) { for (const [delay, def] of Object.entries(node.after)) add(`after ${delay}`, def); }
    for (const invoke of Array.isArray(node.invoke) ? node.invoke : node.invoke !== undefined ? [node.invoke] : []) {
      const i = invoke as { onDone?: unknown; onError?: unknown } | null;
      if (i?.onDone !== undefined) add("done", i.onDone);
      if (i?.onError !== undefined) add("error", i.onError);
    }
  }
  return out;
}

function targetsOf(def: unknown): string[] {
  if (typeof def === "string") return [def];
  if (Array.isArray(def)) return def.flatMap(targetsOf);
  if (typeof def === "object" && def !== null) {
    const target = (def as { target?: unknown }).target;
    if (typeof target === "string") return [target];
    if (Array.isArray(target)) return target.filter((t): t is string => typeof t === "string");
  }
  return [];
}

/** The state paths a state value has active: `"busy"` → busy; `{ a: "b" }` → a, a.b. */
export function activePaths(value: unknown, prefix = ""): string[] {
  if (typeof value === "string") return [joinPath(prefix, value)];
  if (typeof value !== "object" || value === null) return [];
  const out: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = joinPath(prefix, key);
    out.push(path, ...activePaths(child, path));
  }
  return out;
}

/**
 * An SVG path through `points` as a uniform B-spline (d3's curveBasis): smooth, starting and
 * ending on the first and last point (where dagre puts the arrow's ends, on the boxes' borders).
 */
function basis(points: readonly { x: number; y: number }[]): string {
  const p = points;
  if (p.length === 2) return `M${n(p[0]!.x)} ${n(p[0]!.y)}L${n(p[1]!.x)} ${n(p[1]!.y)}`;
  let d = `M${n(p[0]!.x)} ${n(p[0]!.y)}L${n((5 * p[0]!.x + p[1]!.x) / 6)} ${n((5 * p[0]!.y + p[1]!.y) / 6)}`;
  const curve = (a: { x: number; y: number }, b: { x: number; y: number }, c: { x: number; y: number }): string =>
    `C${n((2 * a.x + b.x) / 3)} ${n((2 * a.y + b.y) / 3)} ${n((a.x + 2 * b.x) / 3)} ${n((a.y + 2 * b.y) / 3)} ${n((a.x + 4 * b.x + c.x) / 6)} ${n((a.y + 4 * b.y + c.y) / 6)}`;
  for (let i = 2; i < p.length; i++) d += curve(p[i - 2]!, p[i - 1]!, p[i]!);
  const last = p.at(-1)!;
  return `${d}${curve(p.at(-2)!, last, last)}L${n(last.x)} ${n(last.y)}`;
}

function node(path: string): string {
  return `state:${path}`;
}

function joinPath(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

function depth(path: string): number {
  return path.split(".").length;
}

function n(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function text(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function attr(s: string): string {
  return text(s).replace(/"/g, "&quot;");
}
