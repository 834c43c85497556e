/**
 * The one failure model (in the style of fastify's lib/errors.js and openai-node's error hierarchy):
 * every error evalhook throws on purpose is an EvalhookError with a stable `code` from CATALOG,
 * `retryable` (may another attempt succeed?) and, when it reaches HTTP, a `statusCode`.
 * An error outside the catalog is a bug: the job pipeline logs it with its stack and does not retry
 * it, except connection-class errors (isConnectionError), which stay retryable.
 *
 * No I/O imports here: the pure engine (src/eval) builds its errors on this file too.
 * docs/errors.md lists every code; test/errors/catalog.test.ts keeps the two in step.
 */

interface CodeInfo {
  /** Default for errors of this code; `'per error'` codes decide per instance (by HTTP status or kind). */
  retryable: boolean | 'per error';
  /** HTTP status when the error reaches the admin/webhook API. */
  statusCode?: number;
  summary: string;
}

export const CATALOG = {
  // HTTP: the client's mistake or the service's state
  EVALHOOK_ERR_VALIDATION: {
    retryable: false,
    statusCode: 400,
    summary: 'request does not match its schema (the message names the field)',
  },
  EVALHOOK_ERR_BAD_REQUEST: {
    retryable: false,
    statusCode: 400,
    summary: 'request refused by the HTTP framework (media type, body size, malformed JSON)',
  },
  EVALHOOK_ERR_JSON: { retryable: false, statusCode: 400, summary: 'webhook body is not JSON' },
  EVALHOOK_ERR_BODY: { retryable: false, statusCode: 400, summary: 'webhook body is not the payload W&B sends' },
  EVALHOOK_ERR_PROFILE: { retryable: false, statusCode: 400, summary: 'unknown evaluation profile' },
  EVALHOOK_ERR_CURSOR: { retryable: false, statusCode: 400, summary: 'list cursor was not issued by this API' },
  EVALHOOK_ERR_ORIGIN: { retryable: false, statusCode: 403, summary: 'a board change came from another origin' },
  EVALHOOK_ERR_NOT_FOUND: { retryable: false, statusCode: 404, summary: 'no such evaluation' },
  EVALHOOK_ERR_CONFLICT: {
    retryable: false,
    statusCode: 409,
    summary: 'the evaluation is not in a state that allows this',
  },
  EVALHOOK_ERR_OFFLINE: {
    retryable: false,
    statusCode: 409,
    summary: 'no W&B API key: the dashboard cannot be synced',
  },
  EVALHOOK_ERR_DASHBOARD_OFF: { retryable: false, statusCode: 409, summary: 'the dashboard is off for the project' },
  EVALHOOK_ERR_RATE_LIMIT: {
    retryable: true,
    statusCode: 429,
    summary: 'too many webhook requests from one address (WEBHOOK_RATE_LIMIT)',
  },
  EVALHOOK_ERR_QUEUE_FULL: {
    retryable: true,
    statusCode: 429,
    summary: 'MAX_QUEUED evaluations are waiting; nothing was written',
  },
  EVALHOOK_ERR_QUEUE_UNAVAILABLE: { retryable: true, statusCode: 503, summary: 'Redis (the job queue) is unreachable' },
  EVALHOOK_ERR_TIMEOUT: {
    retryable: true,
    statusCode: 504,
    summary: 'Redis answers but the operation did not finish in time',
  },
  EVALHOOK_ERR_INTERNAL: {
    retryable: false,
    statusCode: 500,
    summary: 'a bug: an error outside this catalog (logged with its stack)',
  },
  // Startup and CLI
  EVALHOOK_ERR_CONFIG: {
    retryable: false,
    summary: 'invalid environment or profile configuration (every bad variable listed)',
  },
  EVALHOOK_ERR_USAGE: { retryable: false, summary: 'bad command-line arguments' },
  // The job pipeline
  EVALHOOK_ERR_FINAL: {
    retryable: false,
    summary: 'no retry can fix it (unknown profile, version mismatch, too many invalid judgments)',
  },
  EVALHOOK_ERR_CANCELLED: { retryable: false, summary: 'cancelled by an operator' },
  EVALHOOK_ERR_SHUTDOWN: { retryable: true, summary: 'the worker is shutting down; the job goes back to the queue' },
  EVALHOOK_ERR_ENDPOINT: {
    retryable: 'per error',
    summary: 'candidate or judge call failed: 429/5xx/timeout/connection retry, 400/401/403/404/422 and aborts do not',
  },
  EVALHOOK_ERR_INFERENCE: {
    retryable: 'per error',
    summary: 'serving the candidate failed (transient: busy/crash/network; final: config or artifact)',
  },
  EVALHOOK_ERR_INFERENCE_EXITED: { retryable: true, summary: 'the inference server exited during the evaluation' },
  EVALHOOK_ERR_KUBE_API: { retryable: 'per error', summary: 'Kubernetes API error (409/429/5xx retry)' },
  EVALHOOK_ERR_WANDB: {
    retryable: 'per error',
    summary: 'W&B request failed (wandb-core retry rules by status); the dashboard route answers it with 502',
  },
  EVALHOOK_ERR_CHECKPOINT: {
    retryable: false,
    summary: 'checkpoint file refused (not a zip, unsafe pickle, bad safetensors)',
  },
  EVALHOOK_ERR_BENCHMARK_DATA: { retryable: false, summary: 'benchmark or baseline data is malformed' },
  EVALHOOK_ERR_DASHBOARD_BUSY: {
    retryable: true,
    statusCode: 409,
    summary: 'another worker is updating the same W&B dashboard',
  },
  EVALHOOK_ERR_REDIS_REPLY: {
    retryable: false,
    summary: 'a Redis script answered in an unexpected shape (version skew between workers?)',
  },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof CATALOG;

export interface EvalhookErrorOptions {
  /** Overrides the catalog's default (required for 'per error' codes). */
  retryable?: boolean;
  statusCode?: number;
  cause?: unknown;
}

export class EvalhookError extends Error {
  override name = 'EvalhookError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly statusCode: number | undefined;

  constructor(code: ErrorCode, message: string, opts: EvalhookErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    const info: CodeInfo = CATALOG[code];
    this.code = code;
    this.retryable = opts.retryable ?? info.retryable === true;
    this.statusCode = opts.statusCode ?? info.statusCode;
  }
}

export function isEvalhookError(err: unknown): err is EvalhookError {
  return err instanceof EvalhookError;
}

/** fastify-style factory for a code with no extra fields: `const Boom = createError('EVALHOOK_ERR_X', 'Boom')`. */
export function createError(
  code: ErrorCode,
  name: string,
): new (message: string, opts?: EvalhookErrorOptions) => EvalhookError {
  return class extends EvalhookError {
    constructor(message: string, opts?: EvalhookErrorOptions) {
      super(code, message, opts);
      this.name = name;
    }
  };
}

/** Thrown for failures no retry can fix (bad config, unsupported artifact, too many -1 judgments). */
export const FinalError = createError('EVALHOOK_ERR_FINAL', 'FinalError');
export type FinalError = InstanceType<typeof FinalError>;

const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);
// ioredis and undici wording, plus Redis's own transient states (failover, loading the dataset).
const CONNECTION_MESSAGES =
  /socket hang up|fetch failed|Connection is closed|connect ECONNREFUSED|read ECONNRESET|Stream isn't writeable|Reached the max retries per request limit|^(LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/i;

/**
 * The network went away (sockets, fetch, ioredis): worth another attempt although nobody made it
 * an EvalhookError. Follows `cause` a few levels, as undici and ioredis wrap the system error.
 */
export function isConnectionError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (e.name === 'MaxRetriesPerRequestError' || CONNECTION_MESSAGES.test(e.message)) return true;
    e = e.cause;
  }
  return false;
}

/** The one answer to "may another attempt succeed?": catalog errors say so, connection errors may, bugs do not. */
export function isRetryable(err: unknown): boolean {
  return isEvalhookError(err) ? err.retryable : isConnectionError(err);
}
