/**
 * Options that used to be tested but never set in production, checked through the real wiring
 * (runtime.workerDeps): checkpoint and judge-cache TTLs, and the artifact-cache containment check
 * for launched servers.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { AnswerRecord } from '../src/eval/types.js';
import { createRedisJudgeCache, sweepIfDue } from '../src/jobs/judge-cache.js';
import { keys } from '../src/jobs/model.js';
import { redisOptions, workerDeps } from '../src/runtime.js';
import { artifact, fakeCommand, writeFull } from './inference/helpers.js';
import { redisUrl, uniquePrefix } from './helpers/redis.js';
import { tempDir } from './helpers/tmp.js';

const silent = pino({ level: 'silent' });
const answer: AnswerRecord = { kind: 'answer', key: 'answer/81/1', questionId: 81, turn: 1, model: 'm', content: 'hi', params: { model: 'm', temperature: 0.7, max_tokens: 1024 }, usage: { promptTokens: 1, completionTokens: 1 }, tstamp: 1 };

function config(env: Record<string, string>) {
  return loadConfig({ WEBHOOK_TOKEN: 'webhook-token-0123456789', ADMIN_TOKEN: 'admin-token-0123456789ab', REDIS_URL: redisUrl(), QUEUE_PREFIX: uniquePrefix('wire'), EVALHOOK_DATA_DIR: tempDir('wire'), ...env });
}

describe('worker wiring', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(redisOptions(redisUrl()));
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('checkpoints expire CHECKPOINT_TTL_DAYS after the last record, whether or not the evaluation finishes; 0 keeps them', async () => {
    const c = config({ CHECKPOINT_TTL_DAYS: '2' });
    const deps = workerDeps(c, silent, redis);
    await deps.store('ev-1').save(answer);
    const ttl = await redis.ttl(keys(c.env.QUEUE_PREFIX).records('ev-1'));
    expect(ttl).toBeGreaterThan(86_400);
    expect(ttl).toBeLessThanOrEqual(2 * 86_400);
    await deps.shutdown();

    const keep = config({ CHECKPOINT_TTL_DAYS: '0' });
    const kept = workerDeps(keep, silent, redis);
    await kept.store('ev-1').save(answer);
    expect(await redis.ttl(keys(keep.env.QUEUE_PREFIX).records('ev-1'))).toBe(-1);
    await kept.shutdown();
  });

  it('judge-cache entries carry JUDGE_CACHE_TTL_DAYS (default 30) and one worker per period sweeps the expired ones', async () => {
    const c = config({});
    expect(c.env.JUDGE_CACHE_TTL_DAYS).toBe(30);
    const deps = workerDeps(c, silent, redis);
    const k = keys(c.env.QUEUE_PREFIX).judgeCache;
    await deps.cache.set('fresh', { content: 'Rating: [[7]]', usage: { promptTokens: 1, completionTokens: 1 } });
    const { exp } = JSON.parse((await redis.hget(k, 'fresh')) ?? '{}') as { exp?: number };
    const [s] = (await redis.time()).map(Number) as [number, number];
    expect(exp).toBeGreaterThan(s * 1000 + 29 * 86_400_000);
    expect(exp).toBeLessThanOrEqual((s + 1) * 1000 + 30 * 86_400_000);
    await deps.shutdown();

    // An entry that expired and is never read again: swept once per period, by whichever worker claims it.
    await redis.hset(k, 'stale', JSON.stringify({ content: 'x', usage: { promptTokens: 1, completionTokens: 1 }, exp: 1 }));
    const cache = createRedisJudgeCache(redis, c.env.QUEUE_PREFIX, { ttlSeconds: 60 });
    expect(await sweepIfDue(redis, c.env.QUEUE_PREFIX, cache, 60_000)).toBe(1);
    await redis.hset(k, 'stale', JSON.stringify({ content: 'x', usage: { promptTokens: 1, completionTokens: 1 }, exp: 1 }));
    expect(await sweepIfDue(redis, c.env.QUEUE_PREFIX, cache, 60_000)).toBeUndefined();
    expect((await redis.hkeys(k)).sort()).toEqual(['fresh', 'stale']);
  });

  it('a launched server is only handed directories inside the artifact cache (with W&B downloads on)', async () => {
    const c = config({ WANDB_API_KEY: 'wandb-key-0123456789', INFERENCE_KIND: 'process', INFERENCE_COMMAND: fakeCommand().join(' '), GPU_IDS: '0' });
    const deps = workerDeps(c, silent, redis);
    const outside = await writeFull(join(tempDir('outside'), 'model'));
    const profile = c.profiles.get('default')!;
    const launched = deps.launcher.launch({ evaluationId: 'ev-wire', profile, artifact: artifact({ files: [{ path: 'config.json', size: 1 }] }), download: async () => outside, signal: new AbortController().signal, log: () => undefined });
    await expect(launched).rejects.toThrow(/outside the artifact cache/);
    await deps.shutdown();
  });
});
