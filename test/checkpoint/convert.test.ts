/**
 * torchtune `.pt` -> PEFT: key names as torchtune's tune_to_peft_adapter_weights gives them, the
 * q/k lora_B RoPE permutation, dtype kept, and every value bit-identical to what torch computed
 * (test/fixtures/torchtune/expected). Plus the facts: alpha, targets, rank, heads, and the cache.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  findAdapter,
  convertCached,
  convertTorchAdapter,
  openTorchFile,
  readSafetensors,
  resolveLoraFacts,
  type LoraFacts,
} from '../../src/checkpoint/index.js';
import { tempDir } from '../helpers/tmp.js';
import { expected, fixture, TINY_HEADS } from './helpers.js';

const facts = (over: Partial<LoraFacts> = {}): LoraFacts => ({
  alpha: { value: 8, source: 'profile inference.lora' },
  heads: { value: TINY_HEADS, source: 'profile inference.lora' },
  ...over,
});

async function convert(name: string, f: LoraFacts = facts()) {
  const out = await tempDir('conv');
  const info = await convertTorchAdapter(fixture(`${name}.pt`), out, {
    facts: f,
    baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
  });
  const st = await readSafetensors(join(out, 'adapter_model.safetensors'));
  const config = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  return { out, info, st, config };
}

function sameAsTorch(name: string, got: Awaited<ReturnType<typeof readSafetensors>>) {
  const want = expected(name);
  expect([...got.tensors.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [k, w] of want) {
    const g = got.tensors.get(k)!;
    expect({ k, dtype: g.dtype, shape: g.shape }).toEqual({ k, dtype: w.dtype, shape: w.shape });
    expect(g.data.equals(w.data), `${k} differs from torch's conversion`).toBe(true);
  }
}

describe('torchtune .pt -> PEFT conversion', () => {
  it('plain float32 state dict: every module plus lm_head, bit-identical to torch, config complete', async () => {
    const { info, st, config } = await convert('plain_fp32');
    sameAsTorch('plain_fp32', st);
    expect(info).toMatchObject({
      rank: 4,
      alpha: 8,
      naming: 'torchtune',
      location: 'root',
      permuted: true,
      tensors: 30,
    });
    expect(config).toEqual({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 8,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'],
      lora_dropout: 0,
      bias: 'none',
      inference_mode: true,
      base_model_name_or_path: 'meta-llama/Llama-3.1-8B-Instruct',
    });
  });

  it('the same checkpoint deflated converts to the same bytes', async () => {
    sameAsTorch('plain_fp32', (await convert('deflated')).st);
  });

  it('adapter wrapper in bfloat16 (views, offsets): dtype kept, bit-identical, epoch = epochs_run - 1', async () => {
    const { info, st } = await convert('adapter_checkpoint_2');
    sameAsTorch('adapter_checkpoint_2', st);
    expect(st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!.dtype).toBe('BF16');
    expect(info).toMatchObject({
      location: 'adapter',
      epoch: 2,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    });
  });

  it('a state dict already in PEFT names (float16, under `model`) is copied unchanged, without permutation', async () => {
    const { info, st } = await convert('peft_fp16', facts({ heads: undefined }));
    sameAsTorch('peft_fp16', st);
    expect(info).toMatchObject({ naming: 'peft', location: 'model', permuted: false, epoch: 1 });
  });

  it('the permutation is real: only q/k lora_B rows move, to the half-split RoPE order', async () => {
    const { st } = await convert('plain_fp32');
    const f = await openTorchFile(fixture('plain_fp32.pt'));
    try {
      const root = f.root as Map<unknown, unknown>;
      const src = await f.tensorBytes(root.get('layers.0.attn.q_proj.lora_b.weight') as never);
      const got = st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!.data;
      const row = 4 * 4; // rank 4, float32
      expect(got.equals(src)).toBe(false);
      // head 0, head_dim 8: new row 1 is old row 2 (evens first), new row 4 is old row 1.
      expect(got.subarray(1 * row, 2 * row).equals(src.subarray(2 * row, 3 * row))).toBe(true);
      expect(got.subarray(4 * row, 5 * row).equals(src.subarray(1 * row, 2 * row))).toBe(true);
      const va = await f.tensorBytes(root.get('layers.0.attn.v_proj.lora_b.weight') as never);
      expect(st.tensors.get('base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight')!.data.equals(va)).toBe(
        true,
      );
    } finally {
      await f.close();
    }
  });

  it('maps Llama 3.1 8B names as tune_to_peft_adapter_weights does (q/k/v/o, MLP, output)', async () => {
    const f = await openTorchFile(fixture('plain_fp32.pt'));
    try {
      const keys = findAdapter(f.root).tensors.map((t) => t.peftKey);
      for (const [tune, peft] of [
        ['attn.q_proj', 'self_attn.q_proj'],
        ['attn.k_proj', 'self_attn.k_proj'],
        ['attn.v_proj', 'self_attn.v_proj'],
        ['attn.output_proj', 'self_attn.o_proj'],
        ['mlp.w1', 'mlp.gate_proj'],
        ['mlp.w2', 'mlp.down_proj'],
        ['mlp.w3', 'mlp.up_proj'],
      ]) {
        expect(keys, tune).toContain(`base_model.model.model.layers.1.${peft}.lora_A.weight`);
        expect(keys, tune).toContain(`base_model.model.model.layers.1.${peft}.lora_B.weight`);
      }
      expect(keys).toContain('base_model.model.lm_head.lora_A.weight');
      expect(keys).toContain('base_model.model.lm_head.lora_B.weight');
    } finally {
      await f.close();
    }
  });

  it("facts from a torchtune recipe config: alpha, rank, targets (get_lora_module_names) and the 8B builder's heads", () => {
    const f = resolveLoraFacts({
      trainingConfig: {
        model: {
          _component_: 'torchtune.models.llama3_1.lora_llama3_1_8b',
          lora_attn_modules: ['q_proj', 'v_proj', 'output_proj'],
          apply_lora_to_mlp: true,
          apply_lora_to_output: false,
          lora_rank: 16,
          lora_alpha: 32,
          lora_dropout: 0.05,
        },
      },
      metadata: { lora_alpha: 99 },
      profile: { alpha: 7 },
    });
    expect(f.alpha).toEqual({ value: 32, source: 'training run config' });
    expect(f.rank?.value).toBe(16);
    expect(f.targetModules?.value).toEqual(['q_proj', 'v_proj', 'o_proj', 'gate_proj', 'down_proj', 'up_proj']);
    expect(f.heads).toEqual({
      value: { numHeads: 32, numKvHeads: 8, dim: 4096 },
      source: 'model builder torchtune.models.llama3_1.lora_llama3_1_8b',
    });
    expect(f.dropout).toBe(0.05);
    // Without the run: metadata, then the profile.
    expect(resolveLoraFacts({ metadata: { lora_alpha: 99 }, profile: { alpha: 7 } }).alpha?.source).toBe(
      'artifact metadata',
    );
    expect(resolveLoraFacts({ metadata: {}, profile: { alpha: 7, targetModules: ['w1', 'q_proj'] } })).toMatchObject({
      alpha: { value: 7 },
      targetModules: { value: ['gate_proj', 'q_proj'] },
    });
    expect(
      resolveLoraFacts({
        trainingConfig: { model: { _component_: 'torchtune.models.llama3_2.qlora_llama3_2_3b' } },
        metadata: {},
      }).heads?.value,
    ).toEqual({ numHeads: 24, numKvHeads: 8, dim: 3072 });
    // Configs logged flattened ("model.lora_alpha") read the same.
    expect(
      resolveLoraFacts({
        trainingConfig: {
          'model.lora_alpha': 64,
          'model.lora_attn_modules': ['q_proj'],
          'model.apply_lora_to_output': true,
        },
        metadata: {},
      }),
    ).toMatchObject({
      alpha: { value: 64, source: 'training run config' },
      targetModules: { value: ['q_proj', 'lm_head'] },
    });
  });

  it('refuses without lora_alpha (never guessed), saying where to set it', async () => {
    await expect(convert('plain_fp32', facts({ alpha: undefined }))).rejects.toThrow(
      /lora_alpha is unknown.*inference\.lora\.alpha/,
    );
  });

  it('refuses without head counts when q/k need the permutation, naming inference.lora.heads', async () => {
    await expect(convert('plain_fp32', facts({ heads: undefined, builder: 'my.tiny_llama' }))).rejects.toThrow(
      /my\.tiny_llama is not one evalhook knows: set inference\.lora\.heads/,
    );
    // The 8B builder's heads do not fit the tiny adapter: refused, not silently mis-permuted.
    await expect(
      convert(
        'plain_fp32',
        facts({ heads: { value: { numHeads: 32, numKvHeads: 8, dim: 4096 }, source: 'model builder x' } }),
      ),
    ).rejects.toThrow(/16 rows cannot be 8 heads of dimension 128 \(head layout from the model builder x\)/);
  });

  it('refuses a rank or target modules that contradict the training config', async () => {
    await expect(convert('plain_fp32', facts({ rank: { value: 16, source: 'training run config' } }))).rejects.toThrow(
      /rank 4, but the training run config says lora_rank 16/,
    );
    await expect(
      convert(
        'adapter_checkpoint_2',
        facts({ targetModules: { value: ['q_proj', 'v_proj'], source: 'training run config' } }),
      ),
    ).rejects.toThrow(
      /holds LoRA weights for q_proj, k_proj, v_proj, o_proj, but the training run config names q_proj, v_proj/,
    );
  });

  it('refuses a checkpoint without LoRA weights, listing what it holds', async () => {
    await expect(convert('no_lora')).rejects.toThrow(
      /holds no LoRA weights: it is a dict with 2 entries \(tok_embeddings\.weight: tensor F32\[64x32\]/,
    );
  });

  it('caches by digest: a second conversion reads the cached folder and converts nothing', async () => {
    const root = await tempDir('cache');
    const first = await convertCached(fixture('adapter_checkpoint_2.pt'), root, 'abc-1', { facts: facts() });
    expect(first.cached).toBe(false);
    const second = await convertCached('/nonexistent/never-read.pt', root, 'abc-1', { facts: facts() });
    expect(second).toMatchObject({ cached: true, dir: first.dir, info: { epoch: 2, rank: 4 } });
    expect((await readdir(root)).sort()).toEqual(['abc-1', 'abc-1.json']);
  });
});
