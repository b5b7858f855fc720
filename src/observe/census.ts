/**
 * The actors alive now, from an inspection stream: each one's registration and latest snapshot,
 * so that a viewer connecting at any moment is first brought up to date (every machine drawn in
 * its current state) and then follows the live stream. Actors that stop (a snapshot whose status
 * is not `active`) are dropped, so memory follows the number of live actors, not the run's length.
 *
 * Two feeds: XState's inspection events of actors in this process ({@link ActorCensus.observeLive}
 * keeps the actor ref and reads its snapshot when asked: no copy per event), and messages of the
 * inspector protocol from elsewhere ({@link ActorCensus.observeMessage}: a replayed trace, another
 * process's inspector), kept as received, at most `maxActors` of them.
 *
 * @module
 */
import type { AnyEventObject, InspectionEvent } from "xstate";
import { actorMessage, type ActorRefInternals, currentSnapshot, type InspectorMessage, nameOf, STATELY_EVENT_VERSION, stringifyMessage } from "./stately.ts";

/** An actor as the census sees it now. */
export interface CensusActor {
  sessionId: string;
  /** Its parent's session id, if any. */
  parentId: string | undefined;
  /** Its name in the inspector (the actor's id, e.g. an agent's id). */
  name: string;
  /** Its machine definition (the config object, or parsed JSON), if it has one. */
  definition: unknown;
  /** Its latest snapshot (`value`, `status`, `context`, …). */
  snapshot: { value?: unknown; status?: string; context?: unknown } | undefined;
}

/** Called when an actor's state value changes (only while set: it costs a comparison per snapshot). */
export type CensusTransition = (actor: CensusActor, from: string | undefined, to: string) => void;

/** Options of {@link ActorCensus}. */
export interface ActorCensusOptions {
  /**
   * Actors known only from messages (not live in this process) kept at most; past it, those not
   * heard of for longest are dropped first. Live actors are bounded by the system itself.
   * @default 10000
   */
  maxActors?: number;
}

interface LiveEntry {
  readonly ref: ActorRefInternals;
  readonly rootId: string | undefined;
  /** The event of its latest snapshot, for the snapshot message a new viewer gets. */
  event: AnyEventObject | undefined;
  /** Its state value as text, kept only while a transition listener is set. */
  valueKey: string | undefined;
}

interface MessageEntry {
  readonly registration: InspectorMessage & { type: "@xstate.actor" };
  readonly raw: string;
  latest: (InspectorMessage & { type: "@xstate.snapshot" }) | undefined;
  latestRaw: string | undefined;
  /** When it was last heard of (a message count), for eviction. */
  touched: number;
  valueKey: string | undefined;
}

/** The live actors of an inspection stream. */
export class ActorCensus {
  readonly #maxActors: number;
  // live actors of this process, by session id, in registration order (parents before children).
  readonly #live = new Map<string, LiveEntry>();
  // actors known from messages, by session id, in registration order.
  readonly #messages = new Map<string, MessageEntry>();
  // parsed definitions by their text (a machine's text is shared by all its actors); bounded.
  readonly #definitions = new Map<string, unknown>();
  // live entries beyond which the next registration sweeps out stopped actors first.
  #sweepAt = 64;
  #heard = 0;
  #transition: CensusTransition | undefined;

  constructor(options: ActorCensusOptions = {}) {
    this.#maxActors = options.maxActors ?? 10_000;
  }

  /** Actors known now (stopped ones not yet swept may be counted until the next read). */
  get size(): number {
    return this.#live.size + this.#messages.size;
  }

  /** Sets (or clears) the listener of state value changes. */
  onTransition(listener: CensusTransition | undefined): void {
    this.#transition = listener;
    if (listener === undefined) {
      for (const e of this.#live.values()) e.valueKey = undefined;
      for (const e of this.#messages.values()) e.valueKey = undefined;
    }
  }

  /** Takes an inspection event of an actor in this process. */
  observeLive(event: InspectionEvent): void {
    if (event.type === "@xstate.actor") {
      if (this.#live.size >= this.#sweepAt) this.#sweep();
      const ref = event.actorRef as unknown as ActorRefInternals;
      this.#live.set(ref.sessionId, { ref, rootId: event.rootId, event: undefined, valueKey: undefined });
      return;
    }
    if (event.type !== "@xstate.snapshot") return;
    const entry = this.#live.get(event.actorRef.sessionId);
    if (entry === undefined) return;
    const snapshot = event.snapshot as { status?: string; value?: unknown };
    if (snapshot.status !== "active") {
      this.#live.delete(event.actorRef.sessionId);
      return;
    }
    entry.event = event.event;
    if (this.#transition !== undefined) {
      const to = valueKey(snapshot.value);
      const from = entry.valueKey;
      entry.valueKey = to;
      if (from !== to && from !== undefined) this.#transition(this.#liveActor(entry), from, to);
    }
  }

  /**
   * Takes a message of the inspector protocol (parsed) and its text. Returns false when it is not
   * one (no object with a `type` and a `sessionId`).
   */
  observeMessage(message: unknown, raw: string): boolean {
    const m = message as InspectorMessage | null;
    if (typeof m !== "object" || m === null || typeof m.type !== "string" || typeof m.sessionId !== "string") return false;
    this.#heard++;
    if (m.type === "@xstate.actor") {
      if (isStopped(m.snapshot)) this.#messages.delete(m.sessionId);
      else {
        this.#messages.set(m.sessionId, { registration: m, raw, latest: undefined, latestRaw: undefined, touched: this.#heard, valueKey: undefined });
        if (this.#messages.size > this.#maxActors) this.#evict();
      }
    } else if (m.type === "@xstate.snapshot") {
      const entry = this.#messages.get(m.sessionId);
      if (entry === undefined) return true;
      if (isStopped(m.snapshot)) {
        this.#messages.delete(m.sessionId);
        return true;
      }
      entry.latest = m;
      entry.latestRaw = raw;
      entry.touched = this.#heard;
      if (this.#transition !== undefined) {
        const to = valueKey((m.snapshot as { value?: unknown } | null)?.value);
        const from = entry.valueKey ?? valueKey((entry.registration.snapshot as { value?: unknown } | null)?.value);
        entry.valueKey = to;
        if (from !== to) this.#transition(this.#messageActor(entry), from, to);
      }
    }
    return true;
  }

  /**
   * What a viewer connecting now needs: for each live actor (parents first) its registration,
   * then its latest snapshot, as the text of inspector messages.
   */
  replay(): string[] {
    const out: string[] = [];
    for (const [id, e] of this.#live) {
      const snapshot = currentSnapshot(e.ref) as { status?: string } | undefined;
      if (snapshot !== undefined && snapshot.status !== "active") {
        this.#live.delete(id);
        continue;
      }
      out.push(stringifyMessage(actorMessage(e.ref, e.rootId)));
      if (snapshot !== undefined) {
        out.push(stringifyMessage({
          type: "@xstate.snapshot",
          sessionId: id,
          rootId: e.rootId,
          createdAt: String(Date.now()),
          id: null,
          _version: STATELY_EVENT_VERSION,
          event: e.event ?? { type: "" },
          snapshot,
        }));
      }
    }
    for (const e of this.#messages.values()) {
      out.push(e.raw);
      if (e.latestRaw !== undefined) out.push(e.latestRaw);
    }
    return out;
  }

  /** Every actor known now, parents before children (live ones first). */
  *actors(): IterableIterator<CensusActor> {
    for (const [id, e] of this.#live) {
      const snapshot = currentSnapshot(e.ref) as { status?: string } | undefined;
      if (snapshot !== undefined && snapshot.status !== "active") {
        this.#live.delete(id);
        continue;
      }
      yield this.#liveActor(e);
    }
    for (const e of this.#messages.values()) yield this.#messageActor(e);
  }

  #liveActor(e: LiveEntry): CensusActor {
    return {
      sessionId: e.ref.sessionId,
      parentId: e.ref._parent?.sessionId,
      name: nameOf(e.ref),
      definition: e.ref.logic?.config,
      snapshot: currentSnapshot(e.ref) as CensusActor["snapshot"],
    };
  }

  #messageActor(e: MessageEntry): CensusActor {
    return {
      sessionId: e.registration.sessionId,
      parentId: e.registration.parentId,
      name: e.registration.name,
      definition: this.#definition(e.registration.definition),
      snapshot: (e.latest?.snapshot ?? e.registration.snapshot) as CensusActor["snapshot"],
    };
  }

  #definition(text: string | undefined): unknown {
    if (text === undefined) return undefined;
    let parsed = this.#definitions.get(text);
    if (parsed === undefined) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
      // Distinct machines are few; a stream that sends endless distinct texts just misses the cache.
      if (this.#definitions.size < 256) this.#definitions.set(text, parsed);
    }
    return parsed ?? undefined;
  }

  /** Drops live entries whose actor has stopped (a sampled stream may have left out their last snapshot). */
  #sweep(): void {
    for (const [id, e] of this.#live) {
      const snapshot = currentSnapshot(e.ref) as { status?: string } | undefined;
      if (snapshot !== undefined && snapshot.status !== "active") this.#live.delete(id);
    }
    this.#sweepAt = Math.max(64, this.#live.size * 2);
  }

  /** Drops the tenth of the message entries heard of least recently. */
  #evict(): void {
    const byAge = [...this.#messages].sort((a, b) => a[1].touched - b[1].touched);
    for (const [id] of byAge.slice(0, Math.max(1, Math.floor(byAge.length / 10)))) this.#messages.delete(id);
  }
}

function isStopped(snapshot: unknown): boolean {
  const status = (snapshot as { status?: unknown } | null | undefined)?.status;
  return status !== undefined && status !== "active";
}

/** A state value as text: `"busy"`, or JSON for a nested one. */
export function valueKey(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? "";
}
