/**
 * A small W&B API client: GraphQL and file_stream with Basic `api:<key>` (B0), the wandb-core retry
 * policy, feature flags detected once, and presigned storage URLs fetched with no auth header.
 * Every GraphQL response is parsed with the zod schema the caller passes.
 */
import { z } from 'zod';
import { EvalhookError } from '../errors.js';
import { withoutQuery } from '../secrets.js';
import { SERVER_FEATURES } from './documents.js';
import { parseRetryAfter, sleep as defaultSleep, withRetry, type RetryDecision, type Sleep } from '../retry.js';
import { GRAPHQL_RETRY, retryableStatus, type RetryPolicy } from './retry.js';

export { retryableStatus, type RetryPolicy } from './retry.js';

export interface WandbLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export const silentLogger: WandbLogger = { info() {}, warn() {}, error() {}, debug() {} };

export type { Sleep } from '../retry.js';

export interface ClientOptions {
  apiKey: string;
  baseURL?: string;
  /** WANDB_APP_URL: the UI host for run links; derived from baseURL when unset (B0). */
  appURL?: string;
  fetch?: typeof fetch;
  logger?: WandbLogger;
  /** GraphQL and storage requests (default: wandb-core's 20 retries at 2–60 s). */
  retry?: Partial<RetryPolicy>;
  /** Injected so tests never wait for backoff (and can count the waits). */
  sleep?: Sleep;
  /** Clock for Retry-After dates and run timing; injected by tests. */
  now?: () => number;
  /** Per-request timeout (default 120 s). */
  timeoutMs?: number;
}

/** Carries `retryable` so the job pipeline's classifyFailure can decide without knowing W&B. */
export class WandbError extends EvalhookError {
  override name = 'WandbError';
  constructor(
    message: string,
    retryable: boolean,
    readonly status?: number,
    readonly graphQLErrors: string[] = [],
    /** The server's Retry-After, when it sent one. */
    readonly retryAfterMs?: number,
  ) {
    super('EVALHOOK_ERR_WANDB', message, { retryable });
  }
}

const GraphQLEnvelope = z.object({
  data: z.unknown().optional(),
  errors: z.array(z.object({ message: z.string() }).loose()).optional(),
});

const FeaturesResponse = z.object({
  serverInfo: z.object({ features: z.array(z.object({ name: z.string(), isEnabled: z.boolean() })) }).nullable(),
});

const FileStreamResponse = z.object({ stopped: z.boolean().optional(), exitcode: z.number().nullish() }).loose();

export interface RequestOptions {
  signal?: AbortSignal;
  /** UpsertBucket retries 409 (B0). */
  retryConflict?: boolean;
  /** Overrides the client's per-request timeout; 0 = none (streamed downloads of large files). */
  timeoutMs?: number;
  /** 1 for non-idempotent writes (a create): the caller re-reads before trying again. */
  attempts?: number;
}

export class WandbClient {
  readonly baseURL: string;
  readonly appURL: string;
  readonly log: WandbLogger;
  readonly sleep: Sleep;
  readonly now: () => number;
  private readonly auth: string;
  private readonly fetchImpl: typeof fetch;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private features?: Promise<Set<string>>;

  constructor(opts: ClientOptions) {
    this.baseURL = (opts.baseURL ?? 'https://api.wandb.ai').replace(/\/+$/, '');
    this.appURL = opts.appURL ? opts.appURL.replace(/\/+$/, '') : apiToAppURL(this.baseURL);
    this.auth = 'Basic ' + Buffer.from(`api:${opts.apiKey}`).toString('base64');
    this.fetchImpl = opts.fetch ?? fetch;
    this.log = opts.logger ?? silentLogger;
    this.retry = { ...GRAPHQL_RETRY, ...opts.retry };
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  /** POST a GraphQL document; `errors` (even with HTTP 200) become a non-retryable WandbError. */
  async graphql<T>(
    document: string,
    variables: Record<string, unknown>,
    schema: z.ZodType<T>,
    opts: RequestOptions = {},
  ): Promise<T> {
    const op = /(?:query|mutation)\s+(\w+)/.exec(document)?.[1] ?? 'anonymous';
    const body = JSON.stringify({ query: document, variables: dropUndefined(variables), operationName: op });
    return this.withRetry(op, opts, async (signal) => {
      const res = await this.fetchImpl(`${this.baseURL}/graphql`, {
        method: 'POST',
        headers: { authorization: this.auth, 'content-type': 'application/json' },
        body,
        signal,
      });
      const text = await res.text();
      const json = safeJson(text);
      const env = GraphQLEnvelope.safeParse(json);
      const messages = env.success ? (env.data.errors ?? []).map((e) => e.message) : [];
      if (!res.ok) {
        const detail = messages.length ? messages.join('; ') : text.slice(0, 200);
        throw new WandbError(
          `W&B ${op}: HTTP ${res.status}: ${detail}`,
          retryableStatus(res.status, opts.retryConflict),
          res.status,
          messages,
          this.retryAfter(res),
        );
      }
      if (!env.success) throw new WandbError(`W&B ${op}: response is not a GraphQL envelope`, true, res.status);
      if (messages.length) throw new WandbError(`W&B ${op}: ${messages.join('; ')}`, false, res.status, messages);
      const data = schema.safeParse(env.data.data);
      if (!data.success)
        throw new WandbError(`W&B ${op}: unexpected response shape: ${z.prettifyError(data.error)}`, false, res.status);
      return data.data;
    });
  }

  /** B0: feature flags, once per client; `Cannot query field "features"` means an old server with none. */
  hasFeature(name: string, signal?: AbortSignal): Promise<boolean> {
    this.features ??= this.graphql(SERVER_FEATURES, {}, FeaturesResponse, { signal })
      .then((r) => new Set((r.serverInfo?.features ?? []).filter((f) => f.isEnabled).map((f) => f.name)))
      .catch((err: unknown) => {
        if (err instanceof WandbError && err.graphQLErrors.some((m) => /Cannot query field/i.test(m)))
          return new Set<string>();
        this.features = undefined; // transient: ask again next time
        throw err;
      });
    return this.features.then((set) => set.has(name));
  }

  /**
   * B2: one file_stream request to the run's canonical entity/project, not retried here: the run's
   * ordered sender (filestream.ts) owns retries so nothing overtakes or follows `complete`.
   */
  async fileStreamOnce(
    path: { entity: string; project: string; run: string },
    body: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<void> {
    const url = `${this.baseURL}/files/${enc(path.entity)}/${enc(path.project)}/${enc(path.run)}/file_stream`;
    const signals = [signal, AbortSignal.timeout(this.timeoutMs)].filter((s): s is AbortSignal => s !== undefined);
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(url, {
        method: 'POST',
        headers: { authorization: this.auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.any(signals),
      });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new WandbError(`W&B file_stream: ${err instanceof Error ? err.message : String(err)}`, true);
    }
    if (!res.ok)
      throw new WandbError(
        `W&B file_stream: HTTP ${res.status}: ${text.slice(0, 200)}`,
        retryableStatus(res.status),
        res.status,
        [],
        this.retryAfter(res),
      );
    const parsed = FileStreamResponse.safeParse(safeJson(text));
    if (!parsed.success) this.log.debug({ run: path.run }, 'file_stream response was not the usual JSON object');
    // B2: `stopped` means someone pressed Stop in the UI; cancelling is the admin API's job, so say so.
    else if (parsed.data.stopped)
      this.log.warn(
        { run: path.run },
        'W&B reports the run was stopped in the UI; cancel the evaluation through the admin API to stop it',
      );
  }

  /** A presigned (or proxied) storage URL: never the W&B auth header (B0, B3, B4). */
  async storage(
    method: 'GET' | 'PUT',
    url: string,
    init: { headers?: Record<string, string>; body?: Buffer; signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<Response> {
    const full = url.startsWith('/') ? this.baseURL + url : url;
    return this.withRetry(`storage ${method}`, { signal: init.signal, timeoutMs: init.timeoutMs }, async (signal) => {
      const res = await this.fetchImpl(full, { method, headers: init.headers ?? {}, body: init.body, signal });
      if (!res.ok) {
        await res.arrayBuffer().catch(() => undefined);
        throw new WandbError(
          `storage ${method} ${withoutQuery(full)}: HTTP ${res.status}`,
          retryableStatus(res.status),
          res.status,
          [],
          this.retryAfter(res),
        );
      }
      return res;
    });
  }

  private retryAfter(res: Response): number | undefined {
    return parseRetryAfter(res.headers, this.now());
  }

  /** A failure as the toolkit's decision: W&B errors carry their own; anything else (network) retries. */
  classify(what: string, raw: unknown): RetryDecision & { error: WandbError } {
    const err =
      raw instanceof WandbError
        ? raw
        : new WandbError(`W&B ${what}: ${raw instanceof Error ? raw.message : String(raw)}`, true);
    return { error: err, retryable: err.retryable, retryAfterMs: err.retryAfterMs };
  }

  /** Logs each retry the way every W&B call does. */
  logRetry(what: string): (d: RetryDecision, retry: number, delayMs: number) => void {
    return (d, retry, delayMs) => {
      const err = d.error as WandbError;
      this.log.warn(
        { what, attempt: retry + 1, status: err.status, delayMs },
        `W&B request failed, retrying: ${err.message}`,
      );
    };
  }

  private async withRetry<T>(
    what: string,
    opts: RequestOptions,
    call: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const ms = opts.timeoutMs ?? this.timeoutMs;
    return withRetry(
      () => {
        const signals = [opts.signal, ms > 0 ? AbortSignal.timeout(ms) : undefined].filter(
          (s): s is AbortSignal => s !== undefined,
        );
        return call(signals.length === 1 ? signals[0]! : AbortSignal.any(signals));
      },
      {
        policy: opts.attempts !== undefined ? { ...this.retry, retries: opts.attempts - 1 } : this.retry,
        classify: (raw) => this.classify(what, raw),
        signal: opts.signal,
        aborted: (signal, raw) => raw ?? signal.reason,
        sleep: this.sleep,
        onRetry: this.logRetry(what),
      },
    );
  }
}

/** B0 / wandb/util.py api_to_app_url: api.wandb.* -> wandb.*, api.<x> -> app.<x>, anything else as is. */
export function apiToAppURL(api: string): string {
  const trim = (s: string) => s.replace(/^\/+|\/+$/g, '');
  if (api.includes('://api.wandb.test')) return trim(api.replace('://api.', '://app.'));
  if (api.includes('://api.wandb.')) return trim(api.replace('://api.', '://'));
  if (api.includes('://api.')) return trim(api.replace('://api.', '://app.'));
  return api;
}

/** B3: upload headers come as "Name:Value" strings; split on the first colon. */
export function parseUploadHeaders(list: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    list.flatMap((h) => {
      const i = h.indexOf(':');
      return i > 0 ? [[h.slice(0, i).trim(), h.slice(i + 1).trim()]] : [];
    }),
  );
}

function dropUndefined(v: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const enc = encodeURIComponent;
