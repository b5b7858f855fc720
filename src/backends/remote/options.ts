/**
 * The `remote` option of a hive on the `remote` backend (the coordinator of a cluster of worker
 * nodes on BullMQ and Redis): its schema, defaults and types. Imports zod only, so the hive's
 * schema can validate it without loading BullMQ.
 *
 * @module
 */
import { z } from "zod";
import { redisUrl } from "../../core/validation.ts";

/** Options of the coordinator: `createHive({ backend: "remote", remote: { redis } })`. */
export interface RemoteOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. Redis must run with `maxmemory-policy noeviction`. */
  redis: string;
  /** Prefix of every Redis key and BullMQ queue of the cluster; nodes must use the same. @default "apiary" */
  prefix?: string;
  /** Worker nodes `start()` waits for (their task kinds are the hive's kinds), within `startTimeoutMs`. @default 1 */
  minNodes?: number;
  /** How often the coordinator looks at the nodes' leases (and mirrors the dependency breakers), ms. @default 250 */
  checkMs?: number;
  /**
   * The coordinator's backstop on a running attempt: past `timeoutMs + abortGraceMs + marginMs`
   * from its start without an outcome from its node, it ends `TASK_TIMEOUT` here (the node
   * enforces `timeoutMs` itself; this covers an outcome lost on the way). @default 5000
   */
  marginMs?: number;
}

/** {@link RemoteOptions} with defaults applied. */
export type ResolvedRemoteOptions = Required<RemoteOptions>;

/** A cluster prefix or node id: letters, digits, `_`, `-`, `.` (they become parts of Redis keys). */
export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const name = z.string({ error: "must be a string of letters, digits, _, - or . (1 to 64)" }).regex(NAME_PATTERN, { error: "must be a string of letters, digits, _, - or . (1 to 64)" });

/** A `redis://` or `rediss://` URL. */
export const redisUrlSchema = redisUrl();

const int = (min: number, max: number) => {
  const error = `must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};

/** Schema of the `remote` option. */
export const remoteOptionsSchema = z.strictObject(
  {
    redis: redisUrlSchema,
    prefix: name.default("apiary"),
    minNodes: int(0, 10_000).default(1),
    checkMs: int(10, 60_000).default(250),
    marginMs: int(0, 3_600_000).default(5_000),
  },
  { error: "must be an object { redis, prefix, minNodes, checkMs, marginMs }" },
);

/** Schema of a node id. */
export const nodeIdSchema = name;
