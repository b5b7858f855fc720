/**
 * The Stately inspector's protocol: the messages `@statelyai/inspect` sends for XState's
 * inspection events (its `convertXStateEvent`, serialised as its WebSocket adapter does, with
 * safe-stable-stringify to depth 10), made here from live actors and from trace records, so the
 * relay, a replayed trace and the library's own observer speak alike: `createdAt` in epoch ms
 * (a string), `id` null, snapshots with their state value and context.
 *
 * @module
 */
import { configure } from "safe-stable-stringify";
import type { AnyEventObject, InspectionEvent } from "xstate";
import type { TraceRecord } from "./trace.ts";

/** The @statelyai/inspect version whose message format this module writes. */
export const STATELY_EVENT_VERSION = "0.7.2";

/** A message of the inspector protocol, as a receiver (`createWebSocketReceiver`) gets it. */
export type InspectorMessage =
  | (MessageBase & { type: "@xstate.actor"; name: string; definition: string | undefined; parentId: string | undefined; snapshot: unknown })
  | (MessageBase & { type: "@xstate.event"; event: AnyEventObject; sourceId: string | undefined })
  | (MessageBase & { type: "@xstate.snapshot"; event: AnyEventObject; snapshot: unknown });

interface MessageBase {
  sessionId: string;
  rootId: string | undefined;
  /** Epoch ms, as a string. */
  createdAt: string;
  id: null;
  _version: string;
}

// The library's settings: sorted keys, cycles marked, nesting cut at 10 levels.
const safeStringify = configure({ maximumDepth: 10 });

/** Functions become `{ type: name }`, as the library writes them. */
function safeReplacer(_key: string, value: unknown): unknown {
  return typeof value === "function" ? { type: (value as { name?: string }).name } : value;
}

/**
 * `message` as the text a receiver gets. The engine's JSON.stringify first (several times faster
 * on the large snapshots and events of a busy hive); a message it cannot write (a cycle, a bigint)
 * goes through safe-stable-stringify as the library writes it.
 */
export function stringifyMessage(message: InspectorMessage): string {
  try {
    return JSON.stringify(message, safeReplacer);
  } catch {
    return safeStringify(message, safeReplacer) ?? "null";
  }
}

/** The parts of an actor ref XState does not type publicly but every `Actor` has. */
export interface ActorRefInternals {
  id: string;
  sessionId: string;
  _parent?: { sessionId: string } | undefined;
  logic?: { config?: unknown } | undefined;
  getSnapshot(): unknown;
}

// Serialised machine definitions by config object: one serialisation per machine, not per actor.
const definitions = new WeakMap<object, string>();

/** The machine definition as the inspector draws it (the logic's config, functions as `{ type }`). */
export function definitionOf(ref: ActorRefInternals): string {
  const config = ref.logic?.config;
  if (typeof config !== "object" || config === null) return safeStringify({ id: nameOf(ref) }, safeReplacer) ?? "{}";
  let text = definitions.get(config);
  if (text === undefined) {
    text = safeStringify(config, safeReplacer) ?? "{}";
    definitions.set(config, text);
  }
  return text;
}

/** The actor's name in the inspector: its id, or its machine's id when the id is the session id. */
export function nameOf(ref: ActorRefInternals): string {
  const config = ref.logic?.config as { id?: unknown } | undefined;
  return ref.id === ref.sessionId && typeof config?.id === "string" ? config.id : ref.id;
}

/** The snapshot now, or undefined while the actor has none (XState announces an actor before). */
export function currentSnapshot(ref: ActorRefInternals): unknown {
  try {
    return ref.getSnapshot();
  } catch {
    return undefined;
  }
}

/** An actor's registration, with its snapshot now. */
export function actorMessage(ref: ActorRefInternals, rootId: string | undefined): InspectorMessage {
  return {
    type: "@xstate.actor",
    name: nameOf(ref),
    definition: definitionOf(ref),
    _version: STATELY_EVENT_VERSION,
    createdAt: String(Date.now()),
    id: null,
    rootId,
    parentId: ref._parent?.sessionId,
    sessionId: ref.sessionId,
    snapshot: currentSnapshot(ref) ?? { status: "active" },
  };
}

/** The message of an `@xstate.event` or `@xstate.snapshot` inspection event (others have none). */
export function eventMessage(event: InspectionEvent): InspectorMessage | undefined {
  const base = { sessionId: event.actorRef.sessionId, rootId: event.rootId, createdAt: String(Date.now()), id: null, _version: STATELY_EVENT_VERSION };
  if (event.type === "@xstate.event") return { ...base, type: "@xstate.event", event: event.event, sourceId: event.sourceRef?.sessionId };
  if (event.type === "@xstate.snapshot") return { ...base, type: "@xstate.snapshot", event: event.event, snapshot: event.snapshot };
  return undefined;
}

/** A trace record as the live stream would have sent it, or undefined for types it does not send. */
export function recordMessage(record: TraceRecord): InspectorMessage | undefined {
  const base = {
    sessionId: record.actor.sessionId,
    rootId: record.rootId,
    // Traces written before records carried the wall clock have only the writer's clock.
    createdAt: String(record.createdAt ?? record.at),
    id: null,
    _version: STATELY_EVENT_VERSION,
  };
  switch (record.type) {
    case "@xstate.actor": {
      let name = record.actor.id;
      if (name === record.actor.sessionId && record.definition !== undefined) {
        try {
          const id = (JSON.parse(record.definition) as { id?: unknown }).id;
          if (typeof id === "string") name = id;
        } catch {
          // keep the session id as name
        }
      }
      return { ...base, type: "@xstate.actor", name, definition: record.definition, parentId: record.parentId, snapshot: record.snapshot ?? { status: "active" } };
    }
    case "@xstate.event":
      return { ...base, type: "@xstate.event", event: record.event ?? { type: "" }, sourceId: record.source?.sessionId };
    case "@xstate.snapshot":
      return { ...base, type: "@xstate.snapshot", event: record.event ?? { type: "" }, snapshot: record.snapshot };
    default:
      return undefined;
  }
}
