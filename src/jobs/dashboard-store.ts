/**
 * The dashboard's Redis side: view ids, spec hashes and the report's last write per project, and a
 * lock so one dashboard update per project runs at a time across all workers and API processes.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DashboardStore } from '../wandb/dashboard/index.js';
import { keys } from './keys.js';
import { EvalhookError } from '../errors.js';
import { sleep } from '../retry.js';
import { Count, defineScript, runScript } from '../redis-scripts.js';

/** Deletes the lock only if it is still ours (it may have expired and been taken). */
const RELEASE = defineScript(
  'dashboardLock.release',
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
  Count,
);

export interface DashboardStoreOptions {
  /** A crashed holder's lock frees itself after this long. */
  lockTtlMs?: number;
  /** Give up waiting for another holder after this long (the caller reports a warning). */
  waitMs?: number;
  pollMs?: number;
}

export function createRedisDashboardStore(
  redis: Redis,
  prefix: string,
  opts: DashboardStoreOptions = {},
): DashboardStore {
  const k = keys(prefix);
  const ttl = opts.lockTtlMs ?? 120_000;
  const waitMs = opts.waitMs ?? 60_000;
  const pollMs = opts.pollMs ?? 250;
  return {
    async withLock(name, fn, signal) {
      const key = k.dashboardLock(name);
      const token = randomUUID();
      const deadline = Date.now() + waitMs;
      while ((await redis.set(key, token, 'PX', ttl, 'NX')) !== 'OK') {
        signal?.throwIfAborted();
        if (Date.now() > deadline)
          throw new EvalhookError(
            'EVALHOOK_ERR_DASHBOARD_BUSY',
            `the dashboard of ${name} is being updated by another worker; try again later`,
          );
        await sleep(pollMs, signal);
      }
      try {
        return await fn();
      } finally {
        await runScript(redis, RELEASE, [key], [token]).catch(() => undefined);
      }
    },
    async get(name) {
      return (await redis.hget(k.dashboards, name)) ?? undefined;
    },
    async set(name, value) {
      await redis.hset(k.dashboards, name, value);
    },
  };
}
