/**
 * torchtune `.pt` adapter -> PEFT folder (adapter_model.safetensors + adapter_config.json), the
 * values bit-identical to torchtune's `tune_to_peft_adapter_weights`: keys renamed, q_proj/k_proj
 * lora_B rows permuted to Hugging Face's RoPE layout, dtype kept, everything else copied unchanged.
 * Conversions are cached by artifact digest (plus the facts that shaped the config).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findAdapter, PEFT_TARGETS, permuteRopeRows, type AdapterTensor } from './adapter.js';
import { CheckpointError } from './errors.js';
import type { LoraFacts } from './lora-facts.js';
import { writeSafetensors, type SafetensorSpec } from './safetensors.js';
import { DEFAULT_LIMITS, openTorchFile, type TorchFileLimits } from './torch-file.js';

export interface ConvertOptions {
  facts: LoraFacts;
  baseModel?: string;
  limits?: TorchFileLimits;
}

export interface ConversionInfo {
  rank: number;
  alpha: number;
  targetModules: string[];
  tensors: number;
  naming: 'torchtune' | 'peft';
  location: 'root' | 'adapter' | 'model';
  permuted: boolean;
  epoch?: number;
  /** Where each fact came from, for the run config and the job log. */
  sources: Record<string, string>;
}

const sortTargets = (t: Iterable<string>) =>
  [...new Set(t)].sort((a, b) => PEFT_TARGETS.indexOf(a) - PEFT_TARGETS.indexOf(b));

function rankOf(tensors: AdapterTensor[]): number {
  const ranks = new Set(tensors.map((t) => (t.ab === 'A' ? t.tensor.shape[0]! : t.tensor.shape[1]!)));
  if (ranks.size !== 1)
    throw new CheckpointError(
      `the LoRA matrices disagree on the rank (${[...ranks].join(', ')}); evalhook converts one rank per adapter`,
    );
  const counts = new Map<string, number>();
  for (const t of tensors) counts.set(t.target, (counts.get(t.target) ?? 0) + (t.ab === 'A' ? 1 : -1));
  const unpaired = [...counts].filter(([, n]) => n !== 0).map(([m]) => m);
  if (unpaired.length) throw new CheckpointError(`lora_a and lora_b do not pair up for ${unpaired.join(', ')}`);
  return [...ranks][0]!;
}

/** Converts `ptPath` into `outDir` (which must exist). Throws CheckpointError for anything refused. */
export async function convertTorchAdapter(
  ptPath: string,
  outDir: string,
  opts: ConvertOptions,
): Promise<ConversionInfo> {
  const file = await openTorchFile(ptPath, opts.limits ?? DEFAULT_LIMITS);
  try {
    const found = findAdapter(file.root);
    const { facts } = opts;
    const rank = rankOf(found.tensors);
    const sources: Record<string, string> = { r: 'adapter weights' };
    if (facts.rank && facts.rank.value !== rank) {
      throw new CheckpointError(
        `the adapter's tensors have rank ${rank}, but the ${facts.rank.source} says lora_rank ${facts.rank.value}: the checkpoint and its training run do not match`,
      );
    }
    const present = sortTargets(found.tensors.map((t) => t.target));
    let targetModules = present;
    sources.target_modules = 'adapter weights';
    if (facts.targetModules) {
      const configured = sortTargets(facts.targetModules.value);
      if (configured.join() !== present.join()) {
        throw new CheckpointError(
          `the adapter holds LoRA weights for ${present.join(', ')}, but the ${facts.targetModules.source} names ${configured.join(', ')}: they must match`,
        );
      }
      targetModules = configured;
      sources.target_modules = facts.targetModules.source;
    }
    if (!facts.alpha) {
      throw new CheckpointError(
        "lora_alpha is unknown and evalhook does not guess it: log the training run with torchtune's WandBLogger (its config holds model.lora_alpha), " +
          'add lora_alpha to the artifact metadata, or set inference.lora.alpha in the profile',
      );
    }
    sources.lora_alpha = facts.alpha.source;

    const needsHeads = found.tensors.some((t) => t.rope);
    const heads = facts.heads?.value;
    if (needsHeads && !heads) {
      const named = facts.builder
        ? `the model builder ${facts.builder} is not one evalhook knows`
        : 'no model builder (model._component_) is known';
      throw new CheckpointError(
        `the q_proj/k_proj lora_B rows must be permuted to Hugging Face's RoPE layout, which needs the model's head counts, and ${named}: set inference.lora.heads {numHeads, numKvHeads, dim} in the profile`,
      );
    }
    if (needsHeads && facts.heads) sources.heads = facts.heads.source;

    const byKey = new Map(found.tensors.map((t) => [t.peftKey, t]));
    const specs: SafetensorSpec[] = [...byKey.keys()].sort().map((name) => {
      const t = byKey.get(name)!.tensor;
      const count = t.shape.reduce((a, d) => a * d, 1);
      return {
        name,
        dtype: t.storage.dtype as SafetensorSpec['dtype'],
        shape: t.shape,
        byteLength: count * t.storage.elementBytes,
      };
    });
    await writeSafetensors(join(outDir, 'adapter_model.safetensors'), specs, async (spec) => {
      const entry = byKey.get(spec.name)!;
      const bytes = await file.tensorBytes(entry.tensor);
      if (!entry.rope || !heads) return bytes;
      const n = entry.rope === 'q' ? heads.numHeads : heads.numKvHeads;
      const headDim = heads.headDim ?? heads.dim / heads.numHeads;
      try {
        return permuteRopeRows(
          bytes,
          entry.tensor.shape[0]!,
          entry.tensor.shape[1]! * entry.tensor.storage.elementBytes,
          n,
          headDim,
        );
      } catch (err) {
        throw new CheckpointError(
          `${spec.name}: ${(err as Error).message} (head layout from the ${facts.heads!.source}); the adapter was trained on another model, or set inference.lora.heads`,
        );
      }
    });
    const config: Record<string, unknown> = {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: rank,
      lora_alpha: facts.alpha.value,
      target_modules: targetModules,
      lora_dropout: facts.dropout ?? 0,
      bias: 'none',
      inference_mode: true,
      ...(opts.baseModel ? { base_model_name_or_path: opts.baseModel } : {}),
    };
    await writeFile(join(outDir, 'adapter_config.json'), JSON.stringify(config, null, 2));
    return {
      rank,
      alpha: facts.alpha.value,
      targetModules,
      tensors: specs.length,
      naming: found.naming,
      location: found.location,
      permuted: needsHeads,
      ...(found.epoch !== undefined ? { epoch: found.epoch } : {}),
      sources,
    };
  } finally {
    await file.close();
  }
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** Directory name for one conversion: the artifact digest, plus a hash of what shaped the output. */
export function conversionKey(digest: string, opts: ConvertOptions): string {
  const d = /^[0-9a-f]{8,128}$/i.test(digest)
    ? digest.toLowerCase()
    : createHash('sha256').update(digest).digest('hex').slice(0, 32);
  const f = opts.facts;
  const shaping = JSON.stringify([
    f.alpha?.value,
    f.targetModules?.value,
    f.rank?.value,
    f.heads?.value,
    f.dropout,
    opts.baseModel,
  ]);
  return `${d}-${createHash('sha256').update(shaping).digest('hex').slice(0, 12)}`;
}

/**
 * The converted PEFT folder for a checkpoint under `<root>/<key>/`, converting only when absent.
 * Written to a temporary directory and renamed, so a half-written conversion is never served and two
 * workers converting the same checkpoint both end with the same complete folder.
 */
export async function convertCached(
  ptPath: string,
  root: string,
  key: string,
  opts: ConvertOptions,
): Promise<{ dir: string; info: ConversionInfo; cached: boolean }> {
  const dir = join(root, key);
  const infoPath = join(root, `${key}.json`);
  if ((await exists(join(dir, 'adapter_model.safetensors'))) && (await exists(infoPath))) {
    return { dir, info: JSON.parse(await readFile(infoPath, 'utf8')) as ConversionInfo, cached: true };
  }
  await mkdir(root, { recursive: true });
  const tmp = join(root, `.tmp-${key}-${randomBytes(6).toString('hex')}`);
  await mkdir(tmp, { mode: 0o755 });
  try {
    const info = await convertTorchAdapter(ptPath, tmp, opts);
    await writeFile(infoPath, JSON.stringify(info));
    await rename(tmp, dir).catch(async (err: unknown) => {
      if (!(await exists(dir))) throw err;
      await rm(tmp, { recursive: true, force: true });
    });
    return { dir, info, cached: false };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
