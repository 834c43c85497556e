/**
 * Launchers serving a torchtune `.pt` artifact: the endpoint kind hot-loads the converted PEFT
 * folder, the process kind passes it as {adapterDir}; facts come from metadata and the profile when
 * there is no training run; a file that is not an adapter fails final before anything is started.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceLauncher, InferenceError, type InferenceLauncherOptions } from '../../src/inference/index.js';
import type { LaunchRequest } from '../../src/ports.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';
import { fixture, TINY_HEADS } from '../checkpoint/helpers.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { artifact, collectLog, fakeCommand, profile, tempDir } from './helpers.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  await redis.quit();
});
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

/** A downloaded artifact directory holding one torchtune `.pt`, as the cache would hold it. */
async function ptArtifactDir(cache: string, source: string, name = 'adapter_checkpoint_2.pt'): Promise<string> {
  const dir = join(cache, 'artifacts', 'digest-1');
  mkdirSync(dir, { recursive: true });
  copyFileSync(fixture(source), join(dir, name));
  return dir;
}

function request(
  p: LaunchRequest['profile'],
  dir: string,
  metadata: Record<string, unknown> = {},
): LaunchRequest & { lines: string[] } {
  const { lines, log } = collectLog();
  return {
    evaluationId: `ev-${uniquePrefix('tt')}`,
    profile: p,
    artifact: artifact({
      files: [{ path: 'adapter_checkpoint_2.pt', size: 1 }],
      metadata,
      digest: '0123456789abcdef0123456789abcdef',
    }),
    download: async () => dir,
    signal: new AbortController().signal,
    log,
    lines,
  };
}

/** A launcher without GPUs that works under `work`; cache root and process timings as the test needs. */
const launcherIn = (work: string, over: Partial<InferenceLauncherOptions> = {}) =>
  createInferenceLauncher({ redis, prefix: uniquePrefix('tt'), secrets: {}, gpuIds: [], workDir: work, ...over });

describe('torchtune .pt artifacts in the launchers', () => {
  it('endpoint: converts with lora_alpha from artifact metadata and heads from the profile, loads the PEFT copy', async () => {
    const fake: FakeOpenAI = await startFakeOpenAI({ models: ['meta-llama/Llama-3.1-8B-Instruct'] });
    closers.push(() => fake.close());
    const seen: string[][] = [];
    fake.route('POST', '/v1/load_lora_adapter', (body) => {
      const path = (body as { lora_path: string }).lora_path;
      seen.push(readdirSync(path).sort());
      return { status: 200, body: 'Success' };
    });
    fake.route('POST', '/v1/unload_lora_adapter', () => ({ status: 200, body: 'Success' }));
    const cache = await tempDir('cache');
    const work = await tempDir('work');
    const launcher = launcherIn(work);
    const req = request(
      profile({ kind: 'endpoint', baseURL: fake.url, loraDir: join(work, 'lora'), lora: { heads: TINY_HEADS } }),
      await ptArtifactDir(cache, 'adapter_checkpoint_2.pt'),
      { lora_alpha: 16, base_model: 'meta-llama/Llama-3.1-8B-Instruct' },
    );
    const served = await launcher.launch(req);
    expect(seen).toEqual([['adapter_config.json', 'adapter_model.safetensors']]);
    expect(served.describe).toMatchObject({
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
      converted: {
        from: 'adapter_checkpoint_2.pt',
        r: 4,
        lora_alpha: 16,
        sources: {
          lora_alpha: 'artifact metadata',
          heads: 'profile inference.lora',
          target_modules: 'adapter weights',
        },
      },
    });
    expect(
      req.lines.some((l) =>
        l.includes('converted adapter_checkpoint_2.pt to a PEFT adapter (r=4, lora_alpha=16 from artifact metadata'),
      ),
    ).toBe(true);
    const conv = readdirSync(join(work, 'converted')).find((d) => !d.endsWith('.json'))!;
    expect(conv.startsWith('0123456789abcdef0123456789abcdef-')).toBe(true);
    const cfg = JSON.parse(readFileSync(join(work, 'converted', conv, 'adapter_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(cfg).toMatchObject({ base_model_name_or_path: 'meta-llama/Llama-3.1-8B-Instruct', lora_alpha: 16 });
    await served.release();
  });

  it('process: the converted folder is the {adapterDir} the server command receives', async () => {
    const cache = await tempDir('cache');
    const work = await tempDir('work');
    const record = join(work, 'record.json');
    const launcher = launcherIn(work, { cacheRoot: cache, killGraceMs: 500, pollMs: 100 });
    closers.push(() => launcher.shutdownAll());
    const req = request(
      profile({
        kind: 'process',
        gpus: 0,
        baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
        lora: { alpha: 8, heads: TINY_HEADS },
        command: [...fakeCommand('--record', record), '--lora-modules', '{name}={adapterDir}'],
        readyTimeoutSec: 20,
      }),
      await ptArtifactDir(cache, 'adapter_checkpoint_2.pt'),
    );
    const served = await launcher.launch(req);
    const argv = (JSON.parse(readFileSync(record, 'utf8')) as { argv: string[] }).argv;
    const adapterDir = argv[argv.indexOf('--lora-modules') + 1]!.split('=')[1]!;
    expect(adapterDir.startsWith(join(cache, 'converted'))).toBe(true);
    expect(readdirSync(adapterDir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(served.describe).toMatchObject({
      artifactKind: 'lora',
      converted: { lora_alpha: 8, sources: { lora_alpha: 'profile inference.lora' } },
    });
    await served.release();
  });

  it('a .pt that is not a LoRA adapter fails final, before any server starts', async () => {
    const cache = await tempDir('cache');
    const work = await tempDir('work');
    const record = join(work, 'record.json');
    const launcher = launcherIn(work, { cacheRoot: cache });
    const req = request(
      profile({
        kind: 'process',
        gpus: 0,
        baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
        lora: { alpha: 8 },
        command: [...fakeCommand('--record', record)],
      }),
      await ptArtifactDir(cache, 'module.pt'),
    );
    const err = await launcher.launch(req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toMatch(
      /adapter_checkpoint_2\.pt: refusing global torch\.nn\.modules\.linear\.Linear/,
    );
    expect(existsSync(record)).toBe(false);
  });
});
