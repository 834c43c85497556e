/**
 * Artifact names, metadata and evaluation ids are written by whoever can log an artifact. Crafted
 * ones (shell metacharacters, `../`) must reach neither a launched command line nor a path we create.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceLauncher, InferenceError } from '../../src/inference/index.js';
import { createGpuPool } from '../../src/inference/gpu-pool.js';
import type { LaunchRequest, ResolvedArtifact } from '../../src/ports.js';
import type { ProfileInput } from '../../src/profile.js';
import { startFakeOpenAI } from '../fakes/openai-server.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { artifact, collectLog, fakeCommand, profile, tempDir, treeOf, writeLora } from './helpers.js';

const HOSTILE = {
  entity: '../../etc',
  project: '$(touch /tmp/evalhook-pwned)',
  collection: 'x; rm -rf / #',
  version: 'v1`id`',
};
const HOSTILE_ID = '../../x; rm -rf / #';
const BAD = [';', '$(', '`', '../', 'rm -rf', '/etc', 'pwned', '#'];

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  await redis.quit();
});

function hostileArtifact(): ResolvedArtifact {
  // Metadata and adapter config name hostile base models too; only the profile's plain id may pass.
  return artifact({ ...HOSTILE, metadata: { base_model: '$(id)', base_model_name_or_path: '../../etc/passwd' } });
}

function expectClean(values: string[]): void {
  for (const v of values) for (const bad of BAD) expect(v, `${JSON.stringify(v)} contains ${bad}`).not.toContain(bad);
}

async function setup(inference: ProfileInput['inference']) {
  const cache = await tempDir('cache');
  const work = await tempDir('work');
  const lora = await tempDir('lora');
  const prefix = uniquePrefix('hn');
  const adapter = await writeLora(join(cache, 'digest-abc'), 'x; rm -rf / #');
  const launcher = createInferenceLauncher({
    redis,
    prefix,
    secrets: {},
    wandbApiKey: 'wandb-key-0123456789',
    gpuIds: ['0', '1'],
    workDir: work,
    cacheRoot: cache,
    killGraceMs: 500,
    pollMs: 100,
  });
  const { lines, log } = collectLog();
  const req: LaunchRequest = {
    evaluationId: HOSTILE_ID,
    profile: profile(inference),
    artifact: hostileArtifact(),
    download: async () => adapter,
    signal: new AbortController().signal,
    log,
  };
  return { launcher, req, lines, cache, work, lora, adapter, prefix };
}

describe('hostile artifact names', () => {
  it('never reach the launched argv, CUDA_VISIBLE_DEVICES or a created path (process)', async () => {
    const recordDir = await tempDir('rec');
    const record = join(recordDir, 'record.json');
    const s = await setup({
      kind: 'process',
      command: fakeCommand('--record', record, '--base', '{baseModel}', '--lora-modules', '{name}={adapterDir}'),
      baseModel: 'org/base-model',
    });
    const served = await s.launcher.launch(s.req);
    try {
      const rec = JSON.parse(readFileSync(record, 'utf8')) as { argv: string[]; cudaVisibleDevices: string };
      expectClean(rec.argv);
      expectClean([served.model, rec.cudaVisibleDevices]);
      expect(rec.argv).toContain('org/base-model');
      expect(rec.argv).toContain(`${served.model}=${s.adapter}`);
      expect(served.model).toMatch(/^evalhook-[a-z0-9-]+$/);
      // The only paths the process launcher creates: its server record, named by host and pid.
      const created = await treeOf(s.work);
      expectClean(created);
      for (const p of created) expect(p).toMatch(/^servers(\/[A-Za-z0-9_.-]+-\d+\.json)?$/);
      expect(s.lines.some((l) => l.includes('not a Hugging Face model id'))).toBe(true);
    } finally {
      await served.release();
    }
    expect(existsSync('/tmp/evalhook-pwned')).toBe(false);
  });

  it('refuses a download directory whose path carries metacharacters, before leasing a GPU', async () => {
    const s = await setup({ kind: 'process', command: fakeCommand(), baseModel: 'org/base-model' });
    const evil = await writeLora(join(s.cache, 'x; rm -rf ~ #'), 'org/base-model');
    s.req.download = async () => evil;
    const err = await s.launcher.launch(s.req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toContain('cannot go on a command line');
    expect(Object.values(await createGpuPool({ redis, prefix: s.prefix, ids: ['0', '1'] }).holders())).toEqual([
      null,
      null,
    ]);
  });

  it('never reach the adapter path handed to vLLM or the files we create (endpoint)', async () => {
    const fake = await startFakeOpenAI();
    const paths: string[] = [];
    fake.route('POST', '/v1/load_lora_adapter', (body) => {
      const b = body as { lora_name: string; lora_path: string };
      paths.push(b.lora_name, b.lora_path);
      return { status: 200, body: 'Success' };
    });
    fake.route('POST', '/v1/unload_lora_adapter', () => ({ status: 200, body: 'Success' }));
    try {
      const s = await setup({ kind: 'endpoint', baseURL: fake.url, loraDir: '/placeholder' });
      if (s.req.profile.inference.kind === 'endpoint') s.req.profile.inference.loraDir = s.lora;
      const served = await s.launcher.launch(s.req);
      expectClean([served.model, ...paths]);
      expect(paths[1]).toBe(join(s.lora, served.model));
      const created = await treeOf(s.lora);
      expect(created).toEqual([
        served.model,
        `${served.model}/adapter_config.json`,
        `${served.model}/adapter_model.safetensors`,
      ]);
      expectClean(created);
      expect(await treeOf(s.work)).toEqual([]);
      await served.release();
      expect(await treeOf(s.lora)).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('are refused as a W&B Inference model id', async () => {
    const s = await setup({ kind: 'wandb-inference' });
    const err = await s.launcher.launch(s.req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/not a valid W&B name/);
  });

  it('cannot steer the LoRA copy out of loraDir through the evaluation id', async () => {
    const s = await setup({ kind: 'endpoint', baseURL: 'http://127.0.0.1:1/v1' });
    await mkdir(join(s.lora, 'keep'), { recursive: true });
    // Unreachable server: the copy is made, the load fails, the copy is removed; nothing else is touched.
    if (s.req.profile.inference.kind === 'endpoint') s.req.profile.inference.loraDir = s.lora;
    await expect(s.launcher.launch(s.req)).rejects.toBeInstanceOf(InferenceError);
    expect(await treeOf(s.lora)).toEqual(['keep']);
  });
});
