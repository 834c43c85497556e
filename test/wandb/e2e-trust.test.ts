/**
 * "Trust the score", end to end through the worker: fake W&B (registry, artifacts, runs), the vLLM
 * fake as the candidate endpoint, real Redis. What is evaluated is exactly the registered
 * checkpoint, only its adapter is downloaded, a fallback is never written back, a payload whose
 * name and id disagree is refused, and a vLLM restart mid-run is survived.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { startFakeWandb } from '../fakes/wandb-server.js';
import { redisUrl } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { e2eFixture, peftAdapter, schemaMissing, wandbEnv } from './helpers.js';

const ADAPTER = {
  ...peftAdapter(4096, 7, { base_model_name_or_path: 'meta-llama/Meta-Llama-3.1-8B-Instruct' }),
  'tokenizer.json': '{"version":"1.0"}',
};

function rulesFile(doc: unknown): string {
  const file = join(tempDir('rules'), 'rules.json');
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

describe.skipIf(schemaMissing)('trust the score: end to end (fake W&B, vLLM fake, real Redis)', () => {
  const e2e = e2eFixture();

  async function webhook(s: Stack, payload: Record<string, string>) {
    const app = buildApp({ config: s.config, service: s.service, logger: pino({ level: 'silent' }) });
    const res = await app.inject({
      method: 'POST',
      url: '/webhooks/wandb',
      headers: { authorization: `Bearer ${s.env.WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });
    return res;
  }

  it('point 7: a version whose artifact holds a 50 MB full-weight shard next to the adapter downloads only the adapter, and says how many bytes', async () => {
    e2e.wb = await startFakeWandb();
    // torchtune's default output_dir: merged weights (generated here, never committed) beside the adapter.
    const shard = Buffer.alloc(50 * 1024 * 1024, 3);
    const src = e2e.wb.seedArtifact({
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'llama-ft',
      files: {
        ...ADAPTER,
        'config.json': '{"architectures":["LlamaForCausalLM"]}',
        'model-00001-of-00001.safetensors': shard,
        'recipe_state.pt': 'pickle',
      },
      sourceRun: { name: 'train-1' },
    });
    const linked = e2e.wb.linkToRegistry(src, { collection: 'llama-ft' });
    e2e.stack = await startStack({
      redisUrl: redisUrl(),
      vllm: {},
      env: wandbEnv(e2e.wb, { INFERENCE_BASE_MODEL: 'meta-llama/Llama-3.1-8B-Instruct' }),
    });
    await e2e.stack.startWorker();
    const res = await webhook(e2e.stack, {
      event_type: 'LINK_ARTIFACT',
      artifact_version: linked.nodeId,
      artifact_version_string: linked.fullName,
    });
    expect(res.statusCode).toBe(202);
    const id = (res.json() as { evaluationId: string }).evaluationId;
    expect(await e2e.stack.finished(id)).toBe('completed');

    const adapterBytes = Object.values(ADAPTER).reduce((n, v) => n + Buffer.byteLength(v), 0);
    const fetched = e2e.wb.requests
      .filter((r) => r.path.startsWith('/storage/files/'))
      .map((r) => decodeURIComponent(r.path.split('/').pop() ?? ''));
    expect(fetched.sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json']);
    const view = await e2e.stack.service.get(id);
    expect(view?.bytesDownloaded).toBe(adapterBytes);
    expect(adapterBytes).toBeLessThan(shard.length / 1000);
    const run = e2e.wb.evalRuns()[0]!;
    expect(run.config.bytes_downloaded).toBe(adapterBytes);
    expect(run.config.inference).toMatchObject({
      lora: 'runtime',
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
      servedBaseModel: 'meta-llama/Llama-3.1-8B-Instruct',
    });
    expect(e2e.wb.artifact(src.id).metadata).toMatchObject({ mtbench: { score: 7 } });
  });

  it('point 1: by default an artifact the endpoint cannot serve fails at once with the fix; opted in, the configured model is evaluated, marked, and nothing is written back', async () => {
    e2e.wb = await startFakeWandb();
    const full = e2e.wb.seedArtifact({
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'llama-full',
      files: { 'config.json': '{}', 'model.safetensors': Buffer.alloc(256, 1) },
    });
    const linked = e2e.wb.linkToRegistry(full, { collection: 'llama-full' });
    const config = rulesFile({
      profiles: [
        {
          name: 'fallback',
          inference: { kind: 'endpoint', fallbackToModel: true },
          writeBack: { metadata: true, aliasOnPass: 'passed', tagOnPass: 'passed' },
        },
      ],
      rules: [],
    });
    e2e.stack = await startStack({
      redisUrl: redisUrl(),
      vllm: {},
      env: wandbEnv(e2e.wb, { EVALHOOK_CONFIG: config }),
    });
    await e2e.stack.startWorker();

    const strict = await e2e.stack.enqueue(linked.fullName, 'default');
    expect(await e2e.stack.finished(strict)).toBe('failed');
    const failed = await e2e.stack.service.get(strict);
    expect(failed?.attempts).toBe(1); // final: no retry can fix it
    expect(failed?.error?.reason).toMatch(/full model.*inference\.fallbackToModel: true/);
    expect(e2e.stack.candidate.requests).toHaveLength(0);

    const opted = await e2e.stack.enqueue(linked.fullName, 'fallback');
    expect(await e2e.stack.finished(opted)).toBe('completed');
    const view = await e2e.stack.service.get(opted);
    expect(view?.fallback).toEqual({
      evaluatedModel: 'candidate-model',
      reason: expect.stringContaining('full model'),
    });
    expect(view?.writeBack).toEqual([
      expect.stringMatching(
        /^nothing written back to .*llama-full:v0: the configured model candidate-model was evaluated instead/,
      ),
    ]);
    expect(view?.bytesDownloaded).toBe(0);
    const run = e2e.wb.evalRuns().find((r) => r.state === 'finished')!;
    expect(run.config.evaluated_model).toBe('candidate-model');
    expect(run.tags).toContain('fallback');
    expect(run.summary['mtbench/score']).toBe(7);
    // The score is the configured model's: not a word of it on the checkpoint.
    expect(e2e.wb.artifact(full.id).metadata).not.toHaveProperty('mtbench');
    expect(e2e.wb.artifact(full.id).tags).not.toContain('passed');
    expect(e2e.wb.aliasesOf(linked.fullName)).not.toContain('passed');
  });

  it('point 2: a delivery whose name matches a rule but whose id is another artifact fails before any inference, run or write-back', async () => {
    e2e.wb = await startFakeWandb();
    const routed = e2e.wb.seedArtifact({
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'llama-ft',
      files: ADAPTER,
    });
    const linked = e2e.wb.linkToRegistry(routed, { collection: 'llama-ft', aliases: ['candidate'] });
    const other = e2e.wb.seedArtifact({
      entity: 'acme-team',
      project: 'scratch',
      collection: 'someone-elses-model',
      files: ADAPTER,
    });
    const config = rulesFile({
      profiles: [],
      rules: [{ profile: 'default', registries: ['model'], collections: ['llama-*'] }],
    });
    e2e.stack = await startStack({
      redisUrl: redisUrl(),
      vllm: {},
      env: wandbEnv(e2e.wb, { EVALHOOK_CONFIG: config }),
    });
    await e2e.stack.startWorker();

    const res = await webhook(e2e.stack, {
      event_type: 'LINK_ARTIFACT',
      artifact_version: `wandb-artifact://_id/${other.id}`,
      artifact_version_string: linked.fullName,
    });
    expect(res.statusCode).toBe(202);
    const id = (res.json() as { evaluationId: string }).evaluationId;
    expect(await e2e.stack.finished(id)).toBe('failed');
    const view = await e2e.stack.service.get(id);
    expect(view?.attempts).toBe(1);
    expect(view?.error?.reason).toMatch(
      /^payload name and id disagree: the name .*llama-ft:v0 is .*, the id .* is another version; evaluating the id's version acme-team\/scratch\/someone-elses-model:v0 was not asked for/,
    );
    // By alias (which may legitimately have moved on), the id's version is held to the rule instead.
    const other2 = e2e.wb.seedArtifact({
      entity: 'acme-team',
      project: 'scratch',
      collection: 'another-model',
      files: ADAPTER,
    });
    const byAlias = await webhook(e2e.stack, {
      event_type: 'ADD_ARTIFACT_ALIAS',
      alias: 'candidate',
      artifact_version: `wandb-artifact://_id/${other2.id}`,
      artifact_version_string: linked.fullName.replace(/:v0$/, ':candidate'),
    });
    const aliasId = (byAlias.json() as { evaluationId: string }).evaluationId;
    expect(await e2e.stack.finished(aliasId)).toBe('failed');
    expect((await e2e.stack.service.get(aliasId))?.error?.reason).toMatch(
      /^payload name and id disagree: .* no rule routing to profile "default" matches it/,
    );
    expect(e2e.stack.candidate.requests).toHaveLength(0);
    expect(e2e.stack.vllm?.loads).toEqual([]);
    expect(e2e.wb.evalRuns()).toHaveLength(0);
    expect(e2e.wb.artifact(other.id).metadata).not.toHaveProperty('mtbench');
    expect(e2e.wb.requests.some((r) => r.path.startsWith('/storage/files/'))).toBe(false);

    // The same delivery with a matching id is evaluated.
    const ok = await webhook(e2e.stack, {
      event_type: 'LINK_ARTIFACT',
      artifact_version: linked.nodeId,
      artifact_version_string: linked.fullName,
    });
    const okId = (ok.json() as { evaluationId: string }).evaluationId;
    expect(await e2e.stack.finished(okId)).toBe('completed');
  });

  it('point 6: vLLM restarting mid-evaluation forgets the adapter; it is reloaded and the evaluation completes', async () => {
    e2e.wb = await startFakeWandb();
    const src = e2e.wb.seedArtifact({
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'llama-ft',
      files: ADAPTER,
    });
    const linked = e2e.wb.linkToRegistry(src, { collection: 'llama-ft' });
    e2e.stack = await startStack({ redisUrl: redisUrl(), vllm: {}, env: wandbEnv(e2e.wb) });
    const vllm = e2e.stack.vllm!;
    await e2e.stack.startWorker();
    const id = await e2e.stack.enqueue(linked.fullName);
    await e2e.stack.candidate.waitForRequests(40);
    vllm.restart();
    expect(await e2e.stack.finished(id)).toBe('completed');
    const view = await e2e.stack.service.get(id);
    expect(view?.attempts).toBe(1); // recovered inside the attempt, no job retry
    expect(view?.progress.answersDone).toBe(160);
    const statuses = vllm.loads.map((l) => l.status);
    expect(statuses.length).toBeGreaterThanOrEqual(2);
    expect(statuses.length).toBeLessThanOrEqual(4); // one load plus at most 3 reloads
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(e2e.wb.artifact(src.id).metadata).toMatchObject({ mtbench: { score: 7 } });
  });
});
