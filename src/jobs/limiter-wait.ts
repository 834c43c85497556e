/** Waiting helpers for the limiter: every wait ends early on abort, none spins. */

/**
 * Sleep `ms`, ending early when `signal` aborts or when the function handed to `onWaker` is
 * called (a release message). Resolves in every case; the caller re-checks the signal.
 */
export function sleep(ms: number, signal: AbortSignal | undefined, onWaker?: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const finish = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const t = setTimeout(finish, ms);
    signal?.addEventListener('abort', finish, { once: true });
    onWaker?.(finish);
    if (signal?.aborted) finish(); // aborted before the listener existed (e.g. from onWait)
  });
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
