/**
 * The admin list's index: one sorted set of every evaluation and one per status, each scored by
 * the time the evaluation was queued. A page is one ZREVRANGEBYSCORE ... LIMIT, so listing costs
 * the same with 100 or 100,000 retained jobs. The index is a hint kept by producer and workers;
 * views are still built from the job itself, and entries found stale are repaired on read.
 */
import type { Redis } from 'ioredis';
import { defineScript, Flag, runScript } from '../redis-scripts.js';
import { EvaluationStatus } from './job-data.js';
import { keys } from './keys.js';

const STATUSES = EvaluationStatus.options;

/** KEYS: all, then one per status (STATUSES order). ARGV: id, status number (1-based). Keeps the queued time. */
const MOVE = defineScript(
  'statusIndex.move',
  `local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('ZADD', KEYS[tonumber(ARGV[2]) + 1], score, ARGV[1])
return 1`,
  Flag,
);

export interface IndexEntry {
  id: string;
  queuedAt: number;
}

export interface StatusIndex {
  /** Keys in the order MOVE and the enqueue script expect them: all, then per status. */
  readonly keys: string[];
  /** Position of `status` among the per-status keys (1-based, as the scripts take it). */
  statusNumber(status: EvaluationStatus): number;
  /** Move an indexed evaluation to `status` (no-op for an id never indexed). */
  move(id: string, status: EvaluationStatus): Promise<void>;
  /** Drop an id from every set (its job is gone). */
  remove(ids: string[]): Promise<void>;
  /**
   * Entries newest first, starting strictly after (queuedAt, id) when given, `count` at a time from
   * `offset` into the candidates at or below the cursor's time.
   */
  page(
    status: EvaluationStatus | undefined,
    after: readonly [number, string] | undefined,
    offset: number,
    count: number,
  ): Promise<IndexEntry[]>;
  /** Ids in the whole index, oldest first, `count` from `start` (the sweep walks it). */
  slice(start: number, count: number): Promise<string[]>;
}

export function createStatusIndex(redis: Redis, prefix: string): StatusIndex {
  const k = keys(prefix);
  const all = [k.indexAll, ...STATUSES.map((s) => k.index(s))];
  return {
    keys: all,
    statusNumber: (status) => STATUSES.indexOf(status) + 1,
    async move(id, status) {
      await runScript(redis, MOVE, all, [id, STATUSES.indexOf(status) + 1]);
    },
    async remove(ids) {
      if (ids.length === 0) return;
      const m = redis.multi();
      for (const key of all) m.zrem(key, ...ids);
      await m.exec();
    },
    async page(status, after, offset, count) {
      const key = status ? k.index(status) : k.indexAll;
      const max = after ? String(after[0]) : '+inf';
      const flat = await redis.zrevrangebyscore(key, max, '-inf', 'WITHSCORES', 'LIMIT', offset, count);
      const out: IndexEntry[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i] ?? '', queuedAt: Number(flat[i + 1]) });
      return out;
    },
    slice: (start, count) => redis.zrange(k.indexAll, start, start + count - 1),
  };
}
