import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyManifest, detectModelLayout, resolveBaseModel } from '../../src/inference/layout.js';
import { isHfId, isSafePath, servedNameFor } from '../../src/inference/safe-values.js';
import { tempDir, writeFull, writeLora } from './helpers.js';

describe('detectModelLayout', () => {
  it('reads a PEFT adapter with its base model', async () => {
    const dir = await writeLora(await tempDir(), 'meta-llama/Llama-3.1-8B-Instruct');
    expect(await detectModelLayout(dir)).toMatchObject({
      kind: 'lora',
      format: 'peft',
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
      dir,
      config: { r: 8 },
    });
  });

  it('reads a torchtune adapter (no base model in adapter_config.json)', async () => {
    const dir = await writeLora(await tempDir());
    expect(await detectModelLayout(dir)).toEqual({
      kind: 'lora',
      format: 'peft',
      dir,
      config: expect.objectContaining({ r: 8 }),
    });
  });

  it('finds a checkpoint in a single subdirectory (torchtune epoch_N/)', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'README.md'), 'notes');
    const dir = await writeLora(join(root, 'epoch_2'), null);
    expect(await detectModelLayout(root)).toEqual({
      kind: 'lora',
      format: 'peft',
      dir,
      config: expect.objectContaining({ r: 8 }),
    });
  });

  it('serves a full model (config.json + safetensors shards)', async () => {
    const dir = await writeFull(await tempDir());
    expect(await detectModelLayout(dir)).toEqual({ kind: 'full', dir });
  });

  it('rejects a torch pickle, listing the files found and the format needed', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'adapter_checkpoint_0.pt'), 'pickle');
    await writeFile(join(dir, 'adapter_config.json'), '{"r":8}');
    const layout = await detectModelLayout(dir);
    expect(layout.kind).toBe('unsupported');
    if (layout.kind !== 'unsupported') return;
    expect(layout.files).toEqual(['adapter_checkpoint_0.pt', 'adapter_config.json']);
    expect(layout.reason).toContain('Found: adapter_checkpoint_0.pt, adapter_config.json');
    expect(layout.reason).toContain('adapter_model.safetensors');
    expect(layout.reason).toMatch(
      /pickles \(adapter_checkpoint_0\.pt\) evalhook converts exactly one torchtune adapter/,
    );
  });

  it('takes a lone torchtune .pt (recipe_state.pt aside) as an adapter to convert; two .pt files are refused', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'adapter_checkpoint_2.pt'), 'x');
    await writeFile(join(dir, 'recipe_state.pt'), 'x');
    expect(await detectModelLayout(dir)).toEqual({
      kind: 'lora',
      format: 'torch',
      dir,
      file: join(dir, 'adapter_checkpoint_2.pt'),
    });
    await writeFile(join(dir, 'adapter_checkpoint_3.pt'), 'x');
    expect(await detectModelLayout(dir)).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringContaining('exactly one torchtune adapter .pt/.pth per directory'),
    });
  });

  it('rejects an unknown layout and an empty directory', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'weights.gguf'), 'x');
    const layout = await detectModelLayout(dir);
    expect(layout).toMatchObject({ kind: 'unsupported', files: ['weights.gguf'] });
    expect(await detectModelLayout(await tempDir())).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringContaining('(no files)'),
    });
  });

  it('validates adapter_config.json with a schema', async () => {
    const dir = await writeLora(await tempDir());
    await writeFile(join(dir, 'adapter_config.json'), '{"r":"eight"}');
    expect(await detectModelLayout(dir)).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringContaining('adapter_config.json is malformed: r:'),
    });
    await writeFile(join(dir, 'adapter_config.json'), '{not json');
    expect(await detectModelLayout(dir)).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringContaining('not valid JSON'),
    });
    await writeFile(join(dir, 'adapter_config.json'), '{"peft_type":"IA3"}');
    expect(await detectModelLayout(dir)).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringContaining('PEFT type IA3'),
    });
  });

  it('refuses an artifact holding two checkpoints', async () => {
    const root = await tempDir();
    await writeLora(join(root, 'epoch_0'), null);
    await writeLora(join(root, 'epoch_1'), null);
    expect(await detectModelLayout(root)).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringContaining('2 models'),
    });
  });
});

describe('resolveBaseModel', () => {
  it("the operator's base model wins; the adapter's and the metadata's are checked against it", () => {
    expect(resolveBaseModel({ baseModel: 'org/a' }, {}, 'org/a')).toMatchObject({
      baseModel: 'org/a',
      source: 'profile inference.baseModel',
    });
    expect(resolveBaseModel({}, {}, 'org/c')).toMatchObject({
      baseModel: 'org/c',
      source: 'profile inference.baseModel',
    });
    // Hugging Face's rename of Meta's repos is the same model.
    expect(
      resolveBaseModel(
        { baseModel: 'meta-llama/Meta-Llama-3.1-8B-Instruct' },
        { base_model: 'meta-llama/Llama-3.1-8B-Instruct' },
        'meta-llama/Llama-3.1-8B-Instruct',
      ),
    ).toMatchObject({
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
    });
    const adapterWrong = resolveBaseModel(
      { baseModel: 'meta-llama/Llama-3.1-8B' },
      {},
      'meta-llama/Llama-3.1-8B-Instruct',
    );
    expect(adapterWrong).toMatchObject({
      mismatch: true,
      error: expect.stringMatching(
        /adapter_config\.json names meta-llama\/Llama-3\.1-8B, but the operator's base model .* is meta-llama\/Llama-3\.1-8B-Instruct/,
      ),
    });
    const metaWrong = resolveBaseModel(
      {},
      { 'wandb.base_model': 'Qwen/Qwen3-14B' },
      'meta-llama/Llama-3.1-8B-Instruct',
    );
    expect(metaWrong).toMatchObject({
      mismatch: true,
      error: expect.stringContaining('artifact metadata names Qwen/Qwen3-14B'),
    });
  });

  it('without a pin, uses the adapter, then the metadata, and refuses when they disagree', () => {
    expect(resolveBaseModel({ baseModel: 'org/a' }, {}, undefined)).toMatchObject({
      baseModel: 'org/a',
      source: 'adapter_config.json',
    });
    expect(resolveBaseModel({}, { base_model_name_or_path: 'org/b' }, undefined)).toMatchObject({
      baseModel: 'org/b',
      source: 'artifact metadata',
    });
    expect(resolveBaseModel({ baseModel: 'org/a' }, { base_model: 'org/b' }, undefined)).toMatchObject({
      mismatch: true,
    });
  });

  it('skips a local training-machine path and says so', () => {
    const r = resolveBaseModel({ baseModel: '/home/me/llama' }, { base_model: 'Qwen/Qwen2.5-7B-Instruct' }, undefined);
    expect(r).toMatchObject({
      baseModel: 'Qwen/Qwen2.5-7B-Instruct',
      skipped: [expect.stringContaining('/home/me/llama')],
    });
  });

  it('explains what to set when nothing names the base model', () => {
    const r = resolveBaseModel({}, { base_model: 'x; rm -rf /' }, undefined);
    expect(r).toHaveProperty('error');
    if (!('error' in r)) return;
    expect(r.error).toContain('inference.baseModel');
    expect(r.error).toContain('metadata base_model');
  });
});

describe('classifyManifest', () => {
  it('classifies by file names without downloading', () => {
    expect(classifyManifest(['adapter_config.json', 'adapter_model.safetensors'])).toBe('lora');
    expect(classifyManifest(['epoch_0/adapter_config.json', 'epoch_0/adapter_model.safetensors'])).toBe('lora');
    expect(classifyManifest(['config.json', 'model.safetensors'])).toBe('full');
    expect(classifyManifest(['adapter_checkpoint_0.pt'])).toBe('torch');
    expect(classifyManifest(['epoch_2/adapter_model.pt', 'epoch_2/recipe_state.pt'])).toBe('torch');
    expect(classifyManifest(['adapter_checkpoint_0.pt', 'adapter_checkpoint_1.pt'])).toBe('unsupported');
    expect(classifyManifest(['adapter_model.bin'])).toBe('unsupported');
    expect(classifyManifest([])).toBe('unknown');
  });
});

describe('safe values', () => {
  it('accepts only plain Hugging Face ids and plain absolute paths', () => {
    expect(isHfId('meta-llama/Llama-3.1-8B-Instruct')).toBe(true);
    for (const bad of ['../etc', '-rf', 'a b', 'x;y', 'a/b/c', '$(id)', 'a--b', ''])
      expect(isHfId(bad), bad).toBe(false);
    expect(isSafePath('/tmp/cache/abc_1.0')).toBe(true);
    for (const bad of ['rel/path', '/a/../b', '/a b', '/a;b', '/a/$(id)']) expect(isSafePath(bad), bad).toBe(false);
  });

  it('derives a unique, stable, plain served name from the evaluation id', async () => {
    expect(servedNameFor('ev-0123')).toBe(servedNameFor('ev-0123'));
    expect(servedNameFor('ev-0123')).not.toBe(servedNameFor('EV-0123'));
    expect(servedNameFor('../../x; rm -rf / #')).toMatch(/^evalhook-x-rm-rf-[0-9a-f]{8}$/);
    await mkdir(join(await tempDir(), servedNameFor('$(id)`')), { recursive: true });
  });
});
