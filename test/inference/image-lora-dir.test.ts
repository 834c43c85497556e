/**
 * Point 9 of "Trust the score": the compose GPU path mounts the named volume `lora` at /lora in the
 * worker, and a named volume takes the owner of the image's directory, so the image must create
 * /lora owned by the unprivileged user it runs as. And when the adapter directory is not writable
 * anyway, the evaluation fails once with the path and the fix (not five retries of EACCES).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceLauncher, InferenceError } from '../../src/inference/index.js';
import { startFakeVllm } from '../fakes/vllm-server.js';
import { REPO } from '../helpers/stack.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { artifact, collectLog, profile, tempDir, writeLora } from './helpers.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  await redis.quit();
});

describe('the lora directory', () => {
  it('the runtime image creates /lora and gives it to the user it runs as, before switching to it', () => {
    const docker = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    const runtime = docker.slice(docker.lastIndexOf('\nFROM '));
    const user = /\nUSER (\S+)/.exec(runtime);
    expect(user?.[1]).toBe('node');
    const before = runtime.slice(0, user!.index);
    expect(before).toMatch(/RUN mkdir -p [^\n]*\/lora[^\n]*&& chown node:node [^\n]*\/lora/);
    const compose = readFileSync(join(REPO, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain('lora:/lora');
    expect(compose).toMatch(/LORA_DIR: \/lora/);
  });

  it('an adapter directory the worker cannot write fails at once, naming the path and the setting', async () => {
    const v = await startFakeVllm();
    try {
      const blocker = join(await tempDir('lora'), 'not-a-dir');
      writeFileSync(blocker, 'a file where the directory should be'); // fails for root too
      const src = await writeLora(await tempDir('dl'), 'meta-llama/Llama-3.1-8B-Instruct');
      const launcher = createInferenceLauncher({
        redis,
        prefix: uniquePrefix('ld'),
        secrets: {},
        gpuIds: [],
        workDir: await tempDir('work'),
      });
      const err = await launcher
        .launch({
          evaluationId: 'ev-0011223344556677889900aa',
          profile: profile({ kind: 'endpoint', baseURL: v.url, loraDir: blocker }),
          artifact: artifact(),
          download: async () => src,
          signal: new AbortController().signal,
          log: collectLog().log,
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InferenceError);
      expect((err as InferenceError).retryable).toBe(false);
      expect((err as Error).message).toMatch(
        /cannot copy the adapter to .*not-a-dir.*LORA_DIR must be writable by the worker/,
      );
      expect(v.loads).toEqual([]);
    } finally {
      await v.close();
    }
  });
});
