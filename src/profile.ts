/**
 * An evaluation profile: what to run for a matching artifact version (benchmark, judge, inference,
 * W&B target, write-back). Profiles carry names of env variables for secrets, never secret values,
 * so job data and W&B config stay clean.
 */
import { z } from 'zod';
import { kubernetesFields } from './inference/kubernetes/settings.js';
import { judgePrices } from './judge-prices.js';

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
  /** USD per million tokens; default: the dated table in src/judge-prices.ts for known models. */
  prices: z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() }).strict().optional(),
  /** Fail the evaluation (final) before the judge's cost for it could exceed this many USD. */
  maxCostUsd: z.number().positive().optional(),
});
export type JudgeSettings = z.infer<typeof JudgeSettings>;

/** Where the judge's adaptive limit starts: hosted APIs take 16 at once from any tier. */
export const JUDGE_START_CONCURRENCY = 16;

/**
 * Facts a torchtune `.pt` adapter does not hold, used when neither the training run's W&B config
 * nor the artifact metadata has them (src/checkpoint/lora-facts.ts).
 */
export const LoraSettings = z.object({
  /** PEFT lora_alpha. */
  alpha: z.number().positive().optional(),
  /** torchtune (q_proj, output_proj, w1 …, output) or PEFT (o_proj, gate_proj …, lm_head) module names. */
  targetModules: z
    .array(
      z.enum([
        'q_proj',
        'k_proj',
        'v_proj',
        'output_proj',
        'o_proj',
        'w1',
        'w2',
        'w3',
        'gate_proj',
        'down_proj',
        'up_proj',
        'output',
        'lm_head',
      ]),
    )
    .min(1)
    .optional(),
  /** Head layout for the q/k RoPE row permutation when the model builder is not a known Llama 3.x one. */
  heads: z
    .object({
      numHeads: z.number().int().positive(),
      numKvHeads: z.number().int().positive(),
      dim: z.number().int().positive(),
      headDim: z.number().int().positive().optional(),
    })
    .optional(),
});
export type LoraSettings = z.infer<typeof LoraSettings>;

const inferenceCommon = {
  /** Ceiling of the adaptive in-flight limit per inference target (start: see startConcurrency). */
  concurrency: z.number().int().positive().default(256),
  /**
   * The base model LoRA adapters must have been trained on. It wins over the adapter's own
   * adapter_config.json and the artifact metadata, which are checked against it (names normalised).
   */
  baseModel: z.string().min(1).optional(),
  readyTimeoutSec: z.number().positive().default(600),
  /** The server's --max-lora-rank (vLLM's default 16): higher-rank adapters are refused before loading. */
  maxLoraRank: z.number().int().positive().default(16),
};

const KubernetesSettings = z
  .object({
    kind: z.literal('kubernetes'),
    ...kubernetesFields,
    concurrency: inferenceCommon.concurrency,
    baseModel: inferenceCommon.baseModel,
  })
  .refine((k) => k.wandbApiKeySecret || k.persistentVolumeClaim, {
    message:
      'the checkpoint needs a way into the pod: wandbApiKeySecret (init container fetches it) or persistentVolumeClaim',
    path: ['wandbApiKeySecret'],
  });

export const InferenceSettings = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('endpoint'),
    baseURL: url,
    /** Served model name; for a LoRA artifact on vLLM the adapter gets its own unique name instead. */
    model: z.string().min(1).optional(),
    apiKeyEnv: envName.default('INFERENCE_API_KEY'),
    /**
     * LoRA handling: `auto` (load LoRA artifacts at runtime when the server supports it) or `never`,
     * or an object with that `mode` plus the `.pt` conversion facts (LoraSettings).
     */
    lora: z
      .union([
        z.enum(['auto', 'never']).transform((mode) => ({ mode })),
        LoraSettings.extend({ mode: z.enum(['auto', 'never']).default('auto') }),
      ])
      .default({ mode: 'auto' }),
    /** Directory the inference server can read adapters from (shared volume). */
    loraDir: z.string().min(1).optional(),
    /**
     * Opt-in: when the artifact cannot be served here, evaluate `model` instead. The score then
     * belongs to that model: the run says so and nothing is written back to the registry.
     */
    fallbackToModel: z.boolean().default(false),
    ...inferenceCommon,
  }),
  z.object({
    kind: z.literal('wandb-inference'),
    baseURL: url.default('https://api.inference.wandb.ai/v1'),
    lora: LoraSettings.optional(),
    ...inferenceCommon,
  }),
  z.object({
    kind: z.literal('process'),
    /** argv array, never a shell string; placeholders: {modelDir} {port} {name} {baseModel} {adapterDir} */
    command: z.array(z.string().min(1)).min(1),
    gpus: z.number().int().nonnegative().default(1),
    /**
     * Extra environment variables (names) the launched server inherits from the worker, on top of
     * the allow-list (PATH, HOME, LANG, CUDA_*, NVIDIA_*, HF_HOME, VLLM_*), e.g. HF_TOKEN.
     */
    env: z.array(envName).default([]),
    lora: LoraSettings.optional(),
    ...inferenceCommon,
  }),
  KubernetesSettings,
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
  aliasOnPass: z
    .string()
    .regex(/^[^/:]{1,128}$/)
    .optional(),
  tagOnPass: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,128}$/)
    .optional(),
  /** Only promote when the score beats the version currently holding `production`. */
  mustBeatProduction: z.boolean().default(false),
});
export type WriteBack = z.infer<typeof WriteBack>;

/** `workspace,report` (default), one of them, or `off`; also given as a list. */
export const DashboardViewList = z.array(z.enum(['workspace', 'report']));
export const splitDashboardViews = (v: string) =>
  v.trim() === 'off'
    ? []
    : v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
const DashboardViews = z.preprocess((v) => (typeof v === 'string' ? splitDashboardViews(v) : v), DashboardViewList);

/** The W&B dashboard evalhook keeps for the profile's project (README: Dashboard in W&B). */
export const DashboardSettings = z.object({
  views: DashboardViews.default(['workspace', 'report']),
  /** Report title; default `MT-Bench — <project>`. */
  reportTitle: z.string().min(1).max(128).optional(),
  /** Shown under the report's title. */
  reportDescription: z.string().max(1000).optional(),
});
export type DashboardSettings = z.infer<typeof DashboardSettings>;

export const Profile = z
  .object({
    name: slug,
    benchmark: z.enum(['mt-bench', 'japanese-mt-bench']).default('mt-bench'),
    mode: z.enum(['single', 'pairwise-baseline']).default('single'),
    /** pairwise-baseline: the baseline's FastChat model_answer .jsonl (operator config, never payload). */
    baseline: z.string().min(1).optional(),
    systemPrompt: z.string().optional(),
    judge: JudgeSettings,
    inference: InferenceSettings,
    wandb: z
      .object({ entity: z.string().min(1).optional(), project: z.string().min(1).default('evalhook') })
      .default({ project: 'evalhook' }),
    writeBack: WriteBack.default({ metadata: true, mustBeatProduction: false }),
    dashboard: DashboardSettings.default({ views: ['workspace', 'report'] }),
    /** Evaluation fails when the share of -1 judgments exceeds this. */
    maxInvalidShare: z.number().min(0).max(1).default(0.1),
  })
  .refine((p) => p.mode !== 'pairwise-baseline' || p.baseline, {
    message: 'mode pairwise-baseline needs `baseline` (a FastChat model_answer .jsonl)',
    path: ['baseline'],
  })
  .refine((p) => p.judge.maxCostUsd === undefined || judgePrices(p.judge), {
    message: 'a cost cap needs a price: set judge.prices {input, output} (USD per million tokens) for this judge model',
    path: ['judge', 'maxCostUsd'],
  });
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
