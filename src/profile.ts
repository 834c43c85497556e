/**
 * An evaluation profile: what to run for a matching artifact version (benchmark, judge, inference,
 * W&B target, write-back). Profiles carry names of env variables for secrets, never secret values,
 * so job data and W&B config stay clean.
 */
import { z } from 'zod';

const slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, - and _ (max 63)');
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name');
const url = z.url({ protocol: /^https?$/ });

export const JudgeSettings = z.object({
  baseURL: url,
  model: z.string().min(1),
  /** Env variable that holds the judge API key. */
  apiKeyEnv: envName.default('JUDGE_API_KEY'),
  /** Ceiling of the adaptive in-flight limit (which starts at JUDGE_START_CONCURRENCY). */
  concurrency: z.number().int().positive().default(64),
  /** Requests per minute shared by all workers (0 = unlimited). */
  rpm: z.number().int().nonnegative().default(0),
  /** Tokens per minute shared by all workers: estimated prompt + max_tokens reserved per call (0 = unlimited). */
  tpm: z.number().int().nonnegative().default(0),
  structured: z.boolean().default(false),
  /** Re-ask when a judge output has no score, before it counts as -1. */
  parseRetries: z.number().int().nonnegative().default(1),
});
export type JudgeSettings = z.infer<typeof JudgeSettings>;

/** Where the judge's adaptive limit starts: hosted APIs take 16 at once from any tier. */
export const JUDGE_START_CONCURRENCY = 16;

const inferenceCommon = {
  /** Ceiling of the adaptive in-flight limit per inference target (start: see startConcurrency). */
  concurrency: z.number().int().positive().default(256),
  /** Base model for LoRA adapters whose adapter_config.json does not name one (torchtune). */
  baseModel: z.string().min(1).optional(),
  readyTimeoutSec: z.number().positive().default(600),
};

export const InferenceSettings = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('endpoint'),
    baseURL: url,
    /** Served model name; for a LoRA artifact on vLLM the adapter gets its own unique name instead. */
    model: z.string().min(1).optional(),
    apiKeyEnv: envName.default('INFERENCE_API_KEY'),
    /** auto: load LoRA artifacts at runtime when the server supports it. */
    lora: z.enum(['auto', 'never']).default('auto'),
    /** Directory the inference server can read adapters from (shared volume). */
    loraDir: z.string().min(1).optional(),
    ...inferenceCommon,
  }),
  z.object({
    kind: z.literal('wandb-inference'),
    baseURL: url.default('https://api.inference.wandb.ai/v1'),
    ...inferenceCommon,
  }),
  z.object({
    kind: z.literal('process'),
    /** argv array, never a shell string; placeholders: {modelDir} {port} {name} {baseModel} {adapterDir} */
    command: z.array(z.string().min(1)).min(1),
    gpus: z.number().int().nonnegative().default(1),
    ...inferenceCommon,
  }),
]);
export type InferenceSettings = z.infer<typeof InferenceSettings>;

/**
 * Where a target's adaptive limit starts. vLLM-style servers batch every request in flight (one
 * 8B model on one GPU takes 64 generations little slower each than 8), so they start wide; a shared
 * serverless endpoint starts narrower and grows if its latency allows.
 */
export function startConcurrency(inference: InferenceSettings): number {
  const start = inference.kind === 'wandb-inference' ? 16 : 64;
  return Math.min(start, inference.concurrency);
}

export const WriteBack = z.object({
  /** Put score and run URL into the evaluated version's metadata. */
  metadata: z.boolean().default(true),
  threshold: z.number().min(0).max(10).optional(),
  aliasOnPass: z.string().regex(/^[^/:]{1,128}$/).optional(),
  tagOnPass: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/).optional(),
  /** Only promote when the score beats the version currently holding `production`. */
  mustBeatProduction: z.boolean().default(false),
});
export type WriteBack = z.infer<typeof WriteBack>;

export const Profile = z.object({
  name: slug,
  benchmark: z.enum(['mt-bench', 'japanese-mt-bench']).default('mt-bench'),
  mode: z.enum(['single', 'pairwise-baseline']).default('single'),
  /** pairwise-baseline: the baseline's FastChat model_answer .jsonl (operator config, never payload). */
  baseline: z.string().min(1).optional(),
  systemPrompt: z.string().optional(),
  judge: JudgeSettings,
  inference: InferenceSettings,
  wandb: z.object({ entity: z.string().min(1).optional(), project: z.string().min(1).default('evalhook') }).default({ project: 'evalhook' }),
  writeBack: WriteBack.default({ metadata: true, mustBeatProduction: false }),
  /** Evaluation fails when the share of -1 judgments exceeds this. */
  maxInvalidShare: z.number().min(0).max(1).default(0.1),
}).refine((p) => p.mode !== 'pairwise-baseline' || p.baseline, { message: 'mode pairwise-baseline needs `baseline` (a FastChat model_answer .jsonl)', path: ['baseline'] });
export type Profile = z.infer<typeof Profile>;
export type ProfileInput = z.input<typeof Profile>;

/** Which deliveries start which profile. Globs (`*`) match collection/registry names. */
export const Rule = z.object({
  profile: slug,
  collections: z.array(z.string().min(1)).optional(),
  registries: z.array(z.string().min(1)).optional(),
  aliases: z.array(z.string().min(1)).optional(),
  eventTypes: z.array(z.string().min(1)).optional(),
});
export type Rule = z.infer<typeof Rule>;
