/**
 * Redis stops growing (issue 14, item 10): every key evalhook writes is named in keys() with its
 * lifetime, the sweep runs as a BullMQ repeatable job and removes expired judge-cache entries and
 * index entries / cancel flags of jobs BullMQ no longer holds, and checkpoints of failed
 * evaluations expire like those of succeeded ones.
 */
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KEY_LIFETIMES, keys } from '../../src/jobs/keys.js';
import { redisOptions } from '../../src/runtime.js';
import { Queue } from 'bullmq';
import { backfillIndex, startSweeper, sweep, SWEEP_JOB } from '../../src/jobs/sweep.js';
import { createEvaluationService } from '../../src/jobs/producer.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  await redis.quit();
});

const result = { content: 'Rating: [[7]]', usage: { promptTokens: 1, completionTokens: 1 } };

it('every key in keys() states how it stops growing', () => {
  const named = Object.keys(keys('p'));
  expect(Object.keys(KEY_LIFETIMES).sort()).toEqual(named.sort());
  for (const how of Object.values(KEY_LIFETIMES)) expect(how).toMatch(/^(ttl|sweep|bounded|pub\/sub|ttl per entry)/);
});

describe('sweep', () => {
  it('drops expired judge-cache entries, and index entries and cancel flags of jobs BullMQ removed', async () => {
    const prefix = uniquePrefix('sweep');
    const k = keys(prefix);
    await redis.hset(
      k.judgeCache,
      'old',
      JSON.stringify({ ...result, exp: 1 }),
      'live',
      JSON.stringify({ ...result, exp: Date.now() + 3_600_000 }),
      'forever',
      JSON.stringify(result),
    );
    // "kept" has a job hash; "gone" was removed by BullMQ's retention.
    await redis.hset(`${prefix}:evaluations:kept`, 'name', 'eval.run');
    await redis.zadd(k.indexAll, 1, 'kept', 2, 'gone');
    await redis.zadd(k.index('succeeded'), 1, 'kept');
    await redis.zadd(k.index('cancelled'), 2, 'gone');
    await redis.hset(k.cancelled, 'gone', '{"at":1}', 'kept', '{"at":1}');
    try {
      expect(await sweep(redis, prefix)).toEqual({
        indexBackfilled: 0,
        judgeCacheExpired: 1,
        indexEntriesRemoved: 1,
        cancelFlagsRemoved: 1,
      });
      expect((await redis.hkeys(k.judgeCache)).sort()).toEqual(['forever', 'live']);
      expect(await redis.zrange(k.indexAll, 0, -1)).toEqual(['kept']);
      expect(await redis.zcard(k.index('cancelled'))).toBe(0);
      expect(await redis.hkeys(k.cancelled)).toEqual(['kept']);
    } finally {
      const all = await redis.keys(`${prefix}:*`);
      if (all.length) await redis.del(...all);
    }
  });

  it('indexes, once, jobs queued before the index existed, so the admin list shows them after an upgrade', async () => {
    const prefix = uniquePrefix('sweep');
    const old = new Queue('evaluations', { connection: redisOptions(redisUrl()), prefix });
    const data = (v: number) => ({
      evaluationId: `old-${v}`,
      profile: 'default',
      artifact: { name: `acme/p/c:v${v}` },
      trigger: { source: 'manual', eventType: 'MANUAL', receivedAt: Date.now() },
    });
    const service = createEvaluationService({ connection: redisUrl(), prefix, logger: pino({ level: 'silent' }) });
    try {
      // As an earlier version enqueued them: BullMQ jobs, no index entries.
      await old.add('eval.run', data(1), { jobId: 'old-1' });
      await old.add('eval.run', data(2), { jobId: 'old-2', priority: 10 });
      await redis.hset(keys(prefix).cancelled, 'old-2', '{"at":1}');
      expect((await service.list({ limit: 10 })).items).toEqual([]);
      expect(await backfillIndex(redis, prefix)).toBe(2);
      expect(await backfillIndex(redis, prefix)).toBe(0);
      expect((await service.list({ limit: 10 })).items.map((v) => [v.id, v.status]).sort()).toEqual([
        ['old-1', 'queued'],
        ['old-2', 'cancelled'],
      ]);
      expect((await service.list({ status: 'cancelled', limit: 10 })).items.map((v) => v.id)).toEqual(['old-2']);
    } finally {
      await old.obliterate({ force: true }).catch(() => undefined);
      await old.close();
      await service.close();
      const all = await redis.keys(`${prefix}:*`);
      if (all.length) await redis.del(...all);
    }
  });

  it('is scheduled as a BullMQ repeatable job that runs on its own', async () => {
    const prefix = uniquePrefix('sweep');
    const k = keys(prefix);
    await redis.hset(k.judgeCache, 'old', JSON.stringify({ ...result, exp: 1 }));
    const sweeper = await startSweeper({
      connection: redisOptions(redisUrl()),
      redis,
      prefix,
      everyMs: 1_000,
      logger: pino({ level: 'silent' }),
    });
    try {
      const schedulers = await sweeper.queue.getJobSchedulers();
      expect(schedulers.map((s) => s.key)).toEqual([SWEEP_JOB]);
      expect(schedulers[0]?.every).toBe(1_000);
      await expect.poll(() => redis.hexists(k.judgeCache, 'old'), { timeout: 20_000, interval: 100 }).toBe(0);
    } finally {
      await sweeper.queue.obliterate({ force: true }).catch(() => undefined);
      await sweeper.close();
    }
  });
});

describe('checkpoint expiry', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it("a failed evaluation's checkpoints expire after CHECKPOINT_TTL_DAYS (and the judge cache entries carry an expiry)", async () => {
    stack = await startStack({ redisUrl: redisUrl(), env: { CHECKPOINT_TTL_DAYS: '1', JOB_ATTEMPTS: '1' } });
    let judged = 0;
    // Some judgments succeed (so checkpoints and cache entries exist), then the judge refuses the key.
    stack.judge.failWhen(() => (++judged > 20 ? { status: 401 } : undefined));
    await stack.startWorker();
    const id = await stack.enqueue();
    expect(await stack.finished(id)).toBe('failed');
    const ttl = await redis.ttl(keys(stack.env.QUEUE_PREFIX!).records(id));
    expect(ttl).toBeGreaterThan(86_400 - 600);
    expect(ttl).toBeLessThanOrEqual(86_400);
    const entries = Object.values(await redis.hgetall(keys(stack.env.QUEUE_PREFIX!).judgeCache));
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) expect((JSON.parse(e) as { exp?: number }).exp).toBeGreaterThan(Date.now());
  });
});
