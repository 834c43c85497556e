/**
 * What a downloaded checkpoint directory holds, decided before any GPU is touched: a PEFT LoRA
 * adapter (what vLLM and W&B Serverless LoRA load), a torchtune `.pt` adapter (converted to PEFT
 * before serving, src/inference/torch-adapter.ts), a full model (served as a model of its own), or
 * something we cannot serve (other pickles, unknown files) with a message saying what was found
 * and what is needed.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { sameBaseModel } from './base-model.js';
import { isHfId } from './safe-values.js';

export type ModelLayout =
  | { kind: 'lora'; format: 'peft'; baseModel?: string; dir: string; config: AdapterConfig }
  /** One torch.save file holding the adapter (torchtune's `adapter_checkpoint_{epoch}.pt`). */
  | { kind: 'lora'; format: 'torch'; baseModel?: undefined; dir: string; file: string }
  | { kind: 'full'; dir: string }
  | { kind: 'unsupported'; files: string[]; reason: string };

/** The fields of PEFT's adapter_config.json we rely on; everything else passes through. */
export const AdapterConfig = z
  .object({
    // PEFT writes it; torchtune leaves it out (or null).
    base_model_name_or_path: z.string().nullish(),
    peft_type: z.string().optional(),
    r: z.number().int().positive().optional(),
    target_modules: z.union([z.array(z.string()), z.string()]).nullish(),
    // What vLLM refuses (checked in adapter-limits.ts); kept loose since PEFT versions differ.
    rank_pattern: z.unknown().optional(),
    modules_to_save: z.unknown().optional(),
    use_dora: z.unknown().optional(),
    bias: z.unknown().optional(),
  })
  .loose();
export type AdapterConfig = z.infer<typeof AdapterConfig>;

const ADAPTER_CONFIG = 'adapter_config.json';
const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const PICKLE = /\.(pt|pth|bin|pkl|ckpt)$/;
/** torch.save files evalhook converts when one is the only candidate in a directory. */
const TORCH_ADAPTER = /\.(pt|pth)$/;
/** torchtune's resumable training state, saved next to the weights: never the adapter. */
const NOT_ADAPTER = new Set(['recipe_state.pt']);
const NEEDED =
  'a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors), one torchtune adapter .pt (torch.save of the adapter state dict), or a full Hugging Face model (config.json + *.safetensors)';

export type NamesKind = 'lora' | 'torch' | 'full';

/** The one torch adapter file among `names`, if that is all the directory offers. */
export function torchAdapterIn(names: readonly string[]): string | undefined {
  if (names.includes(ADAPTER_CONFIG) || names.some((n) => n.endsWith('.safetensors'))) return undefined;
  const pts = names.filter((n) => TORCH_ADAPTER.test(n) && !NOT_ADAPTER.has(n));
  return pts.length === 1 ? pts[0] : undefined;
}

/** Layout by file names alone (no reading): the manifest check that avoids a download. */
export function classifyNames(names: readonly string[]): NamesKind | undefined {
  const set = new Set(names);
  if (set.has(ADAPTER_CONFIG) && set.has(ADAPTER_WEIGHTS)) return 'lora';
  if (!set.has(ADAPTER_CONFIG) && set.has('config.json') && names.some((n) => n.endsWith('.safetensors')))
    return 'full';
  if (torchAdapterIn(names)) return 'torch';
  return undefined;
}

/** Manifest paths grouped by directory ('' = the top level): the file names in each. */
export function namesByDir(paths: readonly string[]): Map<string, string[]> {
  const byDir = new Map<string, string[]>();
  for (const p of paths) {
    const slash = p.lastIndexOf('/');
    const dir = slash < 0 ? '' : p.slice(0, slash);
    byDir.set(dir, [...(byDir.get(dir) ?? []), p.slice(slash + 1)]);
  }
  return byDir;
}

/**
 * The manifest directory holding the model (`epoch_0/adapter_config.json`…): the top level if it
 * has one, else the only subdirectory that has one; undefined when there is none or several.
 */
export function manifestModelDir(paths: readonly string[]): { kind: NamesKind; dir: string } | undefined {
  const byDir = namesByDir(paths);
  const top = classifyNames(byDir.get('') ?? []);
  if (top) return { kind: top, dir: '' };
  const found = [...byDir.entries()]
    .filter(([d]) => d !== '')
    .flatMap(([dir, names]) => {
      const kind = classifyNames(names);
      return kind ? [{ kind, dir }] : [];
    });
  return found.length === 1 ? found[0] : undefined;
}

/** The kind of manifestModelDir; `unknown` for an empty list (offline: no manifest). */
export function classifyManifest(paths: readonly string[]): NamesKind | 'unsupported' | 'unknown' {
  if (paths.length === 0) return 'unknown';
  return manifestModelDir(paths)?.kind ?? 'unsupported';
}

async function listFiles(dir: string, depth: number, prefix = ''): Promise<string[]> {
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isFile()) out.push(rel);
    else if (e.isDirectory() && depth > 0) out.push(...(await listFiles(dir, depth - 1, rel)));
  }
  return out;
}

async function readAdapterConfig(path: string): Promise<AdapterConfig | string> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    return `adapter_config.json is not valid JSON (${err instanceof Error ? err.message : String(err)})`;
  }
  const parsed = AdapterConfig.safeParse(raw);
  if (!parsed.success)
    return `adapter_config.json is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
  return parsed.data;
}

/** Layout of one directory's own files, or why it cannot be served (undefined: nothing recognisable). */
async function layoutOf(dir: string, names: string[], all: string[]): Promise<ModelLayout | undefined> {
  const kind = classifyNames(names);
  if (kind === 'full') return { kind: 'full', dir };
  if (kind === 'torch') return { kind: 'lora', format: 'torch', dir, file: join(dir, torchAdapterIn(names)!) };
  if (kind !== 'lora') return undefined;
  const cfg = await readAdapterConfig(join(dir, ADAPTER_CONFIG));
  if (typeof cfg === 'string') return { kind: 'unsupported', files: all, reason: `${cfg}; needed: ${NEEDED}` };
  if (cfg.peft_type !== undefined && cfg.peft_type.toUpperCase() !== 'LORA') {
    return {
      kind: 'unsupported',
      files: all,
      reason: `the adapter is PEFT type ${cfg.peft_type}; only LoRA adapters can be served`,
    };
  }
  const base = cfg.base_model_name_or_path ?? undefined;
  return { kind: 'lora', format: 'peft', dir, config: cfg, ...(base ? { baseModel: base } : {}) };
}

/** Why a file list cannot be served: what was found, what is needed, and how to fix pickles. */
export function unsupportedReason(files: readonly string[]): string {
  const shown = files.length > 30 ? [...files.slice(0, 30), `… ${files.length - 30} more`] : files;
  const list = shown.length ? shown.join(', ') : '(no files)';
  const pickles = files.filter((f) => PICKLE.test(f));
  const hint = pickles.length
    ? ` Of torch pickles (${pickles.join(', ')}) evalhook converts exactly one torchtune adapter .pt/.pth per directory (recipe_state.pt aside); log one checkpoint file per artifact version, or save the adapter in PEFT safetensors format.`
    : '';
  return `the artifact holds no servable model. Found: ${list}. Needed: ${NEEDED}.${hint}`;
}

/** Detects the layout of a downloaded checkpoint (its top level, else a single subdirectory holding one). */
export async function detectModelLayout(dir: string): Promise<ModelLayout> {
  let all: string[];
  try {
    all = await listFiles(dir, 2);
  } catch (err) {
    return {
      kind: 'unsupported',
      files: [],
      reason: `cannot read ${dir}: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  const top = all.filter((f) => !f.includes('/'));
  const atTop = await layoutOf(dir, top, all);
  if (atTop) return atTop;
  const subdirs = [...new Set(all.filter((f) => f.includes('/')).map((f) => f.slice(0, f.lastIndexOf('/'))))];
  const found: ModelLayout[] = [];
  for (const sub of subdirs) {
    const names = all
      .filter((f) => f.startsWith(`${sub}/`) && !f.slice(sub.length + 1).includes('/'))
      .map((f) => f.slice(sub.length + 1));
    const l = await layoutOf(join(dir, sub), names, all);
    if (l) found.push(l);
  }
  if (found.length === 1 && found[0]) return found[0];
  if (found.length > 1) {
    return {
      kind: 'unsupported',
      files: all,
      reason: `the artifact holds ${found.length} models in subdirectories; log one checkpoint per artifact version. Found: ${all.join(', ')}`,
    };
  }
  return { kind: 'unsupported', files: all, reason: unsupportedReason(all) };
}

export type BaseModelSource = 'adapter_config.json' | 'artifact metadata' | 'profile inference.baseModel';

/** The metadata keys a base model may be recorded under (W&B Serverless LoRA documents `wandb.base_model`). */
function metadataBaseModel(metadata: Record<string, unknown>): string | undefined {
  return [metadata['wandb.base_model'], metadata.base_model, metadata.base_model_name_or_path].find(
    (v): v is string => typeof v === 'string' && v.length > 0,
  );
}

/**
 * The base model a LoRA adapter is served on. The operator's pin (profile `inference.baseModel`,
 * else INFERENCE_BASE_MODEL, merged into the profile) wins; the adapter's own
 * `base_model_name_or_path` and the artifact metadata are evidence checked against it (after
 * normalising renamed repos), never overrides: an adapter trained on another base is refused.
 * Without a pin, the adapter's and the metadata's names must agree. Values that are not Hugging
 * Face ids (PEFT often records a local path of the training machine) are skipped with a note.
 */
export function resolveBaseModel(
  layout: { baseModel?: string },
  metadata: Record<string, unknown>,
  profileBaseModel: string | undefined,
): { baseModel: string; source: BaseModelSource; skipped: string[] } | { error: string; mismatch?: true } {
  const evidence: Array<[BaseModelSource, string | undefined]> = [
    ['adapter_config.json', layout.baseModel],
    ['artifact metadata', metadataBaseModel(metadata)],
  ];
  const skipped: string[] = [];
  const named: Array<[BaseModelSource, string]> = [];
  for (const [source, value] of evidence) {
    if (value === undefined) continue;
    if (isHfId(value)) named.push([source, value]);
    else skipped.push(`${source} names ${JSON.stringify(value.slice(0, 200))}, not a Hugging Face model id`);
  }
  const pinned = profileBaseModel;
  const chosen: [BaseModelSource, string] | undefined = pinned ? ['profile inference.baseModel', pinned] : named[0];
  if (!chosen) {
    const why = skipped.length ? ` (${skipped.join('; ')})` : '';
    return {
      error:
        `the LoRA adapter does not say which base model it adapts${why}. ` +
        `Set inference.baseModel in the profile (INFERENCE_BASE_MODEL), or log the artifact with metadata base_model=<hf id>.`,
    };
  }
  for (const [source, value] of named) {
    if (!sameBaseModel(value, chosen[1])) {
      const fix = pinned
        ? `the operator's base model (inference.baseModel / INFERENCE_BASE_MODEL) is ${chosen[1]}`
        : `${chosen[0]} names ${chosen[1]}`;
      return {
        mismatch: true,
        error: `base model mismatch: ${source} names ${value}, but ${fix}; evaluate this adapter with a profile whose inference.baseModel is the model it was trained on`,
      };
    }
  }
  return { baseModel: chosen[1], source: chosen[0], skipped };
}
