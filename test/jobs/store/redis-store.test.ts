import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvalRecord } from '../../../src/eval/types.js';
import { keys } from '../../../src/jobs/keys.js';
import { clearRecords, createRedisEvalStore } from '../../../src/jobs/redis-store.js';
import { redisUrl, uniquePrefix } from '../../helpers/redis.js';
import { startRedisServer } from '../../helpers/redis-server.js';

function answer(qid: number, turn: number): EvalRecord {
  return {
    kind: 'answer',
    key: `answer/${qid}/${turn}`,
    questionId: qid,
    turn,
    model: 'cand',
    content: `answer ${qid}.${turn}`,
    params: { model: 'cand', temperature: 0.7, max_tokens: 1024 },
    usage: { promptTokens: 10, completionTokens: 20 },
    tstamp: 1_700_000_000 + qid,
  };
}

function judgment(qid: number): EvalRecord {
  return {
    kind: 'judgment',
    key: `judgment/${qid}/1`,
    questionId: qid,
    turn: 1,
    model: 'cand',
    judgeModel: 'gpt-4',
    promptName: 'single-v1',
    userPrompt: 'judge this',
    judgment: 'Rating: [[7]]',
    score: 7,
    usage: { promptTokens: 100, completionTokens: 5 },
    cached: false,
    tstamp: 1_700_000_100,
  };
}

const byKey = (a: EvalRecord, b: EvalRecord) => a.key.localeCompare(b.key);

describe('createRedisEvalStore', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(redisUrl());
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('loads back exactly what was saved, one entry per record key', async () => {
    const prefix = uniquePrefix('store');
    const store = createRedisEvalStore(redis, prefix, 'ev-1');
    const recs = [answer(1, 1), answer(1, 2), judgment(1)];
    for (const r of recs) await store.save(r);
    await store.save(answer(1, 1)); // re-saving the same unit of work overwrites, not duplicates
    const loaded = await store.load();
    expect(loaded.sort(byKey)).toEqual([...recs].sort(byKey));
    expect(store.corruptCount).toBe(0);
    // evaluations are isolated from each other
    expect(await createRedisEvalStore(redis, prefix, 'ev-2').load()).toEqual([]);
  });

  it('skips and counts corrupt entries instead of failing the resume', async () => {
    const prefix = uniquePrefix('store');
    const store = createRedisEvalStore(redis, prefix, 'ev-1');
    await store.save(answer(2, 1));
    const key = keys(prefix).records('ev-1');
    await redis.hset(key, 'answer/9/1', '{not json');
    await redis.hset(key, 'answer/8/1', JSON.stringify({ kind: 'answer', key: 'answer/8/1' }));
    await redis.hset(key, 'answer/7/1', JSON.stringify(answer(6, 1))); // stored under the wrong field
    const loaded = await store.load();
    expect(loaded).toEqual([answer(2, 1)]);
    expect(store.corruptCount).toBe(3);
    expect([...store.corruptKeys].sort()).toEqual(['answer/7/1', 'answer/8/1', 'answer/9/1']);
  });

  it('rejects an invalid record on save rather than storing it', async () => {
    const store = createRedisEvalStore(redis, uniquePrefix('store'), 'ev-1');
    const bad = { ...answer(1, 1), turn: 0 };
    await expect(store.save(bad)).rejects.toThrow();
    expect(await store.load()).toEqual([]);
  });

  it('sets no TTL itself (the pipeline does, once the evaluation ends) and clearRecords removes everything', async () => {
    const prefix = uniquePrefix('store');
    const store = createRedisEvalStore(redis, prefix, 'ev-1');
    await store.save(answer(3, 1));
    expect(await redis.ttl(keys(prefix).records('ev-1'))).toBe(-1);
    await clearRecords(redis, prefix, 'ev-1');
    expect(await store.load()).toEqual([]);
  });
});

describe('createRedisEvalStore durability', () => {
  it('keeps every acknowledged record across a Redis SIGKILL + restart with AOF', async () => {
    const server = await startRedisServer({ appendonly: true });
    try {
      const prefix = uniquePrefix('aof');
      const before = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      before.on('error', () => {}); // the kill below resets the connection
      const store = createRedisEvalStore(before, prefix, 'ev-aof');
      const recs: EvalRecord[] = [];
      for (let q = 1; q <= 40; q++) recs.push(answer(q, 1), judgment(q));
      await Promise.all(recs.map((r) => store.save(r))); // all acknowledged
      await server.stop('SIGKILL');
      before.disconnect();
      await server.restart();
      const after = new Redis(server.url);
      try {
        const reloaded = createRedisEvalStore(after, prefix, 'ev-aof');
        expect((await reloaded.load()).sort(byKey)).toEqual(recs.sort(byKey));
        expect(reloaded.corruptCount).toBe(0);
      } finally {
        await after.quit();
      }
    } finally {
      await server.dispose();
    }
  });
});
