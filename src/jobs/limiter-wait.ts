/** Waiting helpers for the limiter: every wait ends early on abort, none spins. */
import { wait } from '../retry.js';

/**
 * Sleep `ms`, ending early when `signal` aborts or when the function handed to `onWaker` is
 * called (a release message). Resolves in every case; the caller re-checks the signal.
 */
export function sleepOrWake(
  ms: number,
  signal: AbortSignal | undefined,
  onWaker?: (wake: () => void) => void,
): Promise<void> {
  if (!onWaker) return wait(ms, signal);
  const woken = new AbortController();
  onWaker(() => woken.abort());
  return wait(ms, signal ? AbortSignal.any([signal, woken.signal]) : woken.signal);
}

/** `p`, or the abort reason if `signal` fires first (p keeps running; the caller cleans up after it). */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
