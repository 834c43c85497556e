/**
 * Connections fail fast (no offline queue); a call that finds Redis disconnected waits for it to
 * come back until REDIS_DEADLINE_MS, and only then answers 503. A call that overruns its deadline
 * while Redis still answers a PING is a 504 naming the operation.
 */
import type { Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { OperationTimeoutError, QueueUnavailableError } from './service-errors.js';

/** REDIS_DEADLINE_MS default: rides out a Redis restart; W&B documents no webhook retries. */
export const DEFAULT_DEADLINE_MS = 5_000;

const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  connectTimeout: 1_000,
  maxRetriesPerRequest: 1,
  // Keep reconnecting (a restarted Redis must be picked up again) but never wait long between tries.
  retryStrategy: (times) => Math.min(times * 100, 1_000),
};

/** Longest wait for a PING that decides "slow operation" (504) from "Redis unresponsive" (503). */
const PROBE_MS = 1_000;

export function failFastConnection(connection: string | RedisOptions): Redis {
  return typeof connection === 'string'
    ? new Redis(connection, { ...FAIL_FAST })
    : new Redis({ ...connection, ...FAIL_FAST });
}

/** Runs `op` on `conn` (through queue `q`) within the deadline, classifying what went wrong. */
export type Guard = <T>(
  operation: string,
  conn: Redis,
  q: Queue,
  op: (signal: AbortSignal) => Promise<T>,
) => Promise<T>;

/** `probe`: a connection of its own, so a PING is never queued behind a slow operation. */
export function createRedisGuard(deadlineMs: number, probe: Redis): { guard: Guard; pong: () => Promise<void> } {
  /**
   * Deadline + classification. Connection trouble is retried once Redis is back, until the
   * deadline; then it is a 503. An overrun while Redis answers a PING is a 504 naming `operation`,
   * and `signal` tells the operation to stop issuing commands. Bugs stay bugs.
   */
  async function guard<T>(
    operation: string,
    conn: Redis,
    q: Queue,
    op: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), deadlineMs);
    const overrun = new Promise<never>((_, reject) =>
      abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true }),
    );
    overrun.catch(() => undefined);
    try {
      for (;;) {
        try {
          // Before the first connect, BullMQ's init (wait for ready, load scripts) must finish; with
          // no offline queue a command sent earlier would fail.
          return await Promise.race([q.waitUntilReady().then(() => op(abort.signal)), overrun]);
        } catch (err) {
          if (abort.signal.aborted) throw await classifyOverrun(operation, conn, err);
          if (!(conn.status !== 'ready' || isConnectionError(err))) throw err;
          // Disconnected: wait for the reconnect (or the deadline), then try again.
          await untilReady(conn, abort.signal);
          if (abort.signal.aborted) throw new QueueUnavailableError(err);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async function classifyOverrun(operation: string, conn: Redis, cause: unknown): Promise<Error> {
    if (conn.status !== 'ready') return new QueueUnavailableError(cause);
    const alive = await pong().then(
      () => true,
      () => false,
    );
    return alive
      ? new OperationTimeoutError(operation, deadlineMs)
      : new QueueUnavailableError(new Error(`no answer within ${deadlineMs} ms`));
  }

  /** PING on the probe connection (waiting for its connect), within PROBE_MS. */
  async function pong(): Promise<void> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), PROBE_MS);
    try {
      for (;;) {
        if (probe.status === 'ready') {
          const ok = await Promise.race([
            probe.ping().then(
              () => true,
              () => false,
            ),
            new Promise<false>((r) => abort.signal.addEventListener('abort', () => r(false))),
          ]);
          if (ok) return;
        }
        await untilReady(probe, abort.signal);
        if (abort.signal.aborted) throw new QueueUnavailableError(new Error(`no PONG within ${PROBE_MS} ms`));
      }
    } finally {
      clearTimeout(timer);
    }
  }

  return { guard, pong };
}

/** Resolves when `conn` is (re)connected or `signal` aborts; a 'ready' connection gets a short pause. */
function untilReady(conn: Redis, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      conn.off('ready', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', done, { once: true });
    if (conn.status === 'ready') timer = setTimeout(done, 50);
    else conn.once('ready', done);
  });
}

/**
 * Redis could not serve the call (as opposed to a bug or a script refusing): ioredis' fail-fast
 * errors (the status may still read 'ready' in the tick after the socket dies), socket errors, and
 * the replies of a Redis that is up but cannot serve (loading, read-only replica, busy script).
 */
const CONNECTION_MESSAGE =
  /Stream isn't writeable|Connection is closed|MaxRetriesPerRequest|^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|BUSY|TRYAGAIN)\b/;
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : '';
  return err.name === 'MaxRetriesPerRequestError' || CONNECTION_CODES.has(code) || CONNECTION_MESSAGE.test(err.message);
}
