import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvalSummary } from '../../src/eval/types.js';
import { readCheckpoint } from '../../src/jobs/checkpoints.js';
import { keys } from '../../src/jobs/keys.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';

describe('a corrupt summary checkpoint', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(redisUrl());
  });
  afterAll(async () => {
    await redis.quit();
  });

  for (const [what, bytes] of [
    ['not JSON', '{"scores": {"average": 7.1'],
    ['JSON of the wrong shape', JSON.stringify({ scores: 'high' })],
  ] as const) {
    it(`(${what}) is discarded with a warning instead of throwing, so the attempt recomputes it`, async () => {
      const key = keys(uniquePrefix('cs')).summary('e1');
      await redis.set(key, bytes);
      const warnings: Array<{ obj: unknown; msg: string }> = [];
      const log = { warn: (obj: unknown, msg: string) => warnings.push({ obj, msg }) };
      await expect(readCheckpoint(redis, key, EvalSummary, log as never)).resolves.toBeUndefined();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toMatch(/corrupt/);
      // gone: the next attempt does not meet it again
      expect(await redis.exists(key)).toBe(0);
    });
  }

  it('an absent checkpoint is simply undefined, with no warning', async () => {
    const log = { warn: () => expect.unreachable('no warning expected') };
    await expect(
      readCheckpoint(redis, keys(uniquePrefix('cs')).summary('none'), EvalSummary, log as never),
    ).resolves.toBeUndefined();
  });
});
