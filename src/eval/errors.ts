/**
 * How a call to an endpoint failed, in terms the retry logic and the job pipeline act on.
 * - retryable kinds: 'rate-limited' (429), 'server' (5xx), 'timeout', 'connection'
 * - 'unrecoverable': 400/401/403/404/422: retrying cannot help, fail now with the reason
 * - 'aborted': the caller's AbortSignal fired
 */
import { EvalhookError } from '../errors.js';

export type EndpointErrorKind = 'rate-limited' | 'server' | 'timeout' | 'connection' | 'unrecoverable' | 'aborted';

export type EndpointRole = 'candidate' | 'judge';

export class EndpointError extends EvalhookError {
  override readonly name = 'EndpointError';
  constructor(
    message: string,
    readonly kind: EndpointErrorKind,
    readonly opts: { status?: number; retryAfterMs?: number; role?: EndpointRole; cause?: unknown } = {},
  ) {
    super('EVALHOOK_ERR_ENDPOINT', message, {
      cause: opts.cause,
      retryable: kind !== 'unrecoverable' && kind !== 'aborted',
    });
  }
  get status(): number | undefined {
    return this.opts.status;
  }
  get retryAfterMs(): number | undefined {
    return this.opts.retryAfterMs;
  }
}

export function isEndpointError(err: unknown): err is EndpointError {
  return err instanceof EndpointError;
}
