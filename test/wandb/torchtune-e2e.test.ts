/**
 * The torchtune workflow end to end through the worker: the registry version `adapter_checkpoint_2`
 * holds only `adapter_checkpoint_2.pt` (a real torch.save file), its creating run's W&B config is a
 * torchtune LoRA recipe. evalhook converts it to PEFT (values bit-identical to torch's conversion),
 * hot-loads it into a vLLM-like fake, evaluates it, and the W&B run records epoch 2. A second
 * profile on the same checkpoint reuses the conversion.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/checkpoint/index.js';
import { startFakeWandb } from '../fakes/wandb-server.js';
import { redisUrl } from '../helpers/redis.js';
import { startStack } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { expected, fixture, TINY_HEADS } from '../checkpoint/helpers.js';
import { e2eFixture, schemaMissing, wandbEnv } from './helpers.js';

/** What torchtune's WandBLogger logs: the resolved recipe YAML (a custom model builder here, hence profile heads). */
const RECIPE = {
  output_dir: '/tmp/torchtune/llama3_1_8B/lora',
  model: {
    _component_: 'my_models.tiny.lora_tiny_llama',
    lora_attn_modules: ['q_proj', 'k_proj', 'v_proj', 'output_proj'],
    apply_lora_to_mlp: false,
    apply_lora_to_output: false,
    lora_rank: 4,
    lora_alpha: 8,
    lora_dropout: 0.0,
  },
  checkpointer: {
    _component_: 'torchtune.training.FullModelHFCheckpointer',
    checkpoint_dir: '/tmp/Meta-Llama-3.1-8B-Instruct/',
    model_type: 'LLAMA3',
  },
  epochs: 4,
  seed: 42,
};

interface Loaded {
  name: string;
  config: Record<string, unknown>;
  weights: Awaited<ReturnType<typeof readSafetensors>>;
}

describe.skipIf(schemaMissing)(
  'torchtune .pt checkpoint -> converted, hot-loaded, evaluated (fake W&B, fake vLLM, real Redis)',
  () => {
    const e2e = e2eFixture();

    it('adapter_checkpoint_2.pt alone in the version: converted from the recipe config, loaded into vLLM, W&B run at epoch 2', async () => {
      e2e.wb = await startFakeWandb();
      const src = e2e.wb.seedArtifact({
        entity: 'acme-team',
        project: 'llama-lora',
        collection: 'adapter_checkpoint_2',
        files: { 'adapter_checkpoint_2.pt': readFileSync(fixture('adapter_checkpoint_2.pt')) },
        sourceRun: { name: 'tune-run-1', config: Object.fromEntries(Object.entries(RECIPE).map(([k, v]) => [k, v])) },
      });
      const linked = e2e.wb.linkToRegistry(src, { collection: 'meta-llama-Meta-Llama-3_1-8B-instruct-lora-adaptor' });

      const dir = await tempDir('tt-e2e');
      const loraDir = join(dir, 'lora');
      const rules = join(dir, 'rules.json');
      const lora = { heads: TINY_HEADS };
      writeFileSync(
        rules,
        JSON.stringify({
          profiles: [
            { name: 'tt-en', inference: { kind: 'endpoint', loraDir, lora } },
            { name: 'tt-ja', inference: { kind: 'endpoint', loraDir, lora }, wandb: { project: 'evals-ja' } },
          ],
          rules: [],
        }),
      );
      e2e.stack = await startStack({
        redisUrl: redisUrl(),
        env: wandbEnv(e2e.wb, { EVALHOOK_CONFIG: rules }),
      });

      // vLLM with runtime LoRA updating: reads the adapter at load time, as vLLM does, and answers
      // only for names it has loaded (plus the base), as vLLM's check_model does.
      const loaded: Loaded[] = [];
      const live = new Set<string>();
      e2e.stack.candidate.route('POST', '/v1/load_lora_adapter', async (body) => {
        const b = body as { lora_name: string; lora_path: string };
        if (!existsSync(join(b.lora_path, 'adapter_config.json')))
          return {
            status: 404,
            body: { error: { message: `Loading lora ${b.lora_name} failed: No adapter found for ${b.lora_path}` } },
          };
        loaded.push({
          name: b.lora_name,
          config: JSON.parse(readFileSync(join(b.lora_path, 'adapter_config.json'), 'utf8')) as Record<string, unknown>,
          weights: await readSafetensors(join(b.lora_path, 'adapter_model.safetensors')),
        });
        live.add(b.lora_name);
        return { status: 200, body: `Success: LoRA adapter '${b.lora_name}' added successfully.` };
      });
      e2e.stack.candidate.route('POST', '/v1/unload_lora_adapter', (body) => {
        live.delete((body as { lora_name: string }).lora_name);
        return { status: 200, body: 'Success' };
      });
      e2e.stack.candidate.failWhen((b) =>
        live.has(b.model)
          ? undefined
          : {
              status: 404,
              body: { error: { message: `The model \`${b.model}\` does not exist.`, type: 'NotFoundError' } },
            },
      );
      await e2e.stack.startWorker();

      const id = await e2e.stack.enqueue(linked.fullName, 'tt-en');
      expect(await e2e.stack.finished(id)).toBe('completed');

      // The adapter vLLM loaded: torch's own conversion, value by value, with the recipe's facts.
      expect(loaded).toHaveLength(1);
      const want = expected('adapter_checkpoint_2');
      expect([...loaded[0]!.weights.tensors.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [k, w] of want) expect(loaded[0]!.weights.tensors.get(k)!.data.equals(w.data), k).toBe(true);
      expect(loaded[0]!.config).toMatchObject({
        peft_type: 'LORA',
        r: 4,
        lora_alpha: 8,
        target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
        task_type: 'CAUSAL_LM',
      });
      expect(e2e.stack.candidate.requests.filter((r) => r.body.model === loaded[0]!.name)).toHaveLength(160);
      expect(e2e.wb.requests.filter((r) => r.operationName === 'RunConfig')).toHaveLength(1);

      const run = e2e.wb.evalRuns().find((r) => r.project === 'evals')!;
      expect(run).toMatchObject({ state: 'finished', group: 'tune-run-1' });
      expect(run.summary['mtbench/score']).toBe(7);
      expect(run.config.checkpoint).toMatchObject({ epoch: 2 });
      expect(run.config.inference).toMatchObject({
        lora: 'runtime',
        converted: {
          from: 'adapter_checkpoint_2.pt',
          r: 4,
          lora_alpha: 8,
          rope_permuted: true,
          cached: false,
          sources: { lora_alpha: 'training run config', heads: 'profile inference.lora' },
        },
      });

      // Another profile on the same checkpoint: the cached conversion is served, nothing converted again.
      const id2 = await e2e.stack.enqueue(linked.fullName, 'tt-ja');
      expect(await e2e.stack.finished(id2)).toBe('completed');
      const run2 = e2e.wb.evalRuns().find((r) => r.project === 'evals-ja')!;
      expect(run2.config.inference).toMatchObject({ converted: { cached: true } });
      expect(run2.config.checkpoint).toMatchObject({ epoch: 2 });
      expect(loaded).toHaveLength(2);
      expect(
        loaded[1]!.weights.tensors
          .get('base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight')!
          .data.equals(want.get('base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight')!.data),
      ).toBe(true);
    });

    it('without lora_alpha anywhere the evaluation fails at once, saying where to set it', async () => {
      e2e.wb = await startFakeWandb();
      const src = e2e.wb.seedArtifact({
        entity: 'acme-team',
        project: 'llama-lora',
        collection: 'adapter_checkpoint_0',
        files: { 'adapter_checkpoint_0.pt': readFileSync(fixture('plain_fp32.pt')) },
        sourceRun: { name: 'tune-run-2', config: { model: { _component_: 'my_models.tiny.lora_tiny_llama' } } },
      });
      const linked = e2e.wb.linkToRegistry(src, { collection: 'llama-lora' });
      const dir = await tempDir('tt-e2e');
      const rules = join(dir, 'rules.json');
      writeFileSync(
        rules,
        JSON.stringify({
          profiles: [
            { name: 'tt', inference: { kind: 'endpoint', loraDir: join(dir, 'lora'), lora: { heads: TINY_HEADS } } },
          ],
          rules: [],
        }),
      );
      e2e.stack = await startStack({
        redisUrl: redisUrl(),
        env: wandbEnv(e2e.wb, { EVALHOOK_CONFIG: rules }),
      });
      await e2e.stack.startWorker();
      const id = await e2e.stack.enqueue(linked.fullName, 'tt');
      expect(await e2e.stack.finished(id)).toBe('failed');
      const view = await e2e.stack.service.get(id);
      expect(view?.error?.reason).toMatch(
        /adapter_checkpoint_0\.pt: lora_alpha is unknown and evalhook does not guess it/,
      );
      expect(view?.attempts).toBe(1);
      expect(e2e.stack.candidate.requests).toHaveLength(0);
    });
  },
);
