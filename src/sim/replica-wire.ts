/**
 * What crosses Redis when a sweep's replicas run on worker nodes, defined once: the BullMQ queue
 * every node consumes, a replica job and its result, and the encoding that keeps them exact.
 * JSON alone would turn `Infinity` and `NaN` into `null` and drop `undefined` fields; the
 * encoding tags them so a replica's figures come back bit for bit as a local thread returns them.
 *
 * @module
 */

/** The BullMQ queue (under the cluster's prefix) that carries sweep replicas to the nodes. */
export const REPLICA_QUEUE = "sweep.replicas";

/** Times a node may die under one replica before the replica fails (BullMQ's `maxStalledCount`). */
export const MAX_REPLICA_STALLS = 5;

/** A replica job: the encoded `ReplicaJob` (scenario, seed, analyse). */
export interface ReplicaJobData {
  job: string;
}

/** A replica job's return value: the node that ran it and the encoded `ReplicaResult`. */
export interface ReplicaJobResult {
  node: string;
  result: string;
}

const TAG = "__apiary$";

function tag(value: unknown): unknown {
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0) ? value : { [TAG]: Object.is(value, -0) ? "-0" : String(value) };
  if (value === undefined) return { [TAG]: "undefined" };
  if (Array.isArray(value)) return value.map(tag);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = tag(v);
    return out;
  }
  return value;
}

function untag(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untag);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && keys[0] === TAG) {
      const text = record[TAG];
      return text === "undefined" ? undefined : text === "-0" ? -0 : Number(text);
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = untag(record[k]);
    return out;
  }
  return value;
}

/** `value` as JSON that keeps non-finite numbers, `-0` and `undefined` fields. */
export function encodeReplica(value: unknown): string {
  return JSON.stringify(tag(value));
}

/** The value {@link encodeReplica} encoded. */
export function decodeReplica<T>(text: string): T {
  return untag(JSON.parse(text)) as T;
}
