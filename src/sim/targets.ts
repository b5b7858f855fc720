/**
 * Targets, as k6 users know thresholds: `waitMs.p95<2000`, `successRate>=99.5%`,
 * `byKind.ask.latencyMs.p99<8000`. A target names a figure of the report by its path (see
 * `figure-names.ts`), a comparison and a value (`%` divides by 100, for rates). A run meets it
 * when its figure is on the right side; a sweep row or a plan candidate only when the figure's
 * whole 95% confidence interval is.
 *
 * @module
 */
import { describeValue, InvalidOptionsError } from "../core/errors.ts";
import { figureValue } from "./figures.ts";
import { describeFigure, formatFigureValue, GROUP_FIGURES, RUN_FIGURES, splitFigure } from "./figure-names.ts";
import type { Estimate, RunReport, TargetResult } from "./report.ts";
import { PRIORITIES } from "../../actors/types.ts";

/** A comparison. */
export type TargetOp = "<" | "<=" | ">" | ">=";

/** A target, parsed. */
export interface Target {
  /** As written (trimmed). */
  text: string;
  figure: string;
  op: TargetOp;
  value: number;
}

/** A target as a script may give it: the text, or its parts. */
export type TargetInput = string | { figure: string; op: TargetOp; value: number };

const FORM = /^\s*([A-Za-z_][\w.-]*)\s*(<=|>=|<|>)\s*(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*$/;
const FORMS = "FIGURE<VALUE, FIGURE<=VALUE, FIGURE>VALUE or FIGURE>=VALUE (e.g. waitMs.p95<2000, successRate>=99.5%)";

/** What the figures of a scenario can be named: its task kinds (priorities are fixed). */
export interface TargetContext {
  /** Task kinds a `byKind.NAME.…` target may name; any name when undefined. */
  kinds?: readonly string[];
}

/**
 * Parses and checks one target. `name` is how the message names the input (`"--target"`,
 * `"targets[1]"`).
 * @throws InvalidOptionsError naming the input and the value received: not of the form, an
 *   unknown figure, or a kind the scenario does not have
 */
export function parseTarget(input: TargetInput, name: string, context: TargetContext = {}): Target {
  let target: Target;
  if (typeof input === "string") {
    const m = FORM.exec(input);
    if (m === null) throw new InvalidOptionsError(`${name} must be ${FORMS}, received ${describeValue(input)}`);
    const value = Number(m[3]) / (m[4] === "%" ? 100 : 1);
    target = { text: input.trim(), figure: m[1]!, op: m[2] as TargetOp, value };
  } else if (
    input !== null && typeof input === "object" && typeof input.figure === "string" && ["<", "<=", ">", ">="].includes(input.op) && typeof input.value === "number" && Number.isFinite(input.value)
  ) {
    target = { text: `${input.figure}${input.op}${input.value}`, figure: input.figure, op: input.op, value: input.value };
  } else {
    throw new InvalidOptionsError(`${name} must be a string of the form ${FORMS}, or { figure, op, value }, received ${describeValue(input)}`);
  }
  const { group, figure } = splitFigure(target.figure);
  if (describeFigure(target.figure) === undefined) {
    const known = group === undefined
      ? `figures are ${RUN_FIGURES.join(", ")}, and byPriority.PRIORITY.… or byKind.KIND.… followed by ${GROUP_FIGURES.join(", ")}`
      : `a ${group.by}'s figures are ${GROUP_FIGURES.join(", ")}`;
    throw new InvalidOptionsError(
      `${name} names no figure of the report: ${JSON.stringify(group === undefined ? target.figure : figure)} (${known}), received ${describeValue(typeof input === "string" ? input : target.text)}`,
    );
  }
  if (group?.by === "priority" && !(PRIORITIES as readonly string[]).includes(group.name)) {
    throw new InvalidOptionsError(`${name} names priority ${JSON.stringify(group.name)}, which is none of ${PRIORITIES.join(", ")}, received ${describeValue(target.text)}`);
  }
  if (group?.by === "kind" && context.kinds !== undefined && !context.kinds.includes(group.name)) {
    throw new InvalidOptionsError(
      `${name} names kind ${JSON.stringify(group.name)}, which the scenario does not have (its kinds: ${context.kinds.join(", ")}), received ${describeValue(target.text)}`,
    );
  }
  return target;
}

/**
 * Parses every target of a list (see {@link parseTarget}). `name` is the flag or option,
 * unquoted (`--target`, or `targets` with `indexed`: `"targets[2]"`); `action`, when given,
 * starts the message as the library's do (`Cannot plan: …`).
 */
export function parseTargets(inputs: readonly TargetInput[], name: string, context: TargetContext = {}, indexed = false, action?: string): Target[] {
  try {
    return inputs.map((t, i) => parseTarget(t, indexed ? `"${name}[${i}]"` : `"${name}"`, context));
  } catch (error) {
    if (action === undefined || !(error instanceof InvalidOptionsError)) throw error;
    throw new InvalidOptionsError(`Cannot ${action}: ${error.message}`);
  }
}

function holds(op: TargetOp, actual: number, value: number): boolean {
  switch (op) {
    case "<":
      return actual < value;
    case "<=":
      return actual <= value;
    case ">":
      return actual > value;
    case ">=":
      return actual >= value;
  }
}

/** How one run did against `targets`. */
export function evaluateRun(report: RunReport, targets: readonly Target[]): TargetResult[] {
  return targets.map((t) => {
    const actual = figureValue(report, t.figure);
    const base = { target: t.text, figure: t.figure, op: t.op, value: t.value };
    if (actual === undefined) return { ...base, actual: null, passed: false, note: "the report has no such figure (no task of that group?)" };
    return { ...base, actual, passed: holds(t.op, actual, t.value) };
  });
}

/**
 * How an estimate over replicas did against a target: met only when the whole 95% interval is
 * on the right side; `unsure` when the mean is but the interval is not.
 */
export function evaluateEstimate(estimate: Estimate | undefined, t: Target): TargetResult & { unsure?: true } {
  const base = { target: t.text, figure: t.figure, op: t.op, value: t.value };
  if (estimate === undefined || !Number.isFinite(estimate.mean)) return { ...base, actual: null, passed: false, note: "no replica has this figure (no task of that group?)" };
  const [lo, hi] = estimate.ci95;
  const below = t.op === "<" || t.op === "<=";
  const worst = below ? hi : lo;
  const result = { ...base, actual: estimate.mean, ci95: [lo, hi] as [number, number] };
  if (holds(t.op, worst, t.value)) return { ...result, passed: true, ...(estimate.n === 1 ? { note: "one replica: no confidence interval" } : {}) };
  if (holds(t.op, estimate.mean, t.value)) {
    return { ...result, passed: false, unsure: true, note: `the mean meets it, but the 95% interval reaches ${formatFigureValue(t.figure, worst)}: not shown with 95% confidence` };
  }
  return { ...result, passed: false };
}

/** `true` when every result passed (no targets: true). */
export function allPassed(results: readonly TargetResult[] | undefined): boolean {
  return (results ?? []).every((r) => r.passed);
}

/** One line per target: `PASS waitMs.p95<2000 (wait before first attempt, p95): 1,234 ms`. */
export function targetLines(results: readonly TargetResult[]): string[] {
  return results.map((r) => {
    const info = describeFigure(r.figure);
    const actual = r.actual === null ? "—" : formatFigureValue(r.figure, r.actual);
    const ci = r.ci95 === undefined ? "" : ` [95% CI ${formatFigureValue(r.figure, r.ci95[0])} – ${formatFigureValue(r.figure, r.ci95[1])}]`;
    return `${r.passed ? "PASS" : "FAIL"}  ${r.target}  (${info?.label ?? r.figure}): ${actual}${ci}${r.note === undefined ? "" : ` — ${r.note}`}`;
  });
}
