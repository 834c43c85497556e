/**
 * The training run's config behind an artifact (RunConfig, validated by the fake against the schema):
 * values unwrapped from W&B's `{key: {value}}` form, `_wandb` dropped; no run, no request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runConfigValues } from '../../src/wandb/responses.js';
import { schemaMissing, setup } from './helpers.js';

type Setup = Awaited<ReturnType<typeof setup>>;
let s: Setup | undefined;
afterEach(async () => {
  await s?.wb.close();
  s = undefined;
});

describe.skipIf(schemaMissing)('training run config', () => {
  it("reads the creating run's config as torchtune logged it", async () => {
    s = await setup();
    s.wb.state.run('acme-team', 'llama-sft', 'train-abc123')!.config = {
      model: { _component_: 'torchtune.models.llama3_1.lora_llama3_1_8b', lora_alpha: 16, lora_rank: 8 },
      _wandb: { cli_version: '0.19.0' },
    };
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const config = await s.wandb.artifacts.trainingConfig!(a);
    expect(config).toEqual({
      model: { _component_: 'torchtune.models.llama3_1.lora_llama3_1_8b', lora_alpha: 16, lora_rank: 8 },
    });
    const req = s.wb.requests.find((r) => r.operationName === 'RunConfig')!;
    expect(req).toMatchObject({
      status: 200,
      variables: { entity: 'acme-team', project: 'llama-sft', run: 'train-abc123' },
    });
  });

  it('an artifact without a creating run has no training config and costs no request', async () => {
    s = await setup();
    const lone = s.wb.seedArtifact({
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'uploaded',
      files: { 'adapter_checkpoint_0.pt': 'x' },
    });
    const a = await s.wandb.artifacts.resolve({ name: lone.fullName });
    expect(await s.wandb.artifacts.trainingConfig!(a)).toBeUndefined();
    expect(s.wb.requests.some((r) => r.operationName === 'RunConfig')).toBe(false);
  });

  it('unwraps {value} entries, keeps unwrapped ones, and reads garbage as empty', () => {
    expect(
      runConfigValues('{"epochs":{"value":4},"model.lora_alpha":{"value":32},"raw":1,"_wandb":{"value":{}}}'),
    ).toEqual({ epochs: 4, 'model.lora_alpha': 32, raw: 1 });
    expect(runConfigValues('not json')).toEqual({});
    expect(runConfigValues(null)).toEqual({});
  });
});
