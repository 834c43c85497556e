/**
 * wandb-core's retry budgets and status rules, expressed through the one toolkit (src/retry.ts):
 * - which statuses retry (core/internal/clients/retry_policy.go; UpsertBucket also retries 409),
 * - how long to wait (core/internal/clients/backoff.go: min * 2^attempt with up to 25 % jitter,
 *   clamped to max; a Retry-After wins when it is within the toolkit's [0, 60 s]),
 * - how many retries: GraphQL 20 at 2–60 s (core/internal/api/api.go), file_stream 10085 at 2–60 s,
 *   about a week (core/internal/filestream/filestream.go DefaultRetryMax).
 */
import type { RetryPolicy } from '../retry.js';

export type { RetryPolicy } from '../retry.js';

const WANDB_JITTER = [1, 1.25] as const;
export const GRAPHQL_RETRY: RetryPolicy = { retries: 20, baseDelayMs: 2_000, maxDelayMs: 60_000, jitter: WANDB_JITTER };
export const FILESTREAM_RETRY: RetryPolicy = {
  retries: 10_085,
  baseDelayMs: 2_000,
  maxDelayMs: 60_000,
  jitter: WANDB_JITTER,
};

/** B0: retried unless 400/401/403/404/409/410/413/422/501; UpsertBucket retries 409. */
const NO_RETRY = new Set([400, 401, 403, 404, 409, 410, 413, 422, 501]);
export function retryableStatus(status: number, allowConflict = false): boolean {
  if (status === 409) return allowConflict;
  if (NO_RETRY.has(status)) return false;
  return status >= 400;
}
