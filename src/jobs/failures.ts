/**
 * One place that decides whether a failure is worth retrying and words the reason a person reads.
 * Catalog errors (src/errors.ts) carry `retryable`; connection-class errors retry; anything else is
 * a bug: final, and flagged so the worker logs it with its stack.
 */
import { EndpointError } from '../eval/errors.js';
import { isEvalhookError, isRetryable } from '../errors.js';
import { CancelledError } from './cancel.js';

export interface Failure {
  retryable: boolean;
  reason: string;
  cancelled?: boolean;
  /** Outside the catalog and not a connection error: a bug, not retried, logged with its stack. */
  bug?: boolean;
}

export function classifyFailure(err: unknown): Failure {
  if (err instanceof CancelledError) return { retryable: false, reason: err.message, cancelled: true };
  if (err instanceof EndpointError) {
    const who = err.opts.role ? `${err.opts.role} endpoint` : 'endpoint';
    const status = err.status ? ` (HTTP ${err.status})` : '';
    if (err.kind === 'aborted') return { retryable: false, reason: `${who} call aborted` };
    return { retryable: err.retryable, reason: `${who}${status}: ${err.message}` };
  }
  if (isEvalhookError(err)) return { retryable: err.retryable, reason: err.message };
  const message = err instanceof Error ? err.message : String(err);
  if (isRetryable(err)) return { retryable: true, reason: `connection error: ${message}` };
  return { retryable: false, reason: `internal error (a bug, see the worker log): ${message}`, bug: true };
}
