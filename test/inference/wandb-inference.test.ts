/** kind=wandb-inference: the model id and headers W&B Serverless LoRA expects, checked on the wire. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceLauncher, InferenceError } from '../../src/inference/index.js';
import type { LaunchRequest } from '../../src/ports.js';
import { startFakeOpenAI } from '../fakes/openai-server.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { artifact, collectLog, profile, tempDir, writeLora } from './helpers.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  await redis.quit();
});

const WANDB_KEY = 'wandb-api-key-0123456789abcdef';

function request(baseURL: string, over: Partial<LaunchRequest> = {}): LaunchRequest {
  return {
    evaluationId: 'ev-1',
    profile: profile({ kind: 'wandb-inference', baseURL }),
    artifact: artifact({
      entity: 'acme',
      project: 'llm',
      collection: 'my-lora',
      version: 'v3',
      type: 'lora',
      metadata: { 'wandb.base_model': 'OpenPipe/Qwen3-14B-Instruct' },
    }),
    download: (files) => {
      // Only adapter_config.json, for the rank: the adapter itself is read by W&B, not by us.
      if (files?.join() !== 'adapter_config.json')
        return Promise.reject(
          new Error(`wandb-inference must download only adapter_config.json, asked for ${String(files)}`),
        );
      return tempDir('wi').then((d) => writeLora(d, null));
    },
    signal: new AbortController().signal,
    log: collectLog().log,
    ...over,
  };
}

/** A launcher with the W&B key and no GPUs or work dir: wandb-inference needs neither. */
const wandbLauncher = () =>
  createInferenceLauncher({
    redis,
    prefix: uniquePrefix('wi'),
    secrets: {},
    wandbApiKey: WANDB_KEY,
    gpuIds: [],
    workDir: '/nonexistent',
  });

describe('wandb-inference launcher', () => {
  it('addresses the artifact version with the W&B key and OpenAI-Project header', async () => {
    const fake = await startFakeOpenAI({ apiKey: WANDB_KEY });
    try {
      const launcher = wandbLauncher();
      const served = await launcher.launch(request(fake.url));
      expect(served.baseURL).toBe(fake.url);
      expect(served.model).toBe('wandb-artifact:///acme/llm/my-lora:v3');
      expect(served.describe).toEqual({
        kind: 'wandb-inference',
        baseURL: fake.url,
        model: served.model,
        baseModel: 'OpenPipe/Qwen3-14B-Instruct',
      });
      expect(JSON.stringify(served.describe)).not.toContain(WANDB_KEY);

      // One chat call made the way the pipeline makes it: bearer key plus the returned headers.
      const res = await fetch(`${served.baseURL}/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${served.apiKey ?? ''}`,
          ...served.headers,
        },
        body: JSON.stringify({ model: served.model, messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.status).toBe(200);
      const got = fake.requests[0];
      expect(got?.body.model).toBe('wandb-artifact:///acme/llm/my-lora:v3');
      expect(got?.headers['openai-project']).toBe('acme/llm');
      expect(got?.headers.authorization).toBe(`Bearer ${WANDB_KEY}`);
      await served.release();
    } finally {
      await fake.close();
    }
  });

  it('defaults to the public W&B Inference base URL', async () => {
    const launcher = wandbLauncher();
    const req = request('http://unused');
    req.profile = profile({ kind: 'wandb-inference' });
    expect((await launcher.launch(req)).baseURL).toBe('https://api.inference.wandb.ai/v1');
  });

  it('fails without retry when there is no W&B key, or the artifact is not a LoRA adapter', async () => {
    const noKey = createInferenceLauncher({
      redis,
      prefix: uniquePrefix('wi'),
      secrets: {},
      gpuIds: [],
      workDir: '/nonexistent',
    });
    const err = await noKey.launch(request('http://x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toContain('WANDB_API_KEY');

    const launcher = wandbLauncher();
    const full = request('http://x', {
      artifact: artifact({
        files: [
          { path: 'config.json', size: 1 },
          { path: 'model.safetensors', size: 1 },
        ],
      }),
    });
    await expect(launcher.launch(full)).rejects.toThrow(/LoRA adapters only/);
    const pickle = request('http://x', {
      artifact: artifact({ files: [{ path: 'adapter_checkpoint_0.pt', size: 1 }] }),
    });
    await expect(launcher.launch(pickle)).rejects.toThrow(
      /holds a torch \.pt adapter, and W&B Serverless LoRA loads only PEFT folders logged as type "lora"/,
    );
    const bin = request('http://x', { artifact: artifact({ files: [{ path: 'adapter_model.bin', size: 1 }] }) });
    await expect(launcher.launch(bin)).rejects.toThrow(/Found: adapter_model\.bin/);
  });

  it('checks W&B Serverless LoRA prerequisites before any call: type lora, wandb.base_model naming a supported base, rank limit', async () => {
    const fake = await startFakeOpenAI({ apiKey: WANDB_KEY });
    try {
      const launcher = wandbLauncher();
      const base = request(fake.url).artifact;
      const refuse = async (over: Partial<LaunchRequest>, pattern: RegExp) => {
        const err = await launcher.launch(request(fake.url, over)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InferenceError);
        expect((err as InferenceError).retryable).toBe(false);
        expect((err as Error).message).toMatch(pattern);
      };
      await refuse({ artifact: { ...base, type: 'model' } }, /type "lora".*wandb\.base_model/);
      // `base_model` is not the key W&B reads.
      await refuse(
        { artifact: { ...base, metadata: { base_model: 'OpenPipe/Qwen3-14B-Instruct' } } },
        /no metadata "wandb\.base_model".*meta-llama\/Llama-3\.1-8B-Instruct/,
      );
      await refuse(
        { artifact: { ...base, metadata: { 'wandb.base_model': 'mistralai/Mistral-7B-Instruct-v0.3' } } },
        /not a base W&B Serverless LoRA serves/,
      );
      const rank32 = async () => {
        const d = await writeLora(await tempDir('wi'), null);
        const { writeFile } = await import('node:fs/promises');
        await writeFile(
          `${d}/adapter_config.json`,
          JSON.stringify({ peft_type: 'LORA', r: 32, lora_alpha: 16, target_modules: ['q_proj'] }),
        );
        return d;
      };
      await refuse({ download: rank32 }, /LoRA rank is 32, above W&B Serverless LoRA's limit 16/);
      // The operator's pin wins over the metadata.
      await refuse(
        {
          profile: profile({
            kind: 'wandb-inference',
            baseURL: fake.url,
            baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
          }),
        },
        /base model mismatch: .*names OpenPipe\/Qwen3-14B-Instruct/,
      );
      expect(fake.requests).toHaveLength(0); // nothing reached W&B
    } finally {
      await fake.close();
    }
  });
});
