/**
 * Error classes with stable `code`s. Every error apiary throws or rejects with is an
 * {@link ApiaryError}; match on `code`, never on the message.
 *
 * @module
 */

/** Every stable error code apiary uses. */
export type ApiaryErrorCode =
  | "INVALID_OPTIONS"
  | "INVALID_TASK"
  | "QUEUE_FULL"
  | "TASK_TIMEOUT"
  | "TASK_FAILED"
  | "TASK_CANCELLED"
  | "WORKER_CRASHED"
  | "NO_ELIGIBLE_AGENT"
  | "TASKS_MODULE"
  | "CIRCUIT_OPEN"
  | "HIVE_STOPPED"
  | "HIVE_NOT_STARTED"
  | "INVALID_EVENT"
  | "WAIT_TIMEOUT"
  | "ABORTED"
  | "SERVE_FAILED"
  | "TRACE_FAILED"
  | "STORE_CORRUPT"
  | "INVALID_KEY"
  | "INVALID_VALUE"
  | "VALUE_TOO_LARGE";

/** Options shared by every {@link ApiaryError}. */
export interface ApiaryErrorOptions {
  /** The underlying error or value, if any. */
  cause?: unknown;
  /** The task the error concerns, if any. */
  taskId?: string;
}

/** Base class of every apiary error: a stable `code`, a message naming field and value. */
export class ApiaryError extends Error {
  /** Stable machine-readable code. */
  readonly code: ApiaryErrorCode;
  /** The task the error concerns, if any. */
  readonly taskId: string | undefined;

  constructor(code: ApiaryErrorCode, message: string, options: ApiaryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ApiaryError";
    this.code = code;
    this.taskId = options.taskId;
  }
}

/** `createHive` (or another factory) received an invalid option. Code `INVALID_OPTIONS`. */
export class InvalidOptionsError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("INVALID_OPTIONS", message, options);
    this.name = "InvalidOptionsError";
  }
}

/** A submitted task was invalid (shape, kind, input that cannot cross a thread). Code `INVALID_TASK`. */
export class InvalidTaskError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("INVALID_TASK", message, options);
    this.name = "InvalidTaskError";
  }
}

/** The queue was full and the task was rejected (or shed). Code `QUEUE_FULL`. */
export class QueueFullError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("QUEUE_FULL", message, options);
    this.name = "QueueFullError";
  }
}

/** A task attempt ran past its `timeoutMs`. Code `TASK_TIMEOUT`. */
export class TaskTimeoutError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("TASK_TIMEOUT", message, options);
    this.name = "TaskTimeoutError";
  }
}

/**
 * The task handler threw. `cause` carries the original `name`, `message` and `stack`.
 * Code `TASK_FAILED`.
 */
export class TaskFailedError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("TASK_FAILED", message, options);
    this.name = "TaskFailedError";
  }
}

/** The task was cancelled by its caller or by `stop()`. Code `TASK_CANCELLED`. */
export class TaskCancelledError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("TASK_CANCELLED", message, options);
    this.name = "TaskCancelledError";
  }
}

/** The worker thread running the task died (exit, out of memory, forced termination). Code `WORKER_CRASHED`. */
export class WorkerCrashedError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("WORKER_CRASHED", message, options);
    this.name = "WorkerCrashedError";
  }
}

/** No agent has the capabilities a task requires. Code `NO_ELIGIBLE_AGENT`. */
export class NoEligibleAgentError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("NO_ELIGIBLE_AGENT", message, options);
    this.name = "NoEligibleAgentError";
  }
}

/** The task handler module could not be loaded or has the wrong shape. Code `TASKS_MODULE`. */
export class TasksModuleError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("TASKS_MODULE", message, options);
    this.name = "TasksModuleError";
  }
}

/** A circuit breaker is open and the call failed fast. Code `CIRCUIT_OPEN`. */
export class CircuitOpenError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("CIRCUIT_OPEN", message, options);
    this.name = "CircuitOpenError";
  }
}

/** The hive is stopped (or stopping) and takes no more work. Code `HIVE_STOPPED`. */
export class HiveStoppedError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("HIVE_STOPPED", message, options);
    this.name = "HiveStoppedError";
  }
}

/** A method that needs a started hive was called before `start()`. Code `HIVE_NOT_STARTED`. */
export class HiveNotStartedError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("HIVE_NOT_STARTED", message, options);
    this.name = "HiveNotStartedError";
  }
}

/** An event published on the event bus was not an object with a string `type`. Code `INVALID_EVENT`. */
export class InvalidEventError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("INVALID_EVENT", message, options);
    this.name = "InvalidEventError";
  }
}

/** A wait (for example `bus.waitFor`) ran past its `timeoutMs`. Code `WAIT_TIMEOUT`. */
export class WaitTimeoutError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("WAIT_TIMEOUT", message, options);
    this.name = "WaitTimeoutError";
  }
}

/** An operation was aborted by its `signal` or because its owner closed. `cause` holds the abort reason. Code `ABORTED`. */
export class AbortedError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("ABORTED", message, options);
    this.name = "AbortedError";
  }
}

/** A server (health, metrics, inspector relay) could not start listening. `cause` holds the system error. Code `SERVE_FAILED`. */
export class ServeFailedError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("SERVE_FAILED", message, options);
    this.name = "ServeFailedError";
  }
}

/** A trace file could not be written or read (I/O error, a line that is not a trace record). Code `TRACE_FAILED`. */
export class TraceFailedError extends ApiaryError {
  constructor(message: string, options?: ApiaryErrorOptions) {
    super("TRACE_FAILED", message, options);
    this.name = "TraceFailedError";
  }
}

/** The codes a {@link StoreError} carries. */
export type StoreErrorCode = "STORE_CORRUPT" | "INVALID_KEY" | "INVALID_VALUE" | "VALUE_TOO_LARGE";

/** Options of a {@link StoreError}: the key and the file it concerns, when known. */
export interface StoreErrorOptions extends ApiaryErrorOptions {
  /** The store key the error concerns. */
  key?: string;
  /** The file the error concerns (file store only). */
  file?: string;
}

/**
 * A store refused a key or a value, or found a record corrupt. Codes: `INVALID_KEY` (empty,
 * over-long, or a key that could escape the store's folder), `INVALID_VALUE` (not
 * JSON-serialisable: function, symbol, bigint, cycle, non-finite number, class instance),
 * `VALUE_TOO_LARGE` (over `maxValueBytes`), `STORE_CORRUPT` (a record failed its checksum or
 * was truncated; `file` names it).
 */
export class StoreError extends ApiaryError {
  /** The store key the error concerns, if known. */
  readonly key: string | undefined;
  /** The file the error concerns, if any. */
  readonly file: string | undefined;

  constructor(code: StoreErrorCode, message: string, options: StoreErrorOptions = {}) {
    super(code, message, options);
    this.name = "StoreError";
    this.key = options.key;
    this.file = options.file;
  }
}

/** True when `value` is a {@link StoreError}, optionally with the given `code`. */
export function isStoreError(value: unknown, code?: StoreErrorCode): value is StoreError {
  return value instanceof StoreError && (code === undefined || value.code === code);
}

/** True when `value` is a {@link CircuitOpenError}. */
export function isCircuitOpenError(value: unknown): value is CircuitOpenError {
  return value instanceof CircuitOpenError;
}

/** True when `value` is an {@link ApiaryError}, optionally with the given `code`. */
export function isApiaryError(value: unknown, code?: ApiaryErrorCode): value is ApiaryError {
  return value instanceof ApiaryError && (code === undefined || value.code === code);
}

/** Renders a received value for an error message: short, one line, never throws. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === "function") return `a function${value.name ? ` (${value.name})` : ""}`;
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value !== "object") return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    // fall through: cyclic or otherwise unserialisable
  }
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}
