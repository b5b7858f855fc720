/**
 * The worker nodes of a cluster as its Redis shows them, for tools that use the nodes without
 * being their coordinator (`apiary load` and `apiary sweep` over Redis): the nodes up whose
 * heartbeat lease is held by the incarnation they describe.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { WaitTimeoutError } from "../../core/errors.ts";
import { clusterKeys, type NodeDescription } from "./protocol.ts";

/** The nodes of the cluster under `prefix` that are up and hold their lease, by id. */
export async function liveNodes(redis: Redis, prefix: string): Promise<NodeDescription[]> {
  const keys = clusterKeys(prefix);
  const all = await redis.hgetall(keys.nodes);
  const nodes: NodeDescription[] = [];
  for (const text of Object.values(all)) {
    try {
      const d = JSON.parse(text) as NodeDescription;
      if (d.state === "up") nodes.push(d);
    } catch {
      // Not a node description: not ours to judge.
    }
  }
  if (nodes.length === 0) return [];
  const leases = await redis.mget(...nodes.map((n) => keys.lease(n.id)));
  return nodes.filter((n, i) => leases[i] === n.incarnation).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Resolves to the live nodes once at least `minNodes` are up, looking every 200 ms.
 * @throws WaitTimeoutError (rejects) after `timeoutMs` without them, naming what it saw
 */
export async function awaitNodes(
  redis: Redis,
  options: { url: string; prefix: string; minNodes: number; timeoutMs: number; action: string; signal?: AbortSignal | undefined },
): Promise<NodeDescription[]> {
  const end = Date.now() + options.timeoutMs;
  for (;;) {
    const nodes = await liveNodes(redis, options.prefix);
    if (nodes.length >= options.minNodes) return nodes;
    if (Date.now() >= end || options.signal?.aborted === true) {
      throw new WaitTimeoutError(
        `Cannot ${options.action}: ${options.minNodes} worker ${options.minNodes === 1 ? "node" : "nodes"} needed on ${options.url} (prefix ${
          JSON.stringify(options.prefix)
        }), ${nodes.length} up after ${options.timeoutMs} ms; start them with apiary worker --redis ${options.url} --agents FILE`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Connects to `url`, waits for `minNodes` live nodes (see {@link awaitNodes}) and disconnects.
 * @throws WaitTimeoutError (rejects) when Redis does not answer or the nodes are not up within `timeoutMs`
 */
export async function clusterNodes(options: { url: string; prefix: string; minNodes: number; timeoutMs: number; action: string; signal?: AbortSignal | undefined }): Promise<NodeDescription[]> {
  const { connect, reachable } = await import("./redis.ts");
  const redis = connect(options.url, "apiary-roster");
  try {
    try {
      await reachable(redis, options.url, options.timeoutMs, options.signal);
    } catch (error) {
      throw new WaitTimeoutError(`Cannot ${options.action}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return await awaitNodes(redis, options);
  } finally {
    redis.disconnect();
  }
}
