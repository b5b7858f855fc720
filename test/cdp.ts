// Headless Chromium driven over the Chrome DevTools Protocol (a WebSocket, with the `ws` package):
// enough to open a page, read its DOM while it runs, record every request it makes and take a
// screenshot — what a test of a live page needs, without a browser-automation dependency.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { WebSocket } from "ws";

/** `$APIARY_CHROMIUM`, or the first Chromium-like browser on the PATH. */
export function findChromium(): string | undefined {
  const named = process.env.APIARY_CHROMIUM;
  if (named !== undefined && named !== "") return named;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      const path = join(dir, name);
      if (dir !== "" && existsSync(path)) return path;
    }
  }
  return undefined;
}

type Listener = (params: Record<string, unknown>) => void;

/** A page (a target attached in flat mode) of a {@link Browser}. */
export interface Page {
  /** Sends a CDP command to the page and resolves with its result. */
  send<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** Calls `listener` with the params of each `event` of the page. */
  on(event: string, listener: Listener): void;
  /** Evaluates `expression` in the page and resolves with its (JSON) value; rejects on an exception. */
  evaluate<T>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy (every 100 ms, at most `timeoutMs`); resolves with its value. */
  waitFor<T>(expression: string, timeoutMs?: number): Promise<T>;
  /** A PNG of the viewport. */
  screenshot(): Promise<Buffer>;
}

/** A running headless Chromium. */
export interface Browser {
  /** Opens `about:blank` in a new page of `width`×`height` CSS pixels. */
  newPage(width: number, height: number): Promise<Page>;
  /** Kills the browser and removes its profile. */
  close(): Promise<void>;
}

/** Starts headless Chromium at `path` with a fresh profile and connects to its DevTools endpoint. */
export async function launch(path: string): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), "apiary-cdp-"));
  const child: ChildProcess = spawn(
    path,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--hide-scrollbars",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const endpoint = await new Promise<string>((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`Chromium printed no DevTools endpoint within 30 s: ${err}`)), 30_000);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${code}) before listening: ${err}`));
    });
  });
  const socket = new WebSocket(endpoint, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Map<string, Listener[]>();
  socket.on("message", (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown>; sessionId?: string };
    if (m.id !== undefined) {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) p?.reject(new Error(m.error.message));
      else p?.resolve(m.result);
    } else if (m.method !== undefined) {
      for (const l of listeners.get(`${m.sessionId ?? ""}:${m.method}`) ?? []) l(m.params ?? {});
    }
  });
  const send = <T>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      socket.send(JSON.stringify({ id, method, params, ...(sessionId !== undefined ? { sessionId } : {}) }));
    });

  return {
    newPage: async (width, height) => {
      const { targetId } = await send<{ targetId: string }>("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await send<{ sessionId: string }>("Target.attachToTarget", { targetId, flatten: true });
      const page: Page = {
        send: (method, params) => send(method, params, sessionId),
        on: (event, listener) => {
          const key = `${sessionId}:${event}`;
          listeners.set(key, [...(listeners.get(key) ?? []), listener]);
        },
        evaluate: async <T>(expression: string) => {
          const r = await send<{ result: { value?: unknown }; exceptionDetails?: { text: string; exception?: { description?: string } } }>(
            "Runtime.evaluate",
            { expression, returnByValue: true, awaitPromise: true },
            sessionId,
          );
          if (r.exceptionDetails) throw new Error(`${r.exceptionDetails.text} ${r.exceptionDetails.exception?.description ?? ""}`);
          return r.result.value as T;
        },
        waitFor: async <T>(expression: string, timeoutMs = 15_000) => {
          const end = Date.now() + timeoutMs;
          for (;;) {
            const v = await page.evaluate<T>(expression);
            if (v) return v;
            if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}`);
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        },
        screenshot: async () => Buffer.from((await send<{ data: string }>("Page.captureScreenshot", { format: "png" }, sessionId)).data, "base64"),
      };
      await page.send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
      return page;
    },
    close: async () => {
      socket.terminate();
      if (child.exitCode === null) {
        child.kill("SIGKILL");
        await new Promise((resolve) => child.once("exit", resolve));
      }
      await rm(profile, { recursive: true, force: true });
    },
  };
}
