/**
 * The execution backends apiary ships, by name. Each is imported only when a hive that names it
 * starts, so a backend's dependencies (Piscina, comlink, BullMQ and ioredis) cost nothing to users
 * of another. A backend outside this list — a user's own, or the simulation's — is passed to the
 * hive as a {@link BackendFactory} instead of a name.
 *
 * @module
 */
import { describeValue, InvalidOptionsError, isApiaryError } from "../core/errors.ts";
import type { BackendContext, BackendFactory, ExecutionBackend } from "./types.ts";

/** Imports a backend's module and returns its factory. */
export type BackendLoader = () => Promise<BackendFactory>;

/** Named backends: name → loader. Adding a backend is one entry here. */
const BACKENDS = {
  piscina: async (): Promise<BackendFactory> => {
    const { PiscinaBackend } = await import("./piscina.ts");
    return (context) => new PiscinaBackend(context);
  },
  comlink: async (): Promise<BackendFactory> => {
    const { ComlinkBackend } = await import("./comlink.ts");
    return (context) => new ComlinkBackend(context);
  },
  inline: async (): Promise<BackendFactory> => {
    const { InlineBackend } = await import("./inline.ts");
    return (context) => new InlineBackend(context);
  },
  remote: async (): Promise<BackendFactory> => {
    const { RemoteBackend } = await import("./remote/coordinator.ts");
    return (context) => new RemoteBackend(context);
  },
} as const satisfies Record<string, BackendLoader>;

/** Names of the backends apiary ships (the hive's `backend` option takes one, or a factory). */
export type BackendName = keyof typeof BACKENDS;

/** Every {@link BackendName}, in the order users read them. */
export const BACKEND_NAMES: readonly BackendName[] = Object.keys(BACKENDS) as BackendName[];

/** The backend of a hive that names none, on Node and on Deno. */
export const DEFAULT_BACKEND: BackendName = "piscina";

/** True when `value` names a backend apiary ships. */
export function isBackendName(value: unknown): value is BackendName {
  return typeof value === "string" && Object.hasOwn(BACKENDS, value);
}

/** The members of {@link ExecutionBackend} that must be functions. */
const METHODS = ["start", "exec", "abort", "stats", "close"] as const;

/**
 * Makes the backend `option` names (importing its module now) or the one its factory returns,
 * and checks that it keeps the contract's shape.
 *
 * @throws InvalidOptionsError (rejects) naming "backend" when the module cannot be imported, the
 * factory throws, or what it returns lacks a member of {@link ExecutionBackend}
 */
export async function createBackend(option: BackendName | BackendFactory, context: BackendContext): Promise<ExecutionBackend> {
  let factory: BackendFactory;
  if (typeof option === "function") factory = option;
  else {
    try {
      factory = await BACKENDS[option]();
    } catch (error) {
      throw new InvalidOptionsError(`Cannot start the hive: "backend" ${JSON.stringify(option)} could not be loaded: ${messageOf(error)}`, { cause: error });
    }
  }
  let backend: unknown;
  try {
    backend = await factory(context);
  } catch (error) {
    // A named backend that refuses an option says which: pass that on as it is.
    if (typeof option === "string" && isApiaryError(error, "INVALID_OPTIONS")) throw error;
    throw new InvalidOptionsError(`Cannot start the hive: the "backend" factory threw: ${messageOf(error)}`, { cause: error });
  }
  const missing = missingMembers(backend);
  if (missing.length > 0) {
    throw new InvalidOptionsError(
      `Cannot start the hive: the "backend" factory must return an execution backend (name, startsOnDispatch, ${METHODS.join(", ")}); it lacks ${missing.join(", ")}, received ${
        describeValue(backend)
      }`,
    );
  }
  return backend as ExecutionBackend;
}

/** The members of the contract `value` lacks (all of them when it is not an object). */
function missingMembers(value: unknown): string[] {
  if (value === null || typeof value !== "object") return ["name", "startsOnDispatch", ...METHODS];
  const v = value as Record<string, unknown>;
  const missing: string[] = [];
  if (typeof v["name"] !== "string") missing.push("name");
  if (typeof v["startsOnDispatch"] !== "boolean") missing.push("startsOnDispatch");
  for (const m of METHODS) if (typeof v[m] !== "function") missing.push(m);
  return missing;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
