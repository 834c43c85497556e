/**
 * The one execution toolkit: an abortable sleep, one backoff, one retry loop. Used by the engine's
 * per-call retries (src/eval/execution.ts), the W&B client and file_stream (src/wandb/retry.ts holds
 * wandb-core's budgets) and the artifact downloads (src/wandb/download.ts).
 *
 * The backoff honours the server's Retry-After as openai-node does (src/client.ts retryRequest and
 * calculateDefaultRetryTimeoutMillis): `retry-after-ms`, else `retry-after` in seconds or as an
 * HTTP date, used only when it lies in [0, 60 s]; anything longer or unreadable falls back to the
 * exponential backoff, so no server can park a worker for hours.
 *
 * No I/O imports: the pure engine (src/eval) uses this module.
 */

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Longest server-requested wait we obey (openai-node's bound); also caps the judge's global pause. */
export const MAX_RETRY_AFTER_MS = 60_000;

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Wait before the first retry, doubled per retry. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** The doubled delay is multiplied by a random factor in [lo, hi]; the result never exceeds maxDelayMs. */
  jitter: readonly [number, number];
}

/** Waits `ms`; rejects with the signal's reason as soon as it aborts. */
export const sleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** For polling loops that re-check their signal: the same sleep, resolving (not rejecting) on abort. */
export function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => undefined);
}

/** A server's wait in ms when it is within [0, MAX_RETRY_AFTER_MS], else undefined (use the backoff). */
export function honouredRetryAfter(ms: number | undefined): number | undefined {
  return ms !== undefined && Number.isFinite(ms) && ms >= 0 && ms <= MAX_RETRY_AFTER_MS ? ms : undefined;
}

/** Wait before retry number `retry` (0 = the first retry). */
export function backoffMs(
  policy: RetryPolicy,
  retry: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const server = honouredRetryAfter(retryAfterMs);
  if (server !== undefined) return server;
  const [lo, hi] = policy.jitter;
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(retry, 32));
  return Math.round(Math.min(policy.maxDelayMs, exp * (lo + (hi - lo) * random())));
}

/**
 * `retry-after-ms`, else `retry-after` (seconds or an HTTP date), in ms; undefined when absent or
 * unreadable. Not bounded here: backoffMs and the judge pause decide what they honour.
 */
export function parseRetryAfter(
  headers: { get(name: string): string | null } | undefined | null,
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms')?.trim();
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after')?.trim();
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** What a failed attempt means: the error to throw if it is the last, whether to retry, and the server's wait. */
export interface RetryDecision {
  error: unknown;
  retryable: boolean;
  retryAfterMs?: number | undefined;
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Decides per failure; may do work first (the downloads fetch fresh presigned URLs on 401/403). */
  classify(err: unknown, retry: number): RetryDecision | Promise<RetryDecision>;
  signal?: AbortSignal | undefined;
  /** What to throw when `signal` aborts (default: its reason); `failure` is the attempt's error, if one failed. */
  aborted?: (signal: AbortSignal, failure?: unknown) => unknown;
  sleep?: Sleep | undefined;
  random?: () => number;
  onRetry?: (decision: RetryDecision, retry: number, delayMs: number) => void;
}

/** Runs `call` until it succeeds, a failure is not retryable, or `policy.retries` retries are spent. */
export async function withRetry<T>(call: (retry: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const aborted = (s: AbortSignal, failure?: unknown) => (opts.aborted ? opts.aborted(s, failure) : s.reason);
  for (let retry = 0; ; retry++) {
    try {
      return await call(retry);
    } catch (raw) {
      if (opts.signal?.aborted) throw aborted(opts.signal, raw);
      const decision = await opts.classify(raw, retry);
      if (!decision.retryable || retry >= opts.policy.retries) throw decision.error;
      const delay = backoffMs(opts.policy, retry, decision.retryAfterMs, opts.random);
      opts.onRetry?.(decision, retry, delay);
      try {
        await (opts.sleep ?? sleep)(delay, opts.signal);
      } catch (err) {
        throw opts.signal?.aborted ? aborted(opts.signal) : err;
      }
    }
  }
}
