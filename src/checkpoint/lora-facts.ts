/**
 * The facts a PEFT adapter_config.json needs that a torchtune `.pt` does not hold: lora_alpha, the
 * target modules, the configured rank, and (for the RoPE row permutation) the model's head layout.
 * In order: the training run's W&B config (torchtune's WandBLogger logs the recipe YAML: `model.*`),
 * the artifact's metadata, the profile's `inference.lora`. Head layout: the model builder the config
 * names (`model._component_`, torchtune's Llama 3 / 3.1 / 3.2 builders), else `inference.lora.heads`.
 */
import { TUNE_TARGET_TO_PEFT } from './adapter.js';

export interface Heads {
  numHeads: number;
  numKvHeads: number;
  dim: number;
  headDim?: number;
}

/** Profile `inference.lora` (see src/profile.ts). */
export interface LoraProfile {
  alpha?: number;
  targetModules?: string[];
  heads?: Heads;
}

/** torchtune's builders (torchtune/models/{llama3,llama3_1,llama3_2}/_model_builders.py), by name without the lora_/qlora_ prefix. */
export const LLAMA_BUILDERS: Readonly<Record<string, Heads>> = {
  llama3_8b: { numHeads: 32, numKvHeads: 8, dim: 4096 },
  llama3_70b: { numHeads: 64, numKvHeads: 8, dim: 8192 },
  llama3_1_8b: { numHeads: 32, numKvHeads: 8, dim: 4096 },
  llama3_1_70b: { numHeads: 64, numKvHeads: 8, dim: 8192 },
  llama3_1_405b: { numHeads: 128, numKvHeads: 8, dim: 16384 },
  llama3_2_1b: { numHeads: 32, numKvHeads: 8, dim: 2048 },
  llama3_2_3b: { numHeads: 24, numKvHeads: 8, dim: 3072 },
};

export type FactSource =
  'training run config' | 'artifact metadata' | 'profile inference.lora' | `model builder ${string}`;
export interface Fact<T> {
  value: T;
  source: FactSource;
}

export interface LoraFacts {
  alpha?: Fact<number>;
  /** PEFT names (q_proj … lm_head). */
  targetModules?: Fact<string[]>;
  rank?: Fact<number>;
  heads?: Fact<Heads>;
  /** The builder the config named (for messages). */
  builder?: string;
  dropout?: number;
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `model.lora_alpha` from a nested section or a flattened `model.lora_alpha` key. */
function field(src: Dict, name: string): unknown {
  const model = src.model;
  if (isDict(model) && name in model) return model[name];
  if (`model.${name}` in src) return src[`model.${name}`];
  return src[name];
}

const positive = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v > 0
    ? v
    : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)
      ? Number(v)
      : undefined;
const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') && v.length ? (v as string[]) : undefined;
const bool = (v: unknown): boolean => v === true || v === 'true' || v === 'True';

/** torchtune/PEFT module names -> PEFT names; undefined when one is unknown. */
export function peftTargets(names: string[]): string[] | undefined {
  const out = names.map(
    (n) => TUNE_TARGET_TO_PEFT[n] ?? (Object.values(TUNE_TARGET_TO_PEFT).includes(n) ? n : undefined),
  );
  return out.every((x): x is string => x !== undefined) ? [...new Set(out)] : undefined;
}

/** torchtune's get_lora_module_names: attention modules, plus w1/w2/w3 and output when enabled. */
function targetsOf(src: Dict): string[] | undefined {
  const explicit = strings(field(src, 'target_modules'));
  if (explicit) return peftTargets(explicit);
  const attn = strings(field(src, 'lora_attn_modules'));
  if (!attn) return undefined;
  const names = [
    ...attn,
    ...(bool(field(src, 'apply_lora_to_mlp')) ? ['w1', 'w2', 'w3'] : []),
    ...(bool(field(src, 'apply_lora_to_output')) ? ['output'] : []),
  ];
  return peftTargets(names);
}

/** `torchtune.models.llama3_1.lora_llama3_1_8b` -> its head layout, when it is a builder we know. */
export function builderHeads(component: unknown): { name: string; heads?: Heads } | undefined {
  if (typeof component !== 'string' || !component) return undefined;
  const name = component.slice(component.lastIndexOf('.') + 1);
  const heads = LLAMA_BUILDERS[name.replace(/^q?lora_/, '')];
  return { name: component, ...(heads ? { heads } : {}) };
}

export function resolveLoraFacts(input: { trainingConfig?: Dict; metadata: Dict; profile?: LoraProfile }): LoraFacts {
  const facts: LoraFacts = {};
  const sources: Array<[FactSource, Dict]> = [];
  if (input.trainingConfig) sources.push(['training run config', input.trainingConfig]);
  sources.push(['artifact metadata', input.metadata]);
  for (const [source, src] of sources) {
    const alpha = positive(field(src, 'lora_alpha'));
    if (alpha !== undefined) facts.alpha ??= { value: alpha, source };
    const rank = positive(field(src, 'lora_rank')) ?? positive(src.r);
    if (rank !== undefined) facts.rank ??= { value: rank, source };
    const targets = targetsOf(src);
    if (targets) facts.targetModules ??= { value: targets, source };
    const dropout = field(src, 'lora_dropout');
    if (typeof dropout === 'number') facts.dropout ??= dropout;
    const builder = builderHeads(field(src, '_component_'));
    if (builder && !facts.builder) {
      facts.builder = builder.name;
      if (builder.heads) facts.heads = { value: builder.heads, source: `model builder ${builder.name}` };
    }
  }
  const p = input.profile;
  if (p?.alpha !== undefined) facts.alpha ??= { value: p.alpha, source: 'profile inference.lora' };
  if (p?.targetModules) {
    const t = peftTargets(p.targetModules);
    if (t) facts.targetModules ??= { value: t, source: 'profile inference.lora' };
  }
  if (p?.heads) facts.heads ??= { value: p.heads, source: 'profile inference.lora' };
  return facts;
}
