/**
 * kind=wandb-inference: W&B Serverless LoRA Inference loads the adapter straight from the artifact,
 * so nothing but adapter_config.json (for the rank check) is downloaded and no GPU of ours is used. The artifact is addressed as
 * `wandb-artifact:///<entity>/<project>/<collection>:<version>` with the W&B API key and an
 * `OpenAI-Project: <entity>/<project>` header.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LaunchRequest, ServedModel } from '../ports.js';
import type { InferenceSettings } from '../profile.js';
import { adapterFiles } from './adapter-files.js';
import { adapterRank } from './adapter-limits.js';
import { normalizeModelName, sameBaseModel } from './base-model.js';
import { abortReason, finalError } from './errors.js';
import { AdapterConfig, classifyManifest, unsupportedReason } from './layout.js';
import { assertWandbName } from './safe-values.js';

/**
 * The bases W&B Serverless LoRA serves and their rank limits (docs.wandb.ai/inference/lora, read
 * when this was written). `wandb.base_model` must be one of them; matched by normalised repo name
 * so the message can name the exact string to use.
 */
const SERVERLESS_LORA_BASES: ReadonlyArray<{ name: string; maxRank: number }> = [
  { name: 'meta-llama/Llama-3.1-8B-Instruct', maxRank: 16 },
  { name: 'meta-llama/Llama-3.1-70B-Instruct', maxRank: 16 },
  { name: 'OpenPipe/Qwen3-14B-Instruct', maxRank: 16 },
  { name: 'Qwen/Qwen3-30B-A3B-Instruct-2507', maxRank: 16 },
  { name: 'openai/gpt-oss-120b', maxRank: 64 },
];

function supportedBase(value: string): { name: string; maxRank: number } | undefined {
  const repo = normalizeModelName(value).repo;
  return SERVERLESS_LORA_BASES.find((b) => normalizeModelName(b.name).repo === repo);
}

/** W&B's prerequisites, checked before any call: a `lora` artifact, `wandb.base_model` naming a supported base, rank within its limit. */
async function checkPrerequisites(req: LaunchRequest, pinned: string | undefined): Promise<{ baseModel: string }> {
  const a = req.artifact;
  const bases = SERVERLESS_LORA_BASES.map((b) => b.name).join(', ');
  if (a.type !== 'lora') {
    throw finalError(
      `${a.fullName} is a "${a.type}" artifact; W&B Serverless LoRA serves only artifacts of type "lora": log the adapter with wandb.Artifact(name, type="lora", metadata={"wandb.base_model": "<base>"})`,
    );
  }
  const base = a.metadata['wandb.base_model'];
  if (typeof base !== 'string' || base.length === 0) {
    throw finalError(
      `${a.fullName} has no metadata "wandb.base_model"; W&B Serverless LoRA needs it to pick the base: set it to one of ${bases}`,
    );
  }
  const known = supportedBase(base);
  if (!known)
    throw finalError(
      `${a.fullName}: metadata "wandb.base_model" is ${JSON.stringify(base)}, not a base W&B Serverless LoRA serves; use one of ${bases}`,
    );
  // The operator's pin wins here too: W&B would serve the adapter on whatever the metadata names.
  if (pinned && !sameBaseModel(pinned, base)) {
    throw finalError(
      `base model mismatch: ${a.fullName} metadata "wandb.base_model" names ${base}, but the operator's base model (inference.baseModel / INFERENCE_BASE_MODEL) is ${pinned}`,
    );
  }
  const files = adapterFiles(a.files.map((f) => f.path))?.filter((p) => p.endsWith('adapter_config.json'));
  if (files?.length) {
    // Only adapter_config.json (a few hundred bytes) is fetched, for the rank.
    const dir = await req.download(files);
    if (req.signal.aborted) throw abortReason(req.signal);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(join(dir, files[0]!), 'utf8'));
    } catch (err) {
      throw finalError(
        `${a.fullName}: adapter_config.json cannot be read as JSON (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    const cfg = AdapterConfig.safeParse(raw);
    const rank = cfg.success ? adapterRank(cfg.data) : undefined;
    if (rank !== undefined && rank > known.maxRank) {
      throw finalError(
        `${a.fullName}: the adapter's LoRA rank is ${rank}, above W&B Serverless LoRA's limit ${known.maxRank} for ${known.name}: retrain with r <= ${known.maxRank}`,
      );
    }
  }
  return { baseModel: base };
}

export type WandbInferenceSettings = Extract<InferenceSettings, { kind: 'wandb-inference' }>;

export async function launchWandbInference(
  req: LaunchRequest,
  settings: WandbInferenceSettings,
  wandbApiKey: string | undefined,
): Promise<ServedModel> {
  if (!wandbApiKey) throw finalError('WANDB_API_KEY is not set: W&B Inference authenticates with the W&B API key');
  const { artifact } = req;
  // Names reach a URL-like model id and a header: only W&B's own name characters pass.
  const entity = assertWandbName('artifact entity', artifact.entity);
  const project = assertWandbName('artifact project', artifact.project);
  const collection = assertWandbName('artifact name', artifact.collection);
  const version = assertWandbName('artifact version', artifact.version);
  const kind = classifyManifest(artifact.files.map((f) => f.path));
  if (kind === 'full')
    throw finalError(
      `${artifact.fullName} is a full model; W&B Serverless Inference serves LoRA adapters only (use inference kind "process" or "endpoint")`,
    );
  if (kind === 'torch') {
    throw finalError(
      `cannot evaluate ${artifact.fullName} on W&B Inference: it holds a torch .pt adapter, and W&B Serverless LoRA loads only PEFT folders logged as type "lora". ` +
        'Use inference kind "endpoint" or "process" (evalhook converts the .pt for them), or log the adapter in PEFT format',
    );
  }
  if (kind === 'unsupported')
    throw finalError(
      `cannot evaluate ${artifact.fullName} on W&B Inference: ${unsupportedReason(artifact.files.map((f) => f.path))}`,
    );
  const { baseModel } = await checkPrerequisites(req, settings.baseModel);
  const model = `wandb-artifact:///${entity}/${project}/${collection}:${version}`;
  return {
    baseURL: settings.baseURL,
    model,
    apiKey: wandbApiKey,
    headers: { 'OpenAI-Project': `${entity}/${project}` },
    describe: { kind: 'wandb-inference', baseURL: settings.baseURL, model, baseModel },
    release: async () => {},
  };
}
