/**
 * kind=wandb-inference: W&B Serverless LoRA Inference loads the adapter straight from the artifact,
 * so nothing is downloaded and no GPU of ours is used. The artifact is addressed as
 * `wandb-artifact:///<entity>/<project>/<collection>:<version>` with the W&B API key and an
 * `OpenAI-Project: <entity>/<project>` header.
 */
import type { LaunchRequest, ServedModel } from '../ports.js';
import type { InferenceSettings } from '../profile.js';
import { finalError } from './errors.js';
import { classifyManifest, unsupportedReason } from './layout.js';
import { assertWandbName } from './safe-values.js';

export type WandbInferenceSettings = Extract<InferenceSettings, { kind: 'wandb-inference' }>;

export function launchWandbInference(req: LaunchRequest, settings: WandbInferenceSettings, wandbApiKey: string | undefined): ServedModel {
  if (!wandbApiKey) throw finalError('WANDB_API_KEY is not set: W&B Inference authenticates with the W&B API key');
  const { artifact } = req;
  // Names reach a URL-like model id and a header: only W&B's own name characters pass.
  const entity = assertWandbName('artifact entity', artifact.entity);
  const project = assertWandbName('artifact project', artifact.project);
  const collection = assertWandbName('artifact name', artifact.collection);
  const version = assertWandbName('artifact version', artifact.version);
  const kind = classifyManifest(artifact.files.map((f) => f.path));
  if (kind === 'full') throw finalError(`${artifact.fullName} is a full model; W&B Serverless Inference serves LoRA adapters only (use inference kind "process" or "endpoint")`);
  if (kind === 'torch') {
    throw finalError(
      `cannot evaluate ${artifact.fullName} on W&B Inference: it holds a torch .pt adapter, and W&B Serverless LoRA loads only PEFT folders logged as type "lora". ` +
        'Use inference kind "endpoint" or "process" (evalhook converts the .pt for them), or log the adapter in PEFT format',
    );
  }
  if (kind === 'unsupported') throw finalError(`cannot evaluate ${artifact.fullName} on W&B Inference: ${unsupportedReason(artifact.files.map((f) => f.path))}`);
  const model = `wandb-artifact:///${entity}/${project}/${collection}:${version}`;
  const baseModel = [artifact.metadata.base_model, artifact.metadata.base_model_name_or_path, settings.baseModel].find((v) => typeof v === 'string');
  return {
    baseURL: settings.baseURL,
    model,
    apiKey: wandbApiKey,
    headers: { 'OpenAI-Project': `${entity}/${project}` },
    describe: { kind: 'wandb-inference', baseURL: settings.baseURL, model, ...(baseModel ? { baseModel } : {}) },
    release: async () => {},
  };
}
