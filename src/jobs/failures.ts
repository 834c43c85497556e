/**
 * One place that decides whether a failure is worth retrying and words the reason a person reads.
 * Endpoint 400/401/403/404/422 and bad configuration are final; 429/5xx/timeouts/resets retry.
 */
import { EndpointError } from '../eval/errors.js';
import { CancelledError } from './cancel.js';

export interface Failure {
  retryable: boolean;
  reason: string;
  cancelled?: boolean;
}

/** Thrown for failures no retry can fix (bad config, unsupported artifact, too many -1 judgments). */
export class FinalError extends Error {
  override readonly name = 'FinalError';
}

export function classifyFailure(err: unknown): Failure {
  if (err instanceof CancelledError) return { retryable: false, reason: err.message, cancelled: true };
  if (err instanceof EndpointError) {
    const who = err.opts.role ? `${err.opts.role} endpoint` : 'endpoint';
    const status = err.status ? ` (HTTP ${err.status})` : '';
    if (err.kind === 'aborted') return { retryable: false, reason: `${who} call aborted` };
    return { retryable: err.retryable, reason: `${who}${status}: ${err.message}` };
  }
  if (err instanceof FinalError) return { retryable: false, reason: err.message };
  // Adapters (W&B, inference) mark their own errors with a boolean `retryable`.
  if (err instanceof Error && 'retryable' in err && typeof err.retryable === 'boolean') {
    return { retryable: err.retryable, reason: err.message };
  }
  return { retryable: true, reason: err instanceof Error ? err.message : String(err) };
}
