/**
 * Counters for /metrics in one Redis hash (keys(prefix).stats), shared by all workers. Increments
 * are summed in memory and flushed as one pipelined HINCRBY batch, so counting every call and its
 * tokens costs one round trip per flush, not one per call.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { EndpointRole } from '../eval/errors.js';
import type { TokenUsage } from '../eval/ports.js';
import { keys, STAT_FIELDS } from './keys.js';

export type StatField = (typeof STAT_FIELDS)[number];

export interface Stats {
  /** Count `n` (default 1) on `field`; flushed within `flushMs`. */
  add(field: StatField, n?: number): void;
  /** One completed call of `role`: counts the call and its prompt/completion tokens. */
  addUsage(role: EndpointRole, usage: TokenUsage): void;
  /** Push pending increments now. */
  flush(): Promise<void>;
  /** Totals across all workers (flushes this process's pending increments first). */
  read(): Promise<Record<StatField, number>>;
  /** Flush and stop the timer. */
  close(): Promise<void>;
}

export interface StatsOptions {
  /** Longest delay before an increment reaches Redis. Default 200 ms. */
  flushMs?: number;
  onError?: (err: unknown) => void;
}

const Counter = z.coerce.number().int().catch(0);

export function createStats(redis: Redis, prefix: string, opts: StatsOptions = {}): Stats {
  const key = keys(prefix).stats;
  const flushMs = opts.flushMs ?? 200;
  let pending = new Map<StatField, number>();
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> = Promise.resolve();

  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.size > 0) {
      const batch = pending;
      pending = new Map();
      const pipe = redis.pipeline();
      for (const [field, n] of batch) pipe.hincrby(key, field, n);
      // Chained so read() after flush() sees every earlier batch.
      inflight = inflight
        .then(async () => {
          const res = await pipe.exec();
          const err = res?.find(([e]) => e)?.[0];
          if (err) throw err;
        })
        .catch((err: unknown) => {
          // Counters are best effort: put the batch back so the next flush retries it.
          for (const [f, n] of batch) pending.set(f, (pending.get(f) ?? 0) + n);
          (opts.onError ?? (() => {}))(err);
        });
    }
    return inflight;
  };

  const add = (field: StatField, n = 1) => {
    if (!Number.isFinite(n) || n === 0) return;
    pending.set(field, (pending.get(field) ?? 0) + Math.round(n));
    if (!timer) {
      timer = setTimeout(() => void flush(), flushMs);
      timer.unref();
    }
  };

  return {
    add,
    addUsage(role, usage) {
      add(`${role}_calls`);
      add(`${role}_prompt_tokens`, usage.promptTokens);
      add(`${role}_completion_tokens`, usage.completionTokens);
    },
    flush,
    async read() {
      await flush();
      const raw = await redis.hgetall(key);
      const out = {} as Record<StatField, number>;
      for (const f of STAT_FIELDS) out[f] = Counter.parse(raw[f] ?? 0);
      return out;
    },
    async close() {
      await flush();
    },
  };
}
