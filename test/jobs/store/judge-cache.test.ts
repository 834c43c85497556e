import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatResult } from '../../../src/eval/ports.js';
import { createRedisJudgeCache } from '../../../src/jobs/judge-cache.js';
import { keys } from '../../../src/jobs/keys.js';
import { redisUrl, uniquePrefix } from '../../helpers/redis.js';

const result: ChatResult = {
  content: 'Rating: [[8]]',
  usage: { promptTokens: 50, completionTokens: 4 },
  finishReason: 'stop',
};

describe('createRedisJudgeCache', () => {
  let a: Redis;
  let b: Redis;
  beforeAll(() => {
    a = new Redis(redisUrl());
    b = new Redis(redisUrl());
  });
  afterAll(async () => {
    await a.quit();
    await b.quit();
  });

  it('shares entries between workers (separate connections)', async () => {
    const prefix = uniquePrefix('jc');
    const w1 = createRedisJudgeCache(a, prefix);
    const w2 = createRedisJudgeCache(b, prefix);
    expect(await w2.get('k1')).toBeUndefined();
    await w1.set('k1', result);
    expect(await w2.get('k1')).toEqual(result);
    // stored as plain ChatResult JSON, as keys().judgeCache documents
    expect(JSON.parse((await a.hget(keys(prefix).judgeCache, 'k1')) ?? '')).toEqual(result);
  });

  it('treats an entry that fails validation as a miss', async () => {
    const prefix = uniquePrefix('jc');
    const cache = createRedisJudgeCache(a, prefix);
    await a.hset(keys(prefix).judgeCache, 'bad-json', '{oops', 'bad-shape', JSON.stringify({ content: 1 }));
    expect(await cache.get('bad-json')).toBeUndefined();
    expect(await cache.get('bad-shape')).toBeUndefined();
  });

  it('expires entries by Redis time when a TTL is set', async () => {
    const prefix = uniquePrefix('jc');
    const cache = createRedisJudgeCache(a, prefix, { ttlSeconds: 3600 });
    await cache.set('fresh', result);
    expect(await cache.get('fresh')).toEqual(result);
    const stored = JSON.parse((await a.hget(keys(prefix).judgeCache, 'fresh')) ?? '') as { exp: number };
    const [s, us] = (await a.time()).map(Number) as [number, number];
    const now = s * 1000 + Math.floor(us / 1000);
    expect(stored.exp).toBeGreaterThan(now + 3_500_000);
    expect(stored.exp).toBeLessThanOrEqual(now + 3_600_000);
    // An entry whose expiry (Redis ms) has passed: written as a worker with that TTL would have.
    await a.hset(
      keys(prefix).judgeCache,
      'stale',
      JSON.stringify({ ...result, exp: 1 }),
      'stale2',
      JSON.stringify({ ...result, exp: 2 }),
    );
    expect(await cache.get('stale')).toBeUndefined();
    expect(await a.hexists(keys(prefix).judgeCache, 'stale')).toBe(0);
    expect(await cache.sweep()).toBe(1); // stale2, never read again
    expect(await a.hkeys(keys(prefix).judgeCache)).toEqual(['fresh']);
  });
});
