/**
 * `inspectHive`: the library side of `apiary inspect`. Starts the inspector relay on loopback
 * (`@statelyai/inspect`'s WebSocket observer connected to it, no browser opened), creates a hive
 * whose actors report to it through a filter, and gives back the URL a person opens.
 *
 * @module
 */
import type { InspectionEventType } from "../observe/trace.ts";
import { createHive, type Hive, type HiveOptions } from "./hive.ts";
import { filterInspect, type FilterInspectOptions, type InspectorRelay, startInspector, type StartInspectorOptions } from "../observe/inspect.ts";

/** Options of {@link inspectHive}: where the relay listens, and what reaches it. */
export interface InspectHiveOptions extends StartInspectorOptions {
  /**
   * Which inspection events reach the relay. The Stately inspector draws actors, events and
   * snapshots only, so the others are left out unless asked for; sample snapshots
   * (`{ sample: { "@xstate.snapshot": 10 } }`) to cut the cost further on busy hives.
   * @default { types: ["@xstate.actor", "@xstate.event", "@xstate.snapshot"] }
   */
  filter?: FilterInspectOptions;
}

/** A hive connected to a running inspector relay. */
export interface InspectedHive extends AsyncDisposable {
  /** The hive (not started: call `start()`). */
  readonly hive: Hive;
  /** The relay the hive's actors report to. */
  readonly relay: InspectorRelay;
  /** The page to open in a browser, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Stops the hive, then the relay. Idempotent. */
  close(): Promise<void>;
}

/** What the inspector draws; the other inspection events cost the relay and show nothing. */
const DRAWN_TYPES: readonly InspectionEventType[] = ["@xstate.actor", "@xstate.event", "@xstate.snapshot"];

/**
 * Starts an inspector relay and creates a hive connected to it.
 *
 * @example
 * ```ts
 * await using inspected = await inspectHive({ agents: [{ id: "a" }] });
 * console.log(`open ${inspected.url}`);
 * await inspected.hive.start();
 * ```
 * @throws {InvalidOptionsError} When a hive, relay or filter option is invalid.
 * @throws {ServeFailedError} (rejects) When the relay cannot listen or its observer cannot connect.
 */
export async function inspectHive(hiveOptions: Omit<HiveOptions, "inspect">, options: InspectHiveOptions = {}): Promise<InspectedHive> {
  const { filter, ...relayOptions } = options;
  const relay = await startInspector(relayOptions);
  let hive: Hive;
  try {
    hive = createHive({ ...hiveOptions, inspect: filterInspect(relay.inspect, filter ?? { types: DRAWN_TYPES }) });
  } catch (error) {
    await relay.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= hive.stop().finally(() => relay.close());
    return closing;
  };
  return { hive, relay, url: relay.url, close, [Symbol.asyncDispose]: close };
}
