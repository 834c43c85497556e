/**
 * Limits per named endpoint shared by every worker process on every host, kept in Redis:
 * - in-flight semaphore: a sorted set of lease ids scored by expiry; holders renew, so a crashed
 *   process's leases expire and are reclaimed by the next acquirer;
 * - requests per window (sliding-window log, default window 60 s = requests per minute);
 * - a shared pause (after a 429 with Retry-After) that every acquirer honours;
 * - tokens per window (JUDGE_TPM): each grant reserves its estimate, settled to real usage later;
 * - optionally an adaptive in-flight limit below the configured ceiling (ADAPT in limiter-scripts.ts).
 * Each decision is one Lua script using Redis TIME. Waiters sleep for the time the script says,
 * and are woken early by a pub/sub message when a slot is released, or by their AbortSignal.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { keys } from './keys.js';
import { runScript } from '../redis-scripts.js';
import { ACQUIRE, ADAPT, PAUSE, PAUSED_UNTIL, RELEASE, RENEW, SETTLE_TOKENS } from './limiter-scripts.js';
import { sleepOrWake, untilAborted } from './limiter-wait.js';
import { EvalhookError } from '../errors.js';
import { MAX_RETRY_AFTER_MS } from '../retry.js';

export type WaitReason = 'paused' | 'inflight' | 'rate' | 'tokens';

export interface AcquireOptions {
  /** Max calls in flight for this name across all workers; 0/unset = unlimited. */
  maxInFlight?: number;
  /** Max grants per window across all workers; 0/unset = unlimited (JUDGE_RPM scaled to the window). */
  grantsPerWindow?: number;
  /** Max tokens reserved per window across all workers; 0/unset = unlimited. */
  tpm?: number;
  /** Tokens this call reserves against `tpm` (estimated prompt + max_tokens). */
  tokens?: number;
  /** Window for `grantsPerWindow` and `tpm`, default 60 000 ms (tests shrink it). */
  windowMs?: number;
  /** Adaptive in-flight limit starting here (maxInFlight is then the ceiling); 0/unset = fixed. */
  adaptiveStart?: number;
  /** Among this process's waiters, higher goes first (then oldest). Default 0. */
  priority?: number;
  /** A lease not renewed for this long is presumed dead and reclaimed; default 30 000 ms. */
  leaseMs?: number;
  signal?: AbortSignal;
  /** Called each time the acquirer has to wait (metrics, tests). */
  onWait?: (info: { reason: WaitReason; waitMs: number; nowMs: number }) => void;
}

/** Call to give the slot back (idempotent, never rejects). Carries the grant's Redis time and the in-flight count it made. */
export type Release = (() => Promise<void>) & {
  readonly leaseId: string;
  readonly grantedAt: number;
  readonly inFlight: number;
};

/** One finished call, fed to the adaptive limit. */
export interface Observation {
  outcome: 'ok' | 'overload';
  /** Latency per generated token (ms); ignored for overload. */
  msPerToken: number;
  grantedAt: number;
  inFlightAtGrant: number;
}

export interface AdaptiveSettings {
  start: number;
  ceiling: number;
  /** Grow while latency per token stays within tolerance x the best recent one. */
  tolerance: number;
}

export interface Limiter {
  acquire(name: string, opts: AcquireOptions): Promise<Release>;
  /** Pause `name` for everyone for `ms` (at most 60 s) from now (Redis time); only extends. Returns pause-until (ms). */
  pause(name: string, ms: number): Promise<number>;
  /** Current pause-until in Redis ms, 0 when not paused. */
  pausedUntil(name: string): Promise<number>;
  /** Live (unexpired) leases for `name`. */
  inFlight(name: string): Promise<number>;
  /** Feed one finished call to `name`'s adaptive limit; returns the new limit. */
  adapt(name: string, settings: AdaptiveSettings, obs: Observation): Promise<number>;
  /** The adaptive limit now (the start when none was recorded yet). */
  adaptiveLimit(name: string, start: number): Promise<number>;
  /** Replace a grant's token reservation by what the call really used. */
  settleTokens(name: string, leaseId: string, reserved: number, used: number, windowMs?: number): Promise<void>;
  /** Stop renewing and listening. Unreleased leases are left to expire, as after a crash. */
  close(): Promise<void>;
}

export interface LimiterOptions {
  /** Longest single sleep between attempts, in case a release message is missed. Default 2000 ms. */
  maxPollMs?: number;
  /** A held lease expired before renewal (event loop stalled longer than leaseMs). */
  onLeaseLost?: (name: string, leaseId: string) => void;
  /** Release/renew failures (the lease then expires on its own). */
  onError?: (err: unknown) => void;
}

interface Waker {
  /** A release reached this waiter and it has not retried yet. */
  pending: boolean;
  priority: number;
  notify: () => void;
}

const TimeReply = z.tuple([z.number(), z.number()]);

export function createLimiter(redis: Redis, prefix: string, opts: LimiterOptions = {}): Limiter {
  const maxPollMs = opts.maxPollMs ?? 2000;
  const onError = opts.onError ?? (() => {});
  const k = (name: string) => {
    const base = keys(prefix).limiter(name);
    return {
      leases: `${base}:leases`,
      window: `${base}:window`,
      pause: `${base}:pause`,
      tokens: `${base}:tokens`,
      adaptive: `${base}:adaptive`,
      channel: `${base}:released`,
    };
  };
  // channel -> acquirers of this process waiting for a slot, oldest first
  const wakers = new Map<string, Set<Waker>>();
  /**
   * One release frees one slot: wake the oldest waiter not already woken, not all of them, so a
   * release costs one retry per process instead of one per waiter (no thundering herd). The
   * highest priority goes first (the engine's scheduling order), then the oldest.
   */
  const wakeOne = (channel: string) => {
    let best: Waker | undefined;
    for (const w of wakers.get(channel) ?? []) {
      if (!w.pending && (!best || w.priority > best.priority)) best = w;
    }
    best?.notify();
  };
  const renewals = new Set<NodeJS.Timeout>();
  let sub: Redis | undefined;
  const subscribed = new Map<string, Promise<unknown>>();
  let closed = false;

  const subscribe = (channel: string): Promise<unknown> => {
    let p = subscribed.get(channel);
    if (!p) {
      if (!sub) {
        sub = redis.duplicate();
        sub.on('message', (ch: string) => wakeOne(ch));
        sub.on('error', onError);
      }
      p = sub.subscribe(channel).catch((err: unknown) => {
        subscribed.delete(channel); // fall back to polling; try again next time
        onError(err);
      });
      subscribed.set(channel, p);
    }
    return p;
  };

  const makeRelease = (
    name: string,
    leaseId: string,
    grantedAt: number,
    inFlight: number,
    leaseMs: number,
    tracked: boolean,
  ): Release => {
    const key = k(name);
    let timer: NodeJS.Timeout | undefined;
    if (tracked) {
      // Renew well before expiry so a slow call keeps its slot; unref: never hold the process open.
      timer = setInterval(
        () => {
          runScript(redis, RENEW, [key.leases], [leaseId, leaseMs]).then((r) => {
            if (r === 0 && timer) {
              stop();
              opts.onLeaseLost?.(name, leaseId);
            }
          }, onError);
        },
        Math.max(10, Math.floor(leaseMs / 3)),
      );
      timer.unref();
      renewals.add(timer);
    }
    const stop = () => {
      if (timer) clearInterval(timer);
      if (timer) renewals.delete(timer);
      timer = undefined;
    };
    let done: Promise<void> | undefined;
    const release = () => {
      stop();
      done ??= tracked
        ? runScript(redis, RELEASE, [key.leases], [leaseId, key.channel]).then(() => undefined, onError)
        : Promise.resolve();
      return done;
    };
    return Object.assign(release, { leaseId, grantedAt, inFlight });
  };

  return {
    async acquire(name, o) {
      const { signal } = o;
      signal?.throwIfAborted();
      if (closed) throw new EvalhookError('EVALHOOK_ERR_SHUTDOWN', 'limiter closed');
      const maxIn = o.maxInFlight ?? 0;
      const grantsPerWindow = o.grantsPerWindow ?? 0;
      const windowMs = o.windowMs ?? 60_000;
      const leaseMs = o.leaseMs ?? 30_000;
      const key = k(name);
      const leaseId = randomUUID();
      // Registered for the whole acquire so a release that lands while a script is running is not missed.
      let wake: (() => void) | undefined;
      const waker: Waker = {
        pending: false,
        priority: o.priority ?? 0,
        notify: () => {
          waker.pending = true;
          wake?.();
        },
      };
      let granted = false;
      if (maxIn > 0) {
        await subscribe(key.channel);
        let set = wakers.get(key.channel);
        if (!set) wakers.set(key.channel, (set = new Set()));
        set.add(waker);
      }
      try {
        for (;;) {
          signal?.throwIfAborted();
          if (closed) throw new EvalhookError('EVALHOOK_ERR_SHUTDOWN', 'limiter closed');
          waker.pending = false;
          let reply: z.infer<typeof ACQUIRE.reply>;
          const call = runScript(
            redis,
            ACQUIRE,
            [key.leases, key.window, key.pause, key.tokens, key.adaptive],
            [
              leaseId,
              maxIn,
              grantsPerWindow,
              windowMs,
              leaseMs,
              o.tpm ?? 0,
              Math.max(0, Math.ceil(o.tokens ?? 0)),
              o.adaptiveStart ?? 0,
            ],
          );
          try {
            // Abortable even while Redis is unreachable and the command sits in ioredis' offline queue.
            reply = await untilAborted(call, signal);
          } catch (err) {
            // The script may still run, or ran and its reply was lost: once it has settled, hand back
            // whatever this lease id may hold.
            if (maxIn > 0) {
              void call
                .catch(() => undefined)
                .then(() => runScript(redis, RELEASE, [key.leases], [leaseId, key.channel]))
                .catch(onError);
            }
            throw err;
          }
          const [ok, waitMs, nowMs, reason, count] = reply;
          if (ok === 1) {
            granted = true;
            const release = makeRelease(name, leaseId, nowMs, count, leaseMs, maxIn > 0);
            if (signal?.aborted || closed) {
              await release(); // aborted while the script ran: do not keep a slot nobody will use
              signal?.throwIfAborted();
              throw new EvalhookError('EVALHOOK_ERR_SHUTDOWN', 'limiter closed');
            }
            return release;
          }
          if (reason === 'ok') continue;
          o.onWait?.({ reason, waitMs, nowMs });
          if (waker.pending && reason === 'inflight') continue;
          // Only a release can shorten an in-flight wait; pause and rate waits end on their own.
          await sleepOrWake(Math.min(waitMs, maxPollMs), signal, reason === 'inflight' ? (w) => (wake = w) : undefined);
          wake = undefined;
        }
      } finally {
        wakers.get(key.channel)?.delete(waker);
        // Woken for a free slot but leaving without it (abort, error): pass the wake on.
        if (waker.pending && !granted) wakeOne(key.channel);
      }
    },

    async pause(name, ms) {
      // Capped like every Retry-After (src/retry.ts): one server's "come back tomorrow" must not stop every worker's judge for a day.
      const capped = Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.ceil(ms)));
      const [until] = await runScript(redis, PAUSE, [k(name).pause], [capped]);
      return until;
    },

    async pausedUntil(name) {
      const [until] = await runScript(redis, PAUSED_UNTIL, [k(name).pause], []);
      return until;
    },

    async inFlight(name) {
      const { leases } = k(name);
      const [sec, usec] = TimeReply.parse((await redis.time()).map(Number));
      return redis.zcount(leases, `(${sec * 1000 + Math.floor(usec / 1000)}`, '+inf');
    },

    async adapt(name, st, obs) {
      const lim = await runScript(
        redis,
        ADAPT,
        [k(name).adaptive],
        [st.start, st.ceiling, obs.outcome, obs.msPerToken, obs.grantedAt, obs.inFlightAtGrant, st.tolerance],
      );
      // a larger limit has a free slot the caller's release does not announce: one waiter retries
      wakeOne(k(name).channel);
      return lim;
    },

    async adaptiveLimit(name, start) {
      const v = await redis.hget(k(name).adaptive, 'limit');
      return v === null ? start : Math.max(1, Math.floor(Number(v)));
    },

    async settleTokens(name, leaseId, reserved, used, windowMs = 60_000) {
      await runScript(
        redis,
        SETTLE_TOKENS,
        [k(name).tokens],
        [leaseId, Math.ceil(reserved), Math.max(0, Math.ceil(used)), windowMs],
      );
    },

    async close() {
      closed = true;
      for (const t of renewals) clearInterval(t);
      renewals.clear();
      for (const set of wakers.values()) set.forEach((w) => w.notify());
      const s = sub;
      sub = undefined;
      if (s) await s.quit().catch(() => s.disconnect());
    },
  };
}
