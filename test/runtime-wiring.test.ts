/**
 * Options that used to be tested but never set in production, checked through the real wiring
 * (runtime.workerDeps): the artifact-cache containment check for launched servers. (The TTLs are
 * wired and tested by the maintenance sweep's tests.)
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { redisOptions, workerDeps } from '../src/runtime.js';
import { artifact, fakeCommand, writeFull } from './inference/helpers.js';
import { redisUrl, uniquePrefix } from './helpers/redis.js';
import { tempDir } from './helpers/tmp.js';

const silent = pino({ level: 'silent' });

function config(env: Record<string, string>) {
  return loadConfig({
    WEBHOOK_TOKEN: 'webhook-token-0123456789',
    ADMIN_TOKEN: 'admin-token-0123456789ab',
    REDIS_URL: redisUrl(),
    QUEUE_PREFIX: uniquePrefix('wire'),
    EVALHOOK_DATA_DIR: tempDir('wire'),
    ...env,
  });
}

describe('worker wiring', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(redisOptions(redisUrl()));
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('a launched server is only handed directories inside the artifact cache (with W&B downloads on)', async () => {
    const c = config({
      WANDB_API_KEY: 'wandb-key-0123456789',
      INFERENCE_KIND: 'process',
      INFERENCE_COMMAND: fakeCommand().join(' '),
      GPU_IDS: '0',
    });
    const deps = workerDeps(c, silent, redis);
    const outside = await writeFull(join(tempDir('outside'), 'model'));
    const profile = c.profiles.get('default')!;
    const launched = deps.launcher.launch({
      evaluationId: 'ev-wire',
      profile,
      artifact: artifact({ files: [{ path: 'config.json', size: 1 }] }),
      download: async () => outside,
      signal: new AbortController().signal,
      log: () => undefined,
    });
    await expect(launched).rejects.toThrow(/outside the artifact cache/);
    await deps.shutdown();
  });
});
