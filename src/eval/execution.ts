/**
 * Execution primitives of the engine: a per-endpoint priority semaphore, and its binding of the one
 * retry toolkit (src/retry.ts: backoff with jitter honouring Retry-After within [0, 60 s]).
 */
import { isRetryable } from '../errors.js';
import { sleep, withRetry, type RetryOptions, type Sleep } from '../retry.js';
import { EndpointError, isEndpointError, type EndpointRole } from './errors.js';

export type { Sleep } from '../retry.js';

/** Per-call retries: CALL_ATTEMPTS / CALL_BACKOFF_MS (attempts include the first). */
export interface CallRetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}
export const DEFAULT_RETRY: CallRetryPolicy = { attempts: 6, baseDelayMs: 1000, maxDelayMs: 60_000 };

export function abortError(role: EndpointRole | undefined, signal: AbortSignal | undefined): EndpointError {
  const reason: unknown = signal?.reason;
  if (isEndpointError(reason)) return reason;
  return new EndpointError('evaluation aborted', 'aborted', { role, cause: reason });
}

/** The toolkit's sleep; an abort rejects with the engine's 'aborted' EndpointError. */
export const defaultSleep: Sleep = (ms, signal) =>
  sleep(ms, signal).catch(() => Promise.reject(abortError(undefined, signal)));

/**
 * FIFO semaphore with two classes of waiters: 0 (turn-1 generation) and 1 (everything later).
 * Class 0 goes first unless `preferLater()` says otherwise at the moment a slot frees: the engine
 * asks for turn-2 generations first when the judge would otherwise run out of work.
 */
export class PrioritySemaphore {
  private active = 0;
  private readonly queues: Array<Array<() => void>> = [[], []];
  /** `current` narrows `max` while the run goes (an adaptive limit behind the client). */
  constructor(
    private readonly max: number,
    private readonly preferLater: () => boolean = () => false,
    private readonly current: () => number = () => max,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`concurrency must be a positive integer, got ${max}`);
  }

  /** The limit in force now: never above `max`, never below 1. */
  limit(): number {
    return Math.max(1, Math.min(this.max, Math.floor(this.current())));
  }

  async run<T>(fn: () => Promise<T>, signal: AbortSignal, priority: 0 | 1 = 1): Promise<T> {
    await this.acquire(signal, priority);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private acquire(signal: AbortSignal, priority: 0 | 1): Promise<void> {
    if (signal.aborted) return Promise.reject(abortError(undefined, signal));
    if (this.active < this.limit()) {
      this.active += 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const queue = this.queues[priority]!;
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = queue.indexOf(grant);
        if (i >= 0) queue.splice(i, 1);
        reject(abortError(undefined, signal));
      };
      queue.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(): void {
    this.active -= 1;
    // the limit may have grown or shrunk since: fill up to it, in the engine's order
    while (this.active < this.limit()) {
      const [a, b] = this.preferLater() ? [1, 0] : [0, 1];
      const next = this.queues[a]!.shift() ?? this.queues[b]!.shift();
      if (!next) break;
      this.active += 1;
      next();
    }
  }
}

export interface RetryDeps {
  policy: CallRetryPolicy;
  sleep: Sleep;
  random: () => number;
  signal: AbortSignal;
  role: EndpointRole;
  onRetry?: (err: EndpointError, attempt: number, delayMs: number) => void;
}

/**
 * The engine's binding of the toolkit's withRetry: full exponential growth with 50-100 % jitter,
 * EndpointErrors decide for themselves; catalog and connection errors from an adapter become a
 * retryable 'connection' failure; anything else is a bug and is thrown at once, unretried.
 */
export function callRetry(deps: RetryDeps): RetryOptions {
  return {
    policy: {
      retries: deps.policy.attempts - 1,
      baseDelayMs: deps.policy.baseDelayMs,
      maxDelayMs: deps.policy.maxDelayMs,
      jitter: [0.5, 1],
    },
    signal: deps.signal,
    aborted: (s) => abortError(deps.role, s),
    sleep: deps.sleep,
    random: deps.random,
    classify: (raw) => {
      if (!isEndpointError(raw) && !isRetryable(raw)) return { error: raw, retryable: false };
      const err = isEndpointError(raw)
        ? raw
        : new EndpointError(
            `${deps.role} call failed: ${raw instanceof Error ? raw.message : String(raw)}`,
            'connection',
            { role: deps.role, cause: raw },
          );
      return { error: err, retryable: err.retryable, retryAfterMs: err.retryAfterMs };
    },
    onRetry: deps.onRetry && ((d, retry, delayMs) => deps.onRetry!(d.error as EndpointError, retry + 1, delayMs)),
  };
}

/** Runs `call` until it succeeds, a failure is not retryable, or attempts run out. */
export function retryCall<T>(call: () => Promise<T>, deps: RetryDeps): Promise<T> {
  return withRetry(call, callRetry(deps));
}

/**
 * One call with a hard timeout enforced here too (not only by the client), so a ChatClient that
 * ignores timeoutMs still cannot hang the run. The call's signal fires on run abort or timeout.
 */
export async function callWithTimeout<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  opts: { signal: AbortSignal; timeoutMs: number; role: EndpointRole },
): Promise<T> {
  const ac = new AbortController();
  let timedOut = false;
  const onAbort = () => ac.abort(opts.signal.reason);
  opts.signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(
      new EndpointError(`${opts.role} call timed out after ${opts.timeoutMs} ms`, 'timeout', { role: opts.role }),
    );
  }, opts.timeoutMs);
  const aborted = new Promise<never>((_, reject) => {
    ac.signal.addEventListener(
      'abort',
      () => reject(timedOut ? (ac.signal.reason as EndpointError) : abortError(opts.role, opts.signal)),
      { once: true },
    );
  });
  aborted.catch(() => undefined); // observed via the race below; avoid unhandled rejection noise
  try {
    return await Promise.race([fn(ac.signal), aborted]);
  } catch (err) {
    if (timedOut) throw ac.signal.reason as EndpointError;
    if (opts.signal.aborted) throw abortError(opts.role, opts.signal);
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener('abort', onAbort);
  }
}
