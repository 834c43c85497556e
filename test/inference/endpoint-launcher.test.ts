/** kind=endpoint against a fake vLLM (the shared fake OpenAI server with the LoRA routes added). */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceLauncher, InferenceError } from '../../src/inference/index.js';
import { servedNameFor } from '../../src/inference/safe-values.js';
import type { LaunchRequest } from '../../src/ports.js';
import type { ProfileInput } from '../../src/profile.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { artifact, collectLog, profile, tempDir, writeFull, writeLora } from './helpers.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  await redis.quit();
});
const fakes: FakeOpenAI[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

interface LoraCall {
  path: string;
  body: { lora_name?: string; lora_path?: string };
  filesAtCall: string[];
  auth: string | undefined;
}

/** A fake vLLM with runtime LoRA updating: records load/unload calls and what the adapter dir held. */
async function fakeVllm(opts: { loadStatus?: number; loadBody?: unknown; noLoraRoutes?: boolean } = {}) {
  const fake = await startFakeOpenAI({ models: ['org/base-model'] });
  fakes.push(fake);
  const calls: LoraCall[] = [];
  if (!opts.noLoraRoutes) {
    fake.route('POST', '/v1/load_lora_adapter', (body, req) => {
      const b = body as LoraCall['body'];
      calls.push({
        path: 'load',
        body: b,
        filesAtCall: b.lora_path && existsSync(b.lora_path) ? readdirSync(b.lora_path).sort() : [],
        auth: req.headers.authorization,
      });
      return {
        status: opts.loadStatus ?? 200,
        body: opts.loadBody ?? `Success: LoRA adapter '${b.lora_name ?? ''}' added successfully.`,
      };
    });
    fake.route('POST', '/v1/unload_lora_adapter', (body, req) => {
      calls.push({ path: 'unload', body: body as LoraCall['body'], filesAtCall: [], auth: req.headers.authorization });
      return { status: 200, body: 'Success' };
    });
  }
  return { fake, calls };
}

async function setup(
  fake: FakeOpenAI,
  inference: Partial<Extract<ProfileInput['inference'], { kind: 'endpoint' }>> = {},
  opts: { lora?: 'peft' | 'full' } = {},
) {
  const loraDir = await tempDir('lora');
  const downloads: string[] = [];
  const src = await tempDir('dl');
  const dir =
    opts.lora === 'full'
      ? await writeFull(src)
      : await writeLora(src, 'org/base-model', { 'adapter_model.bin': 'pickle copy' });
  const launcher = createInferenceLauncher({
    redis,
    prefix: uniquePrefix('ep'),
    secrets: { INFERENCE_API_KEY: 'inference-key-123456' },
    gpuIds: [],
    workDir: await tempDir('work'),
  });
  const { lines, log } = collectLog();
  const evaluationId = 'ev-0123456789abcdef01234567';
  const req: LaunchRequest = {
    evaluationId,
    profile: profile({ kind: 'endpoint', baseURL: fake.url, loraDir, ...inference }),
    artifact: artifact(
      opts.lora === 'full'
        ? {
            files: [
              { path: 'config.json', size: 1 },
              { path: 'model.safetensors', size: 1 },
            ],
          }
        : {},
    ),
    download: async () => {
      downloads.push(dir);
      return dir;
    },
    signal: new AbortController().signal,
    log,
  };
  return { launcher, req, loraDir, lines, downloads, name: servedNameFor(evaluationId) };
}

describe('endpoint launcher', () => {
  it('loads a LoRA artifact under a name unique to the evaluation, then unloads it and deletes the copy', async () => {
    const { fake, calls } = await fakeVllm();
    const s = await setup(fake);
    const served = await s.launcher.launch(s.req);
    expect(served.model).toBe(s.name);
    expect(served.model).not.toContain('my-lora'); // derived from the evaluation id, not the artifact name
    expect(calls).toEqual([
      {
        path: 'load',
        body: { lora_name: s.name, lora_path: join(s.loraDir, s.name) },
        filesAtCall: ['adapter_config.json', 'adapter_model.safetensors'], // the pickle is not copied
        auth: 'Bearer inference-key-123456',
      },
    ]);
    expect(served.describe).toMatchObject({
      kind: 'endpoint',
      lora: 'runtime',
      model: s.name,
      baseModel: 'org/base-model',
    });

    // The candidate is then called by the adapter's name.
    const res = await fetch(`${served.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${served.apiKey ?? ''}` },
      body: JSON.stringify({ model: served.model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(fake.requests[0]?.body.model).toBe(s.name);

    await served.release();
    await served.release(); // idempotent: one unload
    expect(calls.slice(1)).toEqual([
      { path: 'unload', body: { lora_name: s.name }, filesAtCall: [], auth: 'Bearer inference-key-123456' },
    ]);
    expect(readdirSync(s.loraDir)).toEqual([]);
  });

  it('treats "already loaded" (a retry of the same evaluation) as loaded', async () => {
    const { fake } = await fakeVllm({
      loadStatus: 400,
      loadBody: { object: 'error', message: "The lora adapter 'x' has already been loaded.", code: 400 },
    });
    const s = await setup(fake);
    expect((await s.launcher.launch(s.req)).model).toBe(s.name);
  });

  it('fails clearly, without retry, when the server has no runtime LoRA loading and no model is named', async () => {
    const { fake } = await fakeVllm({ noLoraRoutes: true });
    const s = await setup(fake);
    const err = await s.launcher.launch(s.req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toContain('VLLM_ALLOW_RUNTIME_LORA_UPDATING=True');
    expect(readdirSync(s.loraDir)).toEqual([]);
  });

  it("does not fall back to the profile's model by default: final, with the reason and the fix", async () => {
    const { fake } = await fakeVllm({ noLoraRoutes: true });
    const s = await setup(fake, { model: 'served-model' });
    const err = await s.launcher.launch(s.req).catch((e: unknown) => e);
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/no runtime LoRA loading.*inference\.fallbackToModel: true/);
  });

  it("falls back to the profile's model when runtime LoRA is unsupported and inference.fallbackToModel is set", async () => {
    const { fake } = await fakeVllm({ noLoraRoutes: true });
    const s = await setup(fake, { model: 'served-model', fallbackToModel: true });
    const served = await s.launcher.launch(s.req);
    expect(served.model).toBe('served-model');
    expect(served.fallback).toEqual({
      evaluatedModel: 'served-model',
      reason: expect.stringContaining('no runtime LoRA loading'),
    });
    expect(s.lines.some((l) => l.includes('evaluating the configured model served-model'))).toBe(true);
    expect(served.describe.artifactNotLoaded).toContain('no runtime LoRA loading');
  });

  it("passes vLLM's refusal on as the reason", async () => {
    const { fake } = await fakeVllm({
      loadStatus: 400,
      loadBody: { object: 'error', message: 'LoRA rank 64 is greater than max_lora_rank 16.' },
    });
    const s = await setup(fake);
    const err = await s.launcher.launch(s.req).catch((e: unknown) => e);
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toContain('max_lora_rank 16');
    expect(readdirSync(s.loraDir)).toEqual([]);
  });

  it('says the server cannot read the adapter when vLLM finds no adapter at the path', async () => {
    const name = servedNameFor('ev-0123456789abcdef01234567');
    const { fake } = await fakeVllm({
      loadStatus: 404,
      loadBody: {
        error: {
          message: `Loading lora ${name} failed: No adapter found for /lora/${name}`,
          type: 'NotFoundError',
          code: 404,
        },
      },
    });
    const s = await setup(fake, { model: 'served-model' });
    const err = await s.launcher.launch(s.req).catch((e: unknown) => e);
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toContain('the server must be able to read that path');
  });

  it('uses the configured model, or the first served one, when the artifact is not loaded at runtime', async () => {
    const { fake, calls } = await fakeVllm();
    const never = await setup(fake, { lora: 'never' });
    expect((await never.launcher.launch(never.req)).model).toBe('org/base-model');
    const named = await setup(fake, { lora: 'never', model: 'x' });
    expect((await named.launcher.launch(named.req)).model).toBe('x');
    const offline = await setup(fake);
    offline.req.artifact.files = []; // offline mode: no manifest
    expect((await offline.launcher.launch(offline.req)).model).toBe('org/base-model');
    expect(calls).toEqual([]);
    expect([...never.downloads, ...named.downloads, ...offline.downloads]).toEqual([]);
  });

  it('refuses a full model artifact unless the profile opts in to the fallback', async () => {
    const { fake } = await fakeVllm();
    const s = await setup(fake, { model: 'org/base-model' }, { lora: 'full' });
    await expect(s.launcher.launch(s.req)).rejects.toThrow(
      /full model; a running endpoint can only load LoRA adapters/,
    );
    const opted = await setup(fake, { model: 'org/base-model', fallbackToModel: true }, { lora: 'full' });
    expect((await opted.launcher.launch(opted.req)).fallback?.evaluatedModel).toBe('org/base-model');
    expect(opted.downloads).toEqual([]); // nothing of a model that is not served is downloaded
  });
});
