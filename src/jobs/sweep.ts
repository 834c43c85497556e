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
import { QUEUE_NAME, keys } from './model.js';
import { createStatusIndex } from './status-index.js';

const BATCH = 500;
export const SWEEP_JOB = 'sweep';

export interface SweepReport {
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

export async function sweep(redis: Redis, prefix: string): Promise<SweepReport> {
  const k = keys(prefix);
  const judgeCacheExpired = await createRedisJudgeCache(redis, prefix).sweep();

  const index = createStatusIndex(redis, prefix);
  let indexEntriesRemoved = 0;
  for (let start = 0; ; ) {
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
  return { judgeCacheExpired, indexEntriesRemoved, cancelFlagsRemoved };
}

export interface Sweeper {
  queue: Queue;
  close(): Promise<void>;
}

export async function startSweeper(opts: { connection: ConnectionOptions; redis: Redis; prefix: string; everyMs: number; logger: Logger }): Promise<Sweeper> {
  const name = keys(opts.prefix).maintenanceQueue;
  const queue = new Queue(name, { connection: opts.connection, prefix: opts.prefix });
  queue.on('error', (err) => opts.logger.warn({ err }, 'maintenance queue error'));
  // Idempotent: every worker upserts the same scheduler; BullMQ keeps one.
  await queue.upsertJobScheduler(SWEEP_JOB, { every: opts.everyMs }, { name: SWEEP_JOB, opts: { removeOnComplete: true, removeOnFail: 10 } });
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
