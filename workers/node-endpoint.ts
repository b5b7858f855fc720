/**
 * Adapts a `node:worker_threads` port or Worker to the DOM-style endpoint comlink speaks, so the
 * comlink backend also runs on Node (where there is no global Web Worker).
 *
 * @module
 */
import type { Endpoint } from "comlink";

/** The part of a Node `MessagePort` / `Worker` the adapter uses. */
export interface NodePort {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(event: "message", listener: (data: unknown) => void): unknown;
  off(event: "message", listener: (data: unknown) => void): unknown;
}

type Listener = ((event: { data: unknown }) => void) | { handleEvent(event: { data: unknown }): void };

/** Wraps a Node port as a comlink {@link Endpoint}. */
export function nodeEndpoint(port: NodePort): Endpoint {
  const wrapped = new WeakMap<object, (data: unknown) => void>();
  const endpoint = {
    postMessage(message: unknown, transfer?: readonly unknown[]): void {
      port.postMessage(message, transfer ?? []);
    },
    addEventListener(_type: string, listener: Listener): void {
      const fn = (data: unknown): void => {
        if (typeof listener === "function") listener({ data });
        else listener.handleEvent({ data });
      };
      wrapped.set(listener, fn);
      port.on("message", fn);
    },
    removeEventListener(_type: string, listener: Listener): void {
      const fn = wrapped.get(listener);
      if (fn) port.off("message", fn);
    },
  };
  return endpoint as unknown as Endpoint;
}
