/**
 * Execution primitives of the engine: a per-endpoint concurrency limiter, abortable sleep, and a
 * retry loop with exponential backoff + jitter that honours the server's Retry-After.
 */
import { EndpointError, isEndpointError, type EndpointRole } from './errors.js';

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}
export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 1000, maxDelayMs: 60_000 };

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export function abortError(role: EndpointRole | undefined, signal: AbortSignal | undefined): EndpointError {
  const reason: unknown = signal?.reason;
  if (isEndpointError(reason)) return reason;
  return new EndpointError('evaluation aborted', 'aborted', { role, cause: reason });
}

export const defaultSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(undefined, signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(undefined, signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * FIFO semaphore with two classes of waiters: 0 (turn-1 generation) and 1 (everything later).
 * Class 0 goes first unless `preferLater()` says otherwise at the moment a slot frees: the engine
 * asks for turn-2 generations first when the judge would otherwise run out of work.
 */
export class Limiter {
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
  policy: RetryPolicy;
  sleep: Sleep;
  random: () => number;
  signal: AbortSignal;
  role: EndpointRole;
  onRetry?: (err: EndpointError, attempt: number, delayMs: number) => void;
}

/** Backoff for attempt n (1-based): full exponential growth with 50-100 % jitter, capped. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return retryAfterMs; // the server knows best when capacity returns
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp * (0.5 + random() / 2));
}

/** Runs `call` until it succeeds, a non-retryable EndpointError occurs, or attempts run out. */
export async function withRetry<T>(call: () => Promise<T>, deps: RetryDeps): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (raw) {
      if (deps.signal.aborted) throw abortError(deps.role, deps.signal);
      const err = isEndpointError(raw)
        ? raw
        : new EndpointError(`${deps.role} call failed: ${raw instanceof Error ? raw.message : String(raw)}`, 'connection', { role: deps.role, cause: raw });
      if (!err.retryable || attempt >= deps.policy.attempts) throw err;
      const delay = backoffDelay(deps.policy, attempt, deps.random, err.retryAfterMs);
      deps.onRetry?.(err, attempt, delay);
      await deps.sleep(delay, deps.signal);
    }
  }
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
    ac.abort(new EndpointError(`${opts.role} call timed out after ${opts.timeoutMs} ms`, 'timeout', { role: opts.role }));
  }, opts.timeoutMs);
  const aborted = new Promise<never>((_, reject) => {
    ac.signal.addEventListener('abort', () => reject(timedOut ? (ac.signal.reason as EndpointError) : abortError(opts.role, opts.signal)), { once: true });
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
