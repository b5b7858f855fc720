/**
 * What a simulated task looks like: its kind (drawn by weight), its priority (drawn from the
 * kind's mix, else the workload's), and for cacheable kinds an input drawn from a fixed set of
 * keys, so that repeats hit the hive's result cache.
 *
 * @module
 */
import { PRIORITIES, type Priority } from "../../actors/types.ts";
import type { TaskOptions } from "../hive/hive.ts";
import type { Random } from "../core/random.ts";
import type { Scenario } from "./scenario.ts";

/** Draws the next task of a scenario's workload. */
export type TaskMaker = () => TaskOptions<number | undefined>;

/** Cumulative weights, normalised to end at 1. */
function cumulative(weights: readonly number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  for (const w of weights) sum += w;
  let acc = 0;
  weights.forEach((w, i) => {
    acc += w / sum;
    out[i] = acc;
  });
  out[weights.length - 1] = 1;
  return out;
}

function draw(table: Float64Array, u: number): number {
  let i = 0;
  while (i < table.length - 1 && u >= table[i]!) i++;
  return i;
}

function priorityTable(mix: Partial<Record<Priority, number | undefined>>): { table: Float64Array; names: Priority[] } {
  const names = PRIORITIES.filter((p) => (mix[p] ?? 0) > 0);
  return { table: cumulative(names.map((p) => mix[p]!)), names };
}

/**
 * A task maker for `scenario`'s workload, drawing from `random`. Every task is a fresh object,
 * ready for `hive.submit`.
 */
export function createTaskMaker(scenario: Scenario, random: Random): TaskMaker {
  const kinds = scenario.workload.kinds;
  const kindTable = cumulative(kinds.map((k) => k.weight));
  const global = priorityTable(scenario.workload.priorities);
  const perKind = kinds.map((k) => {
    const mix = k.priorities === undefined ? global : priorityTable(k.priorities);
    return {
      kind: k.name,
      requires: k.requires,
      table: mix.table,
      names: mix.names,
      single: mix.names.length === 1 ? mix.names[0]! : undefined,
      timeoutMs: k.timeoutMs,
      retries: k.retries,
      cacheKeys: k.cache?.keys,
      cache: k.cache === undefined ? undefined : k.cache.ttlMs === undefined ? true : { ttlMs: k.cache.ttlMs },
    };
  });
  const single = perKind.length === 1 ? perKind[0]! : undefined;
  return () => {
    const k = single ?? perKind[draw(kindTable, random.next())]!;
    const priority = k.single ?? k.names[draw(k.table, random.next())]!;
    const task: TaskOptions<number | undefined> = { kind: k.kind, requires: k.requires, priority };
    if (k.timeoutMs !== undefined) task.timeoutMs = k.timeoutMs;
    if (k.retries !== undefined) task.retries = k.retries;
    if (k.cacheKeys !== undefined && k.cache !== undefined) {
      task.input = Math.floor(random.next() * k.cacheKeys);
      task.cache = k.cache;
    }
    return task;
  };
}
