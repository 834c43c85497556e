/**
 * GPUs leased from a pool held in Redis, so workers on one host never share a GPU. One key per GPU
 * id holds the lease token with a TTL; a Lua script takes n free GPUs at once or none (no two
 * workers can both see a GPU free), renewals extend only our own token, and a crashed worker's
 * lease simply expires.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { abortReason, errorText, finalError } from './errors.js';
import { assertGpuIds } from './safe-values.js';
import { wait } from '../retry.js';
import { z } from 'zod';
import { Count, defineScript, runScript } from '../redis-scripts.js';

// KEYS: one lease key per GPU; ARGV: n, token, ttl ms. Returns the 1-based indexes taken, or {}.
const ACQUIRE = defineScript(
  'gpuPool.acquire',
  `
local n = tonumber(ARGV[1])
local free = {}
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 0 then table.insert(free, i) end
  if #free == n then break end
end
if #free < n then return {} end
for _, i in ipairs(free) do redis.call('SET', KEYS[i], ARGV[2], 'PX', ARGV[3]) end
return free`,
  z.array(z.number().int()),
);

// Extends (ARGV[2] = ttl) or deletes (ARGV[2] = 0) only the keys still holding our token; returns how many.
const RENEW_OR_DROP = defineScript(
  'gpuPool.renewOrDrop',
  `
local held = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    held = held + 1
    if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', k, ARGV[2]) else redis.call('DEL', k) end
  end
end
return held`,
  Count,
);

export interface GpuLease {
  readonly ids: string[];
  /** Stops renewing and frees the GPUs; idempotent. */
  release(): Promise<void>;
}

export interface GpuPool {
  readonly ids: readonly string[];
  /**
   * Takes `n` GPUs, waiting (polling) while they are all leased; `holder` is stored in the lease
   * value so an operator can see who holds a GPU. Rejects at once when the pool is too small.
   */
  acquire(
    n: number,
    opts: { holder: string; signal: AbortSignal; onWait?: (msg: string) => void; onLost?: (msg: string) => void },
  ): Promise<GpuLease>;
  /** GPU id -> lease value (null when free), for operators and tests. */
  holders(): Promise<Record<string, string | null>>;
}

export interface GpuPoolOptions {
  redis: Redis;
  prefix: string;
  /** Pool name (default "default"): keys are `<prefix>:gpu:<pool>:<id>`. */
  pool?: string;
  ids: readonly string[];
  /** Lease TTL; renewed every third of it. */
  leaseMs?: number;
  /** Longest wait between attempts while all GPUs are leased. */
  pollMs?: number;
}

export function createGpuPool(opts: GpuPoolOptions): GpuPool {
  const ids = assertGpuIds(opts.ids);
  const leaseMs = opts.leaseMs ?? 30_000;
  const pollMs = opts.pollMs ?? 1_000;
  const pool = opts.pool ?? 'default';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(pool))
    throw finalError(`GPU pool name ${JSON.stringify(pool)} must be letters, digits, '.', '_' or '-'`);
  const keyOf = (id: string) => `${opts.prefix}:gpu:${pool}:${id}`;
  const keys = ids.map(keyOf);

  function startRenewal(taken: string[], token: string, onLost?: (msg: string) => void): () => void {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      try {
        const held = await runScript(opts.redis, RENEW_OR_DROP, taken.map(keyOf), [token, leaseMs]);
        if (held < taken.length && !stopped)
          onLost?.(
            `GPU lease lost (${held}/${taken.length} still held): another worker may now use GPUs ${taken.join(',')}`,
          );
      } catch (err) {
        // A short Redis outage is survivable: the lease only lapses after the whole TTL.
        if (!stopped) onLost?.(`GPU lease renewal failed: ${errorText(err)}`);
      }
      if (!stopped) schedule();
    };
    const schedule = () => {
      timer = setTimeout(() => void tick(), Math.max(50, Math.floor(leaseMs / 3)));
      timer.unref();
    };
    schedule();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  return {
    ids,
    async acquire(n, { holder, signal, onWait, onLost }) {
      if (n > ids.length) {
        throw finalError(
          `the profile asks for ${n} GPUs but this worker's pool has ${ids.length} (GPU_IDS=${ids.join(',') || '(empty)'})`,
        );
      }
      const token = `${holder}|${randomUUID()}`;
      let waits = 0;
      for (;;) {
        if (signal.aborted) throw abortReason(signal);
        const got = await runScript(opts.redis, ACQUIRE, keys, [n, token, leaseMs]);
        if (got.length === n) {
          const taken = got.map((i) => ids[i - 1]).filter((id): id is string => id !== undefined);
          if (signal.aborted) {
            await runScript(opts.redis, RENEW_OR_DROP, taken.map(keyOf), [token, 0]);
            throw abortReason(signal);
          }
          const stop = startRenewal(taken, token, onLost);
          let released = false;
          return {
            ids: taken,
            async release() {
              if (released) return;
              released = true;
              stop();
              await runScript(opts.redis, RENEW_OR_DROP, taken.map(keyOf), [token, 0]);
            },
          };
        }
        // Say so once, then every ~minute, so the job log explains a long wait.
        if (waits % Math.max(1, Math.round(60_000 / pollMs)) === 0)
          onWait?.(`waiting for ${n} free GPU(s): all of ${ids.join(',')} are leased`);
        waits += 1;
        await wait(pollMs * (0.5 + Math.random() * 0.5), signal);
      }
    },
    async holders() {
      const values = keys.length ? await opts.redis.mget(...keys) : [];
      return Object.fromEntries(ids.map((id, i) => [id, values[i] ?? null]));
    },
  };
}
