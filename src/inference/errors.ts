import { EvalhookError, type ErrorCode } from '../errors.js';

/**
 * The one error type the inference launchers throw. `retryable` is read by the pipeline
 * (src/jobs/failures.ts): false means no retry can fix it (bad config, unsupported artifact),
 * so the evaluation fails at once with this message as the reason a person reads.
 */
export class InferenceError extends EvalhookError {
  override name = 'InferenceError';

  constructor(
    message: string,
    opts: { retryable: boolean; cause?: unknown },
    code: ErrorCode = 'EVALHOOK_ERR_INFERENCE',
  ) {
    super(code, message, opts);
  }
}

/** A failure that is the operator's or the artifact's to fix. */
export function finalError(message: string, cause?: unknown): InferenceError {
  return new InferenceError(message, { retryable: false, cause });
}

/** A failure another attempt may not meet (server busy, crash, network). */
export function transientError(message: string, cause?: unknown): InferenceError {
  return new InferenceError(message, { retryable: true, cause });
}

/** What to throw when the job's signal aborts: its own reason (CancelledError, ShutdownError) when it has one. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : finalError('inference launch aborted');
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
