import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EvalhookError } from '../../src/errors.js';
import { defineScript, definedScripts, Flag, runScript } from '../../src/redis-scripts.js';
// every module that defines scripts, so the registry is complete
import '../../src/jobs/limiter.js';
import '../../src/jobs/judge-cache.js';
import '../../src/jobs/status-index.js';
import '../../src/jobs/sweep.js';
import '../../src/jobs/dashboard-store.js';
import '../../src/jobs/producer.js';
import '../../src/inference/gpu-pool.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { sourceFiles } from '../helpers/source-files.js';

describe('Redis Lua scripts: one loader, replies validated', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(redisUrl());
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('no script is run outside src/redis-scripts.ts, and every Lua source in src is a defineScript', () => {
    for (const { path, text } of sourceFiles('src')) {
      if (path !== 'src/redis-scripts.ts') expect(text, path).not.toMatch(/\.(eval|evalsha|defineCommand)\(/);
    }
    const names = definedScripts().map((s) => s.name);
    expect(names.length).toBeGreaterThanOrEqual(14);
    expect(new Set(names).size).toBe(names.length);
  });

  it('every defined script compiles in a real Redis', async () => {
    for (const s of definedScripts()) expect(await redis.script('LOAD', s.source), s.name).toBe(s.sha1);
  });

  it('a reply of the wrong shape is an EVALHOOK_ERR_REDIS_REPLY naming the script, not a misread value', async () => {
    const skewed = defineScript('test.skewed', `return {1, 'two'}`, z.tuple([z.number(), z.number()]));
    const err = await runScript(redis, skewed, [], []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EvalhookError);
    expect(err).toMatchObject({ code: 'EVALHOOK_ERR_REDIS_REPLY', retryable: false });
    expect((err as Error).message).toContain('test.skewed');
  });

  it('runs after Redis forgot its scripts (EVALSHA NOSCRIPT falls back to EVAL)', async () => {
    const key = `${uniquePrefix('lua')}:k`;
    const setOnce = defineScript('test.setOnce', `return redis.call('SETNX', KEYS[1], ARGV[1])`, Flag);
    await redis.script('FLUSH');
    expect(await runScript(redis, setOnce, [key], ['v'])).toBe(1);
    expect(await runScript(redis, setOnce, [key], ['v'])).toBe(0);
  });

  it('defining two scripts under one name is refused', () => {
    defineScript('test.once', 'return 1', Flag);
    expect(() => defineScript('test.once', 'return 0', Flag)).toThrow(/twice/);
  });
});
