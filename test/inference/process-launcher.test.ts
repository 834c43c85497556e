/**
 * kind=process against a real child process (the fake model server) and a real Redis GPU pool:
 * readiness, timeouts, crashes, stubborn processes, cancel, shutdown; after each, no process of the
 * evaluation is left and every GPU is back in the pool.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceLauncher, InferenceError } from '../../src/inference/index.js';
import { createGpuPool } from '../../src/inference/gpu-pool.js';
import { servedNameFor } from '../../src/inference/safe-values.js';
import type { LaunchRequest, ServedModel } from '../../src/ports.js';
import { CHILD_ENV_ALLOWED } from '../../src/secrets.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import {
  artifact,
  collectLog,
  fakeAdapterCommand,
  fakeCommand,
  groupAlive,
  pidAlive,
  profile,
  tempDir,
  waitFor,
  writeFull,
  writeLora,
} from './helpers.js';

const GPUS = ['0', '1', '2', '3'];
let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  await redis.quit();
});

interface Recorded {
  pid: number;
  argv: string[];
  cudaVisibleDevices: string | null;
  childPid: number | null;
  envKeys: string[];
}

async function setup(
  opts: {
    flags?: string[];
    readyTimeoutSec?: number;
    gpus?: number;
    lora?: boolean;
    downloads?: Array<readonly string[] | undefined>;
  } = {},
) {
  const prefix = uniquePrefix('inf');
  const cache = await tempDir('cache');
  const work = await tempDir('work');
  const recordFile = join(work, 'record.json');
  const modelDir = opts.lora
    ? await writeLora(join(cache, 'digest-1'), 'org/base-model')
    : await writeFull(join(cache, 'digest-1'));
  const launcher = createInferenceLauncher({
    redis,
    prefix,
    secrets: { JUDGE_API_KEY: 'judge-secret-value-123' },
    gpuIds: GPUS,
    workDir: work,
    cacheRoot: cache,
    killGraceMs: 700,
    pollMs: 100,
    env: {
      ...process.env,
      JUDGE_API_KEY: 'judge-secret-value-123',
      WANDB_API_KEY: 'wandb-secret-value-456',
      REDIS_URL: 'redis://:redis-password@10.0.0.1:6379',
      AWS_SECRET_ACCESS_KEY: 'cloud-secret-789',
      HF_HOME: '/models/hf',
      HF_TOKEN: 'hf_token_value',
      VLLM_ALLOW_RUNTIME_LORA_UPDATING: 'True',
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      NVIDIA_DRIVER_CAPABILITIES: 'compute',
    },
  });
  launchers.push(launcher);
  const pool = createGpuPool({ redis, prefix, ids: GPUS });
  const { lines, log } = collectLog();
  const controller = new AbortController();
  const evaluationId = `ev-${prefix}`;
  const req: LaunchRequest = {
    evaluationId,
    profile: profile({
      kind: 'process',
      command: fakeCommand('--record', recordFile, ...(opts.flags ?? [])),
      gpus: opts.gpus ?? 1,
      readyTimeoutSec: opts.readyTimeoutSec ?? 20,
    }),
    artifact: artifact(),
    download: async (files) => {
      opts.downloads?.push(files);
      return modelDir;
    },
    signal: controller.signal,
    log,
  };
  const recorded = (): Recorded => JSON.parse(readFileSync(recordFile, 'utf8')) as Recorded;
  const freeGpus = async () => Object.values(await pool.holders()).filter((h) => h === null).length;
  return { launcher, req, lines, controller, recorded, recordFile, freeGpus, pool, evaluationId, modelDir, cache };
}

const launchers: Array<{ shutdownAll(): Promise<void> }> = [];
afterEach(async () => {
  // Belt and braces: a failing test must not leave servers behind for the next one.
  await Promise.all(launchers.splice(0).map((l) => l.shutdownAll()));
});

async function chat(served: ServedModel): Promise<Response> {
  return fetch(`${served.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: served.model, messages: [{ role: 'user', content: 'hi' }] }),
  });
}

async function expectGone(pid: number): Promise<void> {
  await waitFor(() => !groupAlive(pid) && !pidAlive(pid), `process ${pid} to be gone`);
}

describe('process launcher', () => {
  it('waits for a slow server, serves it on a leased GPU, and cleans up on release', async () => {
    const s = await setup({ flags: ['--ready-delay-ms', '1500'] });
    const served = await s.launcher.launch(s.req);
    const rec = s.recorded();
    expect(served.model).toBe(servedNameFor(s.evaluationId));
    expect(GPUS).toContain(rec.cudaVisibleDevices);
    expect(s.lines).toContain('fake-server: ready');
    expect(await s.freeGpus()).toBe(3);
    const res = await chat(served);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model: string }).model).toBe(served.model);
    // evalhook's own secrets never reach the server's environment.
    expect(rec.envKeys).not.toContain('JUDGE_API_KEY');
    expect(rec.envKeys).not.toContain('WANDB_API_KEY');
    expect(served.describe).toMatchObject({
      kind: 'process',
      artifactKind: 'full',
      gpuIds: [rec.cudaVisibleDevices],
      model: served.model,
    });

    await served.release();
    await served.release(); // idempotent
    await expectGone(rec.pid);
    expect(await s.freeGpus()).toBe(4);
  });

  it('kills the server and frees its GPUs when it is not ready in time', async () => {
    const s = await setup({ flags: ['--ready-delay-ms', '600000', '--log-lines', '3'], readyTimeoutSec: 4 });
    const err = await s.launcher.launch(s.req).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).retryable).toBe(true);
    expect((err as Error).message).toContain('not ready within 4 s');
    expect((err as Error).message).toContain('fake-server: boot line 3');
    await expectGone(s.recorded().pid);
    expect(await s.freeGpus()).toBe(4);
  });

  it('fails with the last log lines when the server crashes before it is ready', async () => {
    const s = await setup({ flags: ['--exit-before-ready', '1', '--log-lines', '2'] });
    const err = await s.launcher.launch(s.req).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as Error).message).toMatch(/exited with code 1 before it was ready/);
    expect((err as Error).message).toContain('CUDA out of memory (simulated)');
    expect((err as Error).message).toContain('fake-server: boot line 2');
    await expectGone(s.recorded().pid);
    expect(await s.freeGpus()).toBe(4);
  });

  it('reports a crash mid-run through `exited`, with the last log lines, and frees everything', async () => {
    const s = await setup({ flags: ['--crash-after', '2'], gpus: 2 });
    const served = await s.launcher.launch(s.req);
    const pid = s.recorded().pid;
    expect(await s.freeGpus()).toBe(2);
    expect((await chat(served)).status).toBe(200);
    await expect(chat(served)).rejects.toThrow(); // the server dies while answering
    const reason = await served.exited;
    expect(reason).toMatch(/exited with code 3 during the evaluation/);
    expect(reason).toContain('FATAL engine died after 2 requests');
    expect(reason).toContain('fake-server: chat request 2');
    await expectGone(pid);
    expect(await s.freeGpus()).toBe(4);
    await served.release();
  });

  it('SIGKILLs a server (and its children) that ignores SIGTERM', async () => {
    const s = await setup({ flags: ['--ignore-sigterm', '--spawn-child'] });
    const served = await s.launcher.launch(s.req);
    const rec = s.recorded();
    expect(rec.childPid).not.toBeNull();
    expect(pidAlive(rec.childPid ?? 0)).toBe(true);
    const started = Date.now();
    await served.release();
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
    expect(s.lines).toContain('fake-server: got SIGTERM, ignoring it');
    expect(s.lines.some((l) => l.includes('SIGKILL to process group'))).toBe(true);
    await expectGone(rec.pid);
    await waitFor(() => !pidAlive(rec.childPid ?? 0), 'the grandchild to be gone');
    expect(await s.freeGpus()).toBe(4);
  });

  it('stops the server when the evaluation is cancelled mid-run', async () => {
    const s = await setup({ flags: ['--spawn-child'] });
    const served = await s.launcher.launch(s.req);
    const rec = s.recorded();
    s.controller.abort(new Error('cancelled by an operator'));
    await expectGone(rec.pid);
    await waitFor(() => !pidAlive(rec.childPid ?? 0), 'the grandchild to be gone');
    await waitFor(async () => (await s.freeGpus()) === 4, 'the GPU lease to be released');
    await served.release();
  });

  it('stops a starting server when cancelled before it is ready, rejecting with the cancel reason', async () => {
    const s = await setup({ flags: ['--ready-delay-ms', '600000'] });
    const launching = s.launcher.launch(s.req).then(
      () => undefined,
      (e: unknown) => e,
    );
    await waitFor(() => existsSync(s.recordFile) && s.lines.length > 0, 'the server to start');
    const pid = s.recorded().pid;
    s.controller.abort(new Error('cancelled by an operator'));
    expect(((await launching) as Error).message).toBe('cancelled by an operator');
    await expectGone(pid);
    expect(await s.freeGpus()).toBe(4);
  });

  it('shutdownAll stops every server of the worker', async () => {
    const a = await setup();
    const served = await a.launcher.launch(a.req);
    const pid = a.recorded().pid;
    await a.launcher.shutdownAll();
    await expectGone(pid);
    expect(await a.freeGpus()).toBe(4);
    await served.release();
  });

  it('fails without retry when the command cannot be started, without keeping a GPU', async () => {
    const s = await setup();
    s.req.profile.inference = {
      ...s.req.profile.inference,
      kind: 'process',
      command: ['/nonexistent/vllm', 'serve', '{modelDir}', '--port', '{port}'],
      gpus: 1,
    } as typeof s.req.profile.inference;
    const err = await s.launcher.launch(s.req).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toContain('ENOENT');
    expect(await s.freeGpus()).toBe(4);
  });

  it('refuses a command that does not take {port}, before anything starts', async () => {
    const s = await setup();
    s.req.profile.inference = {
      ...s.req.profile.inference,
      kind: 'process',
      command: ['vllm', 'serve', '{modelDir}'],
      gpus: 1,
    } as typeof s.req.profile.inference;
    await expect(s.launcher.launch(s.req)).rejects.toThrow(/must pass \{port\}/);
    expect(await s.freeGpus()).toBe(4);
  });

  it('refuses a torchtune adapter without a base model before leasing a GPU or starting anything', async () => {
    const s = await setup();
    const dir = await writeLora(join(s.cache, 'digest-2', 'epoch_0'));
    s.req.download = async () => dir;
    s.req.profile.inference = {
      ...s.req.profile.inference,
      kind: 'process',
      command: fakeCommand('--record', s.recordFile, '--base', '{baseModel}', '--lora', '{adapterDir}'),
      gpus: 1,
    } as typeof s.req.profile.inference;
    const err = await s.launcher.launch(s.req).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toContain('inference.baseModel');
    expect(existsSync(s.recordFile)).toBe(false);
    expect(await s.freeGpus()).toBe(4);
  });

  it('passes the base model and adapter directory of a LoRA artifact', async () => {
    const s = await setup({ lora: true });
    s.req.profile.inference = {
      ...s.req.profile.inference,
      kind: 'process',
      command: fakeCommand('--record', s.recordFile, '--base', '{baseModel}', '--lora-modules', '{name}={adapterDir}'),
    } as typeof s.req.profile.inference;
    const served = await s.launcher.launch(s.req);
    const argv = s.recorded().argv;
    expect(argv).toContain('org/base-model');
    expect(argv).toContain(`${served.model}=${s.modelDir}`);
    expect(served.describe).toMatchObject({ baseModel: 'org/base-model', baseModelSource: 'adapter_config.json' });
    await served.release();
    expect(await s.freeGpus()).toBe(4);
  });

  it('gives the server only the allow-listed environment plus the names in inference.env, never --trust-remote-code', async () => {
    const s = await setup({ lora: true });
    s.req.profile.inference = {
      ...s.req.profile.inference,
      kind: 'process',
      command: fakeCommand('--record', s.recordFile, '--lora-modules', '{name}={adapterDir}'),
      env: ['HF_TOKEN'],
    } as typeof s.req.profile.inference;
    const served = await s.launcher.launch(s.req);
    const rec = s.recorded();
    for (const kept of [
      'PATH',
      'HF_HOME',
      'HF_TOKEN',
      'VLLM_ALLOW_RUNTIME_LORA_UPDATING',
      'CUDA_DEVICE_ORDER',
      'NVIDIA_DRIVER_CAPABILITIES',
      'CUDA_VISIBLE_DEVICES',
    ])
      expect(rec.envKeys).toContain(kept);
    for (const dropped of ['REDIS_URL', 'AWS_SECRET_ACCESS_KEY', 'JUDGE_API_KEY', 'WANDB_API_KEY'])
      expect(rec.envKeys).not.toContain(dropped);
    // The rule production applies (src/secrets.ts), not a copy: every key is allow-listed or named in inference.env.
    for (const k of rec.envKeys) expect(CHILD_ENV_ALLOWED.test(k) || k === 'HF_TOKEN', k).toBe(true);
    expect(rec.cudaVisibleDevices).toMatch(/^\d$/);
    expect(rec.argv).not.toContain('--trust-remote-code');
    await served.release();
  });

  it("the operator's base model wins over the adapter's: a renamed repo is the same model, a different base fails before any GPU is used", async () => {
    const s = await setup({ lora: true });
    await writeLora(s.modelDir, 'meta-llama/Meta-Llama-3.1-8B-Instruct');
    const command = fakeCommand(
      '--record',
      s.recordFile,
      '--base',
      '{baseModel}',
      '--lora-modules',
      '{name}={adapterDir}',
    );
    s.req.profile.inference = {
      ...s.req.profile.inference,
      kind: 'process',
      command,
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
    } as typeof s.req.profile.inference;
    const served = await s.launcher.launch(s.req);
    expect(s.recorded().argv).toContain('meta-llama/Llama-3.1-8B-Instruct');
    expect(served.describe).toMatchObject({
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
      baseModelSource: 'profile inference.baseModel',
    });
    await served.release();

    const t = await setup({ lora: true });
    await writeLora(t.modelDir, 'meta-llama/Llama-3.1-8B'); // trained on the base, not -Instruct
    t.req.profile.inference = {
      ...t.req.profile.inference,
      kind: 'process',
      command: fakeCommand('--record', t.recordFile, '--base', '{baseModel}', '--lora-modules', '{name}={adapterDir}'),
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
    } as typeof t.req.profile.inference;
    const err = await t.launcher.launch(t.req).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as InferenceError).retryable).toBe(false);
    expect((err as Error).message).toMatch(
      /base model mismatch: adapter_config\.json names meta-llama\/Llama-3\.1-8B, but .* is meta-llama\/Llama-3\.1-8B-Instruct/,
    );
    expect(existsSync(t.recordFile)).toBe(false);
    expect(await t.freeGpus()).toBe(4);
  });

  it("refuses an adapter above the command's --max-lora-rank, or one vLLM cannot serve, once and before any GPU is used", async () => {
    const { writeFile } = await import('node:fs/promises');
    const cases: Array<[Record<string, unknown>, string[], RegExp]> = [
      [
        { r: 32 },
        ['--max-lora-rank', '16'],
        /LoRA rank is 32, above the server's max LoRA rank 16: set --max-lora-rank in inference.command to at least 32/,
      ],
      [{ r: 32 }, [], /max LoRA rank 16: set inference.maxLoraRank/], // vLLM's default when the flag is absent
      [{ r: 8, modules_to_save: ['lm_head'] }, ['--max-lora-rank=64'], /modules_to_save \["lm_head"\]/],
      [{ r: 8, use_dora: true }, [], /use_dora: true/],
      [{ r: 8, bias: 'all' }, [], /bias "all"/],
    ];
    for (const [extra, flags, pattern] of cases) {
      const s = await setup({ lora: true });
      await writeFile(
        join(s.modelDir, 'adapter_config.json'),
        JSON.stringify({
          peft_type: 'LORA',
          lora_alpha: 16,
          target_modules: ['q_proj'],
          base_model_name_or_path: 'org/base-model',
          ...extra,
        }),
      );
      s.req.profile.inference = {
        ...s.req.profile.inference,
        kind: 'process',
        command: fakeCommand('--record', s.recordFile, '--lora-modules', '{name}={adapterDir}', ...flags),
      } as typeof s.req.profile.inference;
      const err = await s.launcher.launch(s.req).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as InferenceError).retryable).toBe(false);
      expect((err as Error).message).toMatch(pattern);
      expect(existsSync(s.recordFile)).toBe(false);
      expect(await s.freeGpus()).toBe(4);
    }
  });

  it('downloads only the adapter when the command takes {adapterDir}, everything when it takes {modelDir}', async () => {
    const downloads: Array<readonly string[] | undefined> = [];
    const s = await setup({ lora: true, downloads });
    s.req.artifact.files = [
      'adapter_config.json',
      'adapter_model.safetensors',
      'tokenizer.json',
      'config.json',
      'model-00001-of-00004.safetensors',
      'recipe_state.pt',
    ].map((path) => ({ path, size: 1 }));
    const adapterOnly = fakeAdapterCommand('--record', s.recordFile, '--lora-modules', '{name}={adapterDir}');
    s.req.profile.inference = {
      ...s.req.profile.inference,
      kind: 'process',
      command: adapterOnly,
    } as typeof s.req.profile.inference;
    await (await s.launcher.launch(s.req)).release();
    expect(downloads).toEqual([['adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json']]);
    downloads.length = 0;
    s.req.profile.inference = {
      ...s.req.profile.inference,
      kind: 'process',
      command: fakeCommand('--record', s.recordFile),
    } as typeof s.req.profile.inference;
    await (await s.launcher.launch(s.req)).release();
    expect(downloads).toEqual([undefined]);
  });
});
