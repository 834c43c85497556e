/**
 * The W&B retry policy, in one place, as wandb-core keeps it:
 * - which statuses retry (core/internal/clients/retry_policy.go; UpsertBucket also retries 409),
 * - how long to wait (core/internal/clients/backoff.go: Retry-After wins, else min * 2^attempt with
 *   up to 25 % jitter, clamped to max),
 * - how many retries: GraphQL 20 at 2–60 s (core/internal/api/api.go), file_stream 10085 at 2–60 s,
 *   about a week (core/internal/filestream/filestream.go DefaultRetryMax).
 */

export interface RetryPolicy {
  /** Retries after the first attempt (retryablehttp's RetryMax). */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export const GRAPHQL_RETRY: RetryPolicy = { retries: 20, minDelayMs: 2_000, maxDelayMs: 60_000 };
export const FILESTREAM_RETRY: RetryPolicy = { retries: 10_085, minDelayMs: 2_000, maxDelayMs: 60_000 };

/** B0: retried unless 400/401/403/404/409/410/413/422/501; UpsertBucket retries 409. */
const NO_RETRY = new Set([400, 401, 403, 404, 409, 410, 413, 422, 501]);
export function retryableStatus(status: number, allowConflict = false): boolean {
  if (status === 409) return allowConflict;
  if (NO_RETRY.has(status)) return false;
  return status >= 400;
}

/** Wait before retry number `attempt` (0-based): Retry-After as given (not clamped, like backoff.go), else jittered exponential. */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random: () => number = Math.random): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return retryAfterMs;
  const mult = 2 ** Math.min(attempt, 32) * (1 + 0.25 * random());
  return Math.min(policy.maxDelayMs, policy.minDelayMs * mult);
}

/** `Retry-After: <seconds>` or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null | undefined, now: number): number | undefined {
  if (!header) return undefined;
  const s = header.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
