/**
 * kind=endpoint against the vLLM fake (test/fakes/vllm-server.ts), which answers load/unload/models
 * as vLLM's serving_models.py does: the served base is compared with the adapter's (point 4),
 * adapters vLLM can never load fail once (point 5), a restarted server's forgotten adapter is
 * reloaded (point 6), and only the adapter's files are downloaded (point 7).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EndpointError } from '../../src/eval/errors.js';
import { createInferenceLauncher, InferenceError } from '../../src/inference/index.js';
import { withAdapterReload } from '../../src/jobs/adapter-reload.js';
import { createOpenAIChatClient } from '../../src/llm/openai-chat.js';
import type { LaunchRequest } from '../../src/ports.js';
import type { ProfileInput } from '../../src/profile.js';
import { startFakeVllm, type FakeVllm, type FakeVllmOptions } from '../fakes/vllm-server.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { artifact, collectLog, profile, tempDir, writeLora } from './helpers.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  await redis.quit();
});
const fakes: FakeVllm[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

const INSTRUCT = 'meta-llama/Llama-3.1-8B-Instruct';

async function vllm(opts: FakeVllmOptions = {}): Promise<FakeVllm> {
  const v = await startFakeVllm({ model: INSTRUCT, ...opts });
  fakes.push(v);
  return v;
}

type EndpointInput = Partial<Extract<ProfileInput['inference'], { kind: 'endpoint' }>>;

async function setup(
  v: FakeVllm,
  inference: EndpointInput = {},
  adapter: { base?: string | null; config?: Record<string, unknown> } = {},
) {
  const src = await tempDir('dl');
  await writeLora(src, adapter.base === undefined ? 'meta-llama/Meta-Llama-3.1-8B-Instruct' : adapter.base);
  if (adapter.config)
    await writeFile(
      join(src, 'adapter_config.json'),
      JSON.stringify({ peft_type: 'LORA', lora_alpha: 16, target_modules: ['q_proj'], ...adapter.config }),
    );
  const downloads: Array<readonly string[] | undefined> = [];
  const launcher = createInferenceLauncher({
    redis,
    prefix: uniquePrefix('ev'),
    secrets: {},
    gpuIds: [],
    workDir: await tempDir('work'),
  });
  const { lines, log } = collectLog();
  const req: LaunchRequest = {
    evaluationId: 'ev-00aa11bb22cc33dd44ee55ff',
    profile: profile({ kind: 'endpoint', baseURL: v.url, loraDir: await tempDir('lora'), ...inference }),
    // torchtune's default output: merged full weights next to the adapter.
    artifact: artifact({
      files: [
        'adapter_config.json',
        'adapter_model.safetensors',
        'adapter_model.pt',
        'config.json',
        'model-00001-of-00004.safetensors',
        'model.safetensors.index.json',
        'tokenizer.json',
        'tokenizer_config.json',
        'original/tokenizer.model',
      ].map((path) => ({ path, size: 1 })),
    }),
    download: async (files) => {
      downloads.push(files);
      return src;
    },
    signal: new AbortController().signal,
    log,
  };
  return { launcher, req, lines, downloads };
}

async function refusal(s: Awaited<ReturnType<typeof setup>>): Promise<InferenceError> {
  const err = await s.launcher.launch(s.req).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InferenceError);
  return err as InferenceError;
}

describe('endpoint launcher against the vLLM fake', () => {
  it('loads an adapter trained on the served base (renamed repo), downloading only the adapter and its tokenizer files', async () => {
    const v = await vllm();
    const s = await setup(v);
    const served = await s.launcher.launch(s.req);
    expect(s.downloads).toEqual([
      ['adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json', 'tokenizer_config.json'],
    ]);
    expect(v.adapters.get(served.model)).toBeDefined();
    expect(served.describe).toMatchObject({
      servedBaseModel: INSTRUCT,
      baseModel: 'meta-llama/Meta-Llama-3.1-8B-Instruct',
    });
    await served.release();
    expect(v.adapters.size).toBe(0);
    expect(v.unloads).toEqual([{ name: served.model, status: 200 }]);
  });

  it('refuses, without retry and without loading, an adapter trained on another base than the served one', async () => {
    const v = await vllm();
    const err = await refusal(await setup(v, {}, { base: 'meta-llama/Llama-3.1-8B' }));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(
      /trained on meta-llama\/Llama-3\.1-8B .* but the server runs meta-llama\/Llama-3\.1-8B-Instruct/,
    );
    expect(v.loads).toEqual([]);
    // The operator's pin is checked against the server too.
    const pinned = await refusal(await setup(v, { baseModel: 'Qwen/Qwen3-14B' }, { base: null }));
    expect(pinned.message).toMatch(/trained on Qwen\/Qwen3-14B \(profile inference.baseModel\)/);
  });

  it('checks rank, modules_to_save, DoRA and bias before loading, naming the value and the setting', async () => {
    const v = await vllm({ maxLoraRank: 64 });
    const rank = await refusal(await setup(v, {}, { config: { r: 32, base_model_name_or_path: INSTRUCT } }));
    expect(rank.retryable).toBe(false);
    expect(rank.message).toMatch(
      /LoRA rank is 32, above the server's max LoRA rank 16: set inference.maxLoraRank .* --max-lora-rank/,
    );
    const pattern = await refusal(
      await setup(v, { maxLoraRank: 16 }, { config: { r: 8, rank_pattern: { q_proj: 64 } } }),
    );
    expect(pattern.message).toMatch(/LoRA rank is 64/);
    for (const [cfg, text] of [
      [{ r: 8, modules_to_save: ['embed_tokens'] }, 'modules_to_save'],
      [{ r: 8, use_dora: true }, 'use_dora'],
      [{ r: 8, bias: 'lora_only' }, 'bias "lora_only"'],
    ] as const) {
      const err = await refusal(await setup(v, {}, { config: cfg }));
      expect(err.retryable).toBe(false);
      expect(err.message).toContain(text);
    }
    expect(v.loads).toEqual([]);
    // Within the limit, it loads.
    const ok = await setup(v, { maxLoraRank: 32 }, { config: { r: 32 } });
    await (await ok.launcher.launch(ok.req)).release();
    expect(v.loads.map((l) => l.status)).toEqual([200]);
  });

  it("treats vLLM's own rank refusal as final, on current (500) and older (400) versions; an unknown 500 stays retryable", async () => {
    for (const status of [500, 400] as const) {
      const v = await vllm({ maxLoraRank: 16, refusalStatus: status });
      // The profile claims 64; the server says otherwise.
      const err = await refusal(await setup(v, { maxLoraRank: 64 }, { config: { r: 32 } }));
      expect(err.retryable).toBe(false);
      expect(err.message).toContain(`(${status}): LoRA rank 32 is greater than max_lora_rank 16`);
      expect(v.loads).toEqual([expect.objectContaining({ status })]);
    }
    const v = await vllm();
    v.openai.route('POST', '/v1/load_lora_adapter', () => ({
      status: 500,
      body: { error: { message: 'engine core died', type: 'InternalServerError', param: null, code: 500 } },
    }));
    const err = await refusal(await setup(v));
    expect(err.retryable).toBe(true);
  });

  it('treats 400 "already loaded" as loaded and 404 "cannot be found" on unload as gone', async () => {
    const v = await vllm();
    const s = await setup(v);
    const first = await s.launcher.launch(s.req);
    const again = await s.launcher.launch(s.req); // a retry of the same evaluation
    expect(v.loads.map((l) => l.status)).toEqual([200, 400]);
    await first.release();
    await again.release();
    expect(v.unloads.map((u) => u.status)).toEqual([200, 404]);
  });

  it('reloads an adapter the server forgot on restart (at most 3 times); other 404s stay final', async () => {
    const v = await vllm();
    const s = await setup(v);
    const served = await s.launcher.launch(s.req);
    const logged: string[] = [];
    const client = withAdapterReload(
      createOpenAIChatClient({ baseURL: served.baseURL, apiKey: 'x', role: 'candidate' }),
      served,
      (l) => logged.push(l),
    );
    const ask = () =>
      client.complete({
        model: served.model,
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 0,
        max_tokens: 16,
      });

    for (let restart = 1; restart <= 3; restart++) {
      v.restart();
      expect((await ask()).content).toBe('echo: hi');
    }
    expect(v.loads.map((l) => l.status)).toEqual([200, 200, 200, 200]);
    expect(logged).toHaveLength(3);
    v.restart();
    const err = await ask().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EndpointError);
    expect((err as EndpointError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/does not exist.*reloaded 3 times/);

    // A 404 for some other model is not ours to fix.
    const other = await client
      .complete({ model: 'someone-else', messages: [{ role: 'user', content: 'hi' }], temperature: 0, max_tokens: 16 })
      .catch((e: unknown) => e);
    expect((other as EndpointError).kind).toBe('unrecoverable');
    expect(v.loads).toHaveLength(4);
    await served.release();
  });
});
