import { afterEach, describe, expect, it } from 'vitest';
import { WandbError } from '../../src/wandb/index.js';
import { schemaMissing, setup } from './helpers.js';

type Setup = Awaited<ReturnType<typeof setup>>;
let s: Setup | undefined;
afterEach(async () => {
  await s?.wb.close();
  s = undefined;
});

describe.skipIf(schemaMissing)('resolve', () => {
  it('resolves a registry version by org-entity full name, with lineage and checkpoint', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    expect(a).toMatchObject({
      id: s.source.id,
      entity: 'acme-org',
      project: 'wandb-registry-model',
      collection: 'llama-ft',
      version: 'v0',
      fullName: 'acme-org/wandb-registry-model/llama-ft:v0',
      type: 'model',
      metadata: { epoch: 3, lr: 1e-4 },
      sourceRun: { entity: 'acme-team', project: 'llama-sft', name: 'train-abc123', displayName: 'llama sft run' },
      checkpoint: { epoch: 3 },
    });
    expect(a.aliases).toEqual(expect.arrayContaining(['candidate', 'latest']));
    expect(a.digest).toMatch(/^[0-9a-f]{32}$/);
    expect(a.files.map((f) => f.path).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(a.files.find((f) => f.path === 'adapter_model.safetensors')).toMatchObject({
      size: 4096,
      md5: expect.any(String),
    });
  });

  it('maps an org-name prefix and a bare registry path to the org entity', async () => {
    s = await setup();
    const byOrg = await s.wandb.artifacts.resolve({ name: 'acme/wandb-registry-model/llama-ft:candidate' });
    expect(byOrg.fullName).toBe('acme-org/wandb-registry-model/llama-ft:v0');
    const byTeam = await s.wandb.artifacts.resolve({ name: 'acme-team/wandb-registry-model/llama-ft:v0' });
    expect(byTeam.entity).toBe('acme-org');
    const bare = await s.wandb.artifacts.resolve({ name: 'wandb-registry-model/llama-ft:latest' });
    expect(bare.entity).toBe('acme-org');
    const ops = s.wb.requests.map((r) => r.operationName);
    expect(ops).toContain('FetchOrganization');
    expect(ops).toContain('Viewer');
    expect(ops).toContain('FetchOrgInfoFromEntity');
  });

  it("resolves a bare registry path in the configured entity's or organisation's org, not the key's default entity", async () => {
    // The key's default entity (acme-team) is in org acme; the configured ones point at org beta.
    const orgs = [
      { name: 'acme', entity: 'acme-org' },
      { name: 'beta', entity: 'beta-org' },
    ];
    const teams = { 'acme-team': 'acme', 'beta-team': 'beta' };
    s = await setup({ orgs, teams }, { entity: 'beta-team' });
    const src = s.wb.seedArtifact({ entity: 'beta-team', project: 'sft', collection: 'ft', files: { a: 'x' } });
    s.wb.linkToRegistry(src, { collection: 'llama-ft', entity: 'beta-org' });
    expect((await s.wandb.artifacts.resolve({ name: 'wandb-registry-model/llama-ft:v0' })).entity).toBe('beta-org');
    expect(s.wb.requests.map((r) => r.operationName)).not.toContain('Viewer');
    await s.wb.close();
    s = await setup({ orgs, teams }, { organization: 'beta' });
    const src2 = s.wb.seedArtifact({ entity: 'beta-team', project: 'sft', collection: 'ft', files: { a: 'x' } });
    s.wb.linkToRegistry(src2, { collection: 'llama-ft', entity: 'beta-org' });
    expect((await s.wandb.artifacts.resolve({ name: 'wandb-registry-model/llama-ft:v0' })).entity).toBe('beta-org');
  });

  it('resolves the four-segment org/entity/project/collection form', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: 'acme/acme-team/llama-sft/llama ft:v0' });
    expect(a).toMatchObject({ id: s.source.id, entity: 'acme-team', project: 'llama-sft', collection: 'llama ft' });
    const r = await s.wandb.artifacts.resolve({ name: 'acme/acme-org/wandb-registry-model/llama-ft:candidate' });
    expect(r.fullName).toBe('acme-org/wandb-registry-model/llama-ft:v0');
  });

  it('resolves by the webhook node id (source collection names)', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ id: s.linked.nodeId });
    expect(a).toMatchObject({
      id: s.source.id,
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'llama ft',
      version: 'v0',
      fullName: 'acme-team/llama-sft/llama ft:v0',
    });
  });

  it('prefers the name when name and id agree, keeping the registry view', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ id: s.linked.id, name: s.linked.fullName });
    expect(a.project).toBe('wandb-registry-model');
  });

  it('falls back to the id when the name cannot be resolved', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ id: s.linked.nodeId, name: 'a/b/c/d:too-many-parts' });
    expect(a.id).toBe(s.source.id);
  });

  it('handles spaces in collection names and legacy model-registry paths', async () => {
    s = await setup();
    const spaced = await s.wandb.artifacts.resolve({ name: 'acme-team/llama-sft/llama ft:v0' });
    expect(spaced.collection).toBe('llama ft');
    const legacy = s.wb.linkToRegistry(s.source, {
      entity: 'acme-team',
      project: 'model-registry',
      collection: 'Llama Fine Tunes',
      aliases: ['staging'],
    });
    const a = await s.wandb.artifacts.resolve({ name: 'acme-team/model-registry/Llama Fine Tunes:staging' });
    expect(a.fullName).toBe(legacy.fullName);
    expect(a.aliases).toContain('staging');
  });

  it('resolves in a custom registry whose name has spaces', async () => {
    s = await setup();
    const l = s.wb.linkToRegistry(s.source, {
      registry: 'Fine-tuned Models',
      collection: 'my lora',
      aliases: ['staging'],
    });
    const a = await s.wandb.artifacts.resolve({ name: 'acme/wandb-registry-Fine-tuned Models/my lora:staging' });
    expect(a.fullName).toBe(l.fullName);
    expect(a.project).toBe('wandb-registry-Fine-tuned Models');
    const dir = await s.wandb.artifacts.download(a);
    expect(dir).toContain(a.digest);
  });

  it('falls back to the legacy lookup on an old server (schema dump without extensions)', async () => {
    s = await setup({ schema: 'legacy' });
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    expect(a.collection).toBe('llama-ft');
    expect(s.wb.requests.map((r) => r.operationName)).toContain('ArtifactByName');
    expect(s.wb.requests.find((r) => r.operationName === 'ServerFeaturesQuery')?.status).toBe(400);
  });

  it('takes the step from metadata and the epoch from the torchtune name suffix', async () => {
    s = await setup();
    const x = s.wb.seedArtifact({
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'adapter_checkpoint_7',
      files: { a: 'x' },
      metadata: { global_step: 1200 },
    });
    const a = await s.wandb.artifacts.resolve({ name: x.fullName });
    expect(a.checkpoint).toEqual({ epoch: 7, step: 1200 });
    const y = s.wb.seedArtifact({
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'adapter_checkpoint_7',
      files: { a: 'y' },
      metadata: { torchtune: { epoch: 1 } },
    });
    expect((await s.wandb.artifacts.resolve({ name: y.fullName })).checkpoint).toEqual({ epoch: 1 });
  });

  it('reports a missing artifact as a non-retryable error', async () => {
    s = await setup();
    const err = await s.wandb.artifacts.resolve({ name: 'acme-team/llama-sft/nope:v9' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WandbError);
    expect((err as WandbError).retryable).toBe(false);
  });
});
