/**
 * The scheduled clean-up of what Redis expiry cannot do alone: judge-cache fields past their TTL
 * (Redis < 7.4 has no per-field expiry), index entries and cancel flags of jobs BullMQ has removed
 * (retention). Runs as a BullMQ repeatable job on its own small queue, so however many workers
 * run, one of them sweeps per interval.
 */
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createRedisJudgeCache } from './judge-cache.js';
import { defineScript, Flag, runScript } from '../redis-scripts.js';
import { type EvaluationStatus } from './job-data.js';
import { QUEUE_NAME, keys } from './keys.js';
import { createStatusIndex } from './status-index.js';

const BATCH = 500;
export const SWEEP_JOB = 'sweep';

export interface SweepReport {
  /** Jobs from before the index existed, indexed by the first sweep (0 afterwards). */
  indexBackfilled: number;
  judgeCacheExpired: number;
  indexEntriesRemoved: number;
  cancelFlagsRemoved: number;
}

/** BullMQ's job hash key (`<prefix>:<queue>:<id>`). */
const jobKey = (prefix: string, id: string) => `${prefix}:${QUEUE_NAME}:${id}`;

async function missingJobs(redis: Redis, prefix: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const p = redis.pipeline();
  for (const id of ids) p.exists(jobKey(prefix, id));
  const res = (await p.exec()) ?? [];
  return ids.filter((_, i) => res[i]?.[1] === 0);
}

/** KEYS: index all, index of the status. ARGV: queued ms, id. An id already indexed keeps its entry. */
const INDEX_IF_ABSENT = defineScript(
  'sweep.indexIfAbsent',
  `if redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2]) == 1 then redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2]) return 1 end
return 0`,
  Flag,
);

/** BullMQ's own state lists and sets, and the status each means (a cancel flag wins but on completed). */
const STATE_SOURCES: Array<{ key: string; kind: 'list' | 'zset'; status: EvaluationStatus }> = [
  { key: 'wait', kind: 'list', status: 'queued' },
  { key: 'paused', kind: 'list', status: 'queued' },
  { key: 'prioritized', kind: 'zset', status: 'queued' },
  { key: 'delayed', kind: 'zset', status: 'queued' },
  { key: 'waiting-children', kind: 'zset', status: 'queued' },
  { key: 'active', kind: 'list', status: 'running' },
  { key: 'completed', kind: 'zset', status: 'succeeded' },
  { key: 'failed', kind: 'zset', status: 'failed' },
];

/**
 * Jobs queued by a version without the index are indexed once (their queued time is the job's
 * timestamp), so the admin list shows them after an upgrade. The marker is set only when done, so an
 * interrupted backfill starts again; entries written meanwhile by producer or workers win.
 */
export async function backfillIndex(redis: Redis, prefix: string): Promise<number> {
  const k = keys(prefix);
  if ((await redis.exists(k.indexBackfilled)) === 1) return 0;
  let added = 0;
  for (const src of STATE_SOURCES) {
    const key = `${prefix}:${QUEUE_NAME}:${src.key}`;
    for (let start = 0; ; start += BATCH) {
      const ids =
        src.kind === 'list'
          ? await redis.lrange(key, start, start + BATCH - 1)
          : await redis.zrange(key, start, start + BATCH - 1);
      const p = redis.pipeline();
      for (const id of ids) p.hget(jobKey(prefix, id), 'timestamp').hexists(k.cancelled, id);
      const res = (await p.exec()) ?? [];
      for (let i = 0; i < ids.length; i++) {
        const ts = Number(res[2 * i]?.[1]);
        if (!Number.isFinite(ts)) continue; // the job hash is gone
        const status = res[2 * i + 1]?.[1] === 1 && src.status !== 'succeeded' ? 'cancelled' : src.status;
        added += await runScript(redis, INDEX_IF_ABSENT, [k.indexAll, k.index(status)], [ts, ids[i]!]);
      }
      if (ids.length < BATCH) break;
    }
  }
  await redis.set(k.indexBackfilled, String(Date.now()));
  return added;
}

export async function sweep(redis: Redis, prefix: string): Promise<SweepReport> {
  const k = keys(prefix);
  const indexBackfilled = await backfillIndex(redis, prefix);
  const judgeCacheExpired = await createRedisJudgeCache(redis, prefix).sweep();

  const index = createStatusIndex(redis, prefix);
  let indexEntriesRemoved = 0;
  for (let start = 0; ;) {
    const ids = await index.slice(start, BATCH);
    const gone = await missingJobs(redis, prefix, ids);
    await index.remove(gone);
    indexEntriesRemoved += gone.length;
    if (ids.length < BATCH) break;
    start += ids.length - gone.length;
  }

  let cancelFlagsRemoved = 0;
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(k.cancelled, cursor, 'COUNT', BATCH);
    cursor = next;
    const ids = flat.filter((_, i) => i % 2 === 0);
    const gone = await missingJobs(redis, prefix, ids);
    if (gone.length) cancelFlagsRemoved += await redis.hdel(k.cancelled, ...gone);
  } while (cursor !== '0');
  return { indexBackfilled, judgeCacheExpired, indexEntriesRemoved, cancelFlagsRemoved };
}

export interface Sweeper {
  queue: Queue;
  close(): Promise<void>;
}

export async function startSweeper(opts: {
  connection: ConnectionOptions;
  redis: Redis;
  prefix: string;
  everyMs: number;
  logger: Logger;
}): Promise<Sweeper> {
  const name = keys(opts.prefix).maintenanceQueue;
  const queue = new Queue(name, { connection: opts.connection, prefix: opts.prefix });
  queue.on('error', (err) => opts.logger.warn({ err }, 'maintenance queue error'));
  // Idempotent: every worker upserts the same scheduler; BullMQ keeps one.
  // An upgraded deployment's jobs show in the admin list now, not at the first scheduled sweep.
  void backfillIndex(opts.redis, opts.prefix).then(
    (n) => n > 0 && opts.logger.info({ jobs: n }, 'admin list index: jobs from before the index were indexed'),
    (err: unknown) => opts.logger.warn({ err }, 'admin list index backfill failed; the next sweep retries'),
  );
  await queue.upsertJobScheduler(
    SWEEP_JOB,
    { every: opts.everyMs },
    { name: SWEEP_JOB, opts: { removeOnComplete: true, removeOnFail: 10 } },
  );
  const worker = new Worker(
    name,
    async () => {
      const report = await sweep(opts.redis, opts.prefix);
      opts.logger.info(report, 'maintenance sweep done');
      return report;
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => opts.logger.warn({ err }, 'maintenance worker error'));
  return {
    queue,
    async close() {
      await Promise.allSettled([worker.close(), queue.close()]);
    },
  };
}
