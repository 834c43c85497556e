/**
 * The whole configuration: one zod schema over the environment plus an optional rules file
 * (EVALHOOK_CONFIG, YAML or JSON). loadConfig never reads process.env itself; entry points pass it.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { EvalhookError } from './errors.js';
import { DashboardViewList, Profile, splitDashboardViews, Rule, type ProfileInput } from './profile.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (def: number) => z.coerce.number().int().nonnegative().default(def);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));
/** Unset or empty = undefined; otherwise an integer in range. */
const optionalInt = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : Number(v)))
    .pipe(z.number().int().min(min).max(max).optional());
const secret = (min: number) => z.string().min(min, `must be at least ${min} characters`);

const DEFAULT_JUDGE_MODEL = 'gpt-4.1-2025-04-14';

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('evalhook'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_URL: optionalString.pipe(z.url().optional()),
  WEBHOOK_TOKEN: secret(16),
  WEBHOOK_SECRET: optionalString,
  ADMIN_TOKEN: secret(16),
  WANDB_API_KEY: optionalString,
  WANDB_BASE_URL: z.url().default('https://api.wandb.ai'),
  /** UI host for run links (the SDK's WANDB_APP_URL); derived from WANDB_BASE_URL when unset. */
  WANDB_APP_URL: optionalString.pipe(z.url().optional()),
  WANDB_ENTITY: optionalString,
  /** Organisation for registry paths without an org prefix (the SDK's WANDB_ORGANIZATION). */
  WANDB_ORGANIZATION: optionalString,
  WANDB_PROJECT: z.string().min(1).default('evalhook'),
  /** Which parts of the W&B dashboard evalhook keeps: `workspace,report`, one of them, or `off`. */
  WANDB_DASHBOARD: z.string().default('workspace,report').transform(splitDashboardViews).pipe(DashboardViewList),
  JUDGE_BASE_URL: z.url().default('https://api.openai.com/v1'),
  JUDGE_API_KEY: optionalString,
  OPENAI_API_KEY: optionalString,
  JUDGE_MODEL: z.string().min(1).default(DEFAULT_JUDGE_MODEL),
  JUDGE_CONCURRENCY: int(64),
  JUDGE_RPM: int(0),
  JUDGE_TPM: int(0),
  /** Sliding window the rpm limits are counted over; the per-window budget is rpm x window / 60 s. */
  RATE_WINDOW_MS: z.coerce.number().int().min(100).max(60_000).default(60_000),
  INFERENCE_KIND: z.enum(['endpoint', 'wandb-inference', 'process']).default('endpoint'),
  INFERENCE_BASE_URL: z.url().default('http://127.0.0.1:8000/v1'),
  INFERENCE_API_KEY: optionalString,
  INFERENCE_MODEL: optionalString,
  INFERENCE_BASE_MODEL: optionalString,
  /** inference.maxLoraRank of the environment's profile: the inference server's --max-lora-rank. */
  INFERENCE_MAX_LORA_RANK: z.coerce.number().int().positive().default(16),
  INFERENCE_CONCURRENCY: int(256),
  INFERENCE_COMMAND: optionalString,
  LORA_DIR: optionalString,
  /** evalhook's own image (pinned), run as the init container that fetches checkpoints for kind=kubernetes. */
  EVALHOOK_IMAGE: optionalString,
  BENCHMARK: z.enum(['mt-bench', 'japanese-mt-bench']).default('mt-bench'),
  MTBENCH_DATA_DIR: optionalString,
  EVALHOOK_DATA_DIR: z.string().min(1).default('.evalhook'),
  EVALHOOK_CONFIG: optionalString,
  WORKER_CONCURRENCY: z.coerce.number().int().positive().default(2),
  GPU_IDS: optionalString,
  SHUTDOWN_GRACE_MS: int(30_000),
  JOB_ATTEMPTS: z.coerce.number().int().positive().default(5),
  JOB_BACKOFF_MS: int(10_000),
  /** A SIGKILLed worker's evaluation moves to another worker after about this long. */
  JOB_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
  JOB_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(15_000),
  /** Per-call retries inside an evaluation before the job-level retry takes over. */
  CALL_ATTEMPTS: z.coerce.number().int().positive().default(6),
  CALL_BACKOFF_MS: int(1_000),
  CALL_TIMEOUT_MS: z.coerce.number().int().positive().default(300_000),
  /** Days a finished evaluation's answers/judgments stay in Redis for retries (0 = keep). */
  CHECKPOINT_TTL_DAYS: z.coerce.number().nonnegative().default(7),
  BULL_BOARD: bool.default(true),
  /** Bearer token /metrics demands when set (Prometheus `authorization` / `bearer_token`). */
  METRICS_TOKEN: optionalString,
  /** Serve /metrics, /healthz and /readyz on this separate (internal) port instead of PORT. */
  METRICS_PORT: optionalInt(1, 65535),
  /**
   * How long Redis may stay disconnected or silent before a webhook is answered 503. W&B documents
   * no webhook retries, so a Redis restart or a slow-but-alive Redis must not cost a delivery.
   */
  REDIS_DEADLINE_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** Waiting evaluations beyond which new deliveries get 429 + Retry-After and nothing is written. */
  MAX_QUEUED: z.coerce.number().int().positive().default(10_000),
  /** Requests per minute per client address on the public routes (webhook); unset = no limit. */
  WEBHOOK_RATE_LIMIT: optionalInt(1),
  /** Whole request (headers + body) must arrive within this long; a trickled body is cut off. */
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(25_000),
  /** Headers must arrive within this long (Node's headersTimeout). */
  HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(10_000),
  /** An idle socket (no request in progress, no bytes) is closed after this long. */
  HTTP_CONNECTION_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(60_000),
  /** Idle keep-alive sockets are closed after this long. */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).default(5_000),
  /** Largest artifact (sum of its files) a worker downloads; larger ones fail without retries. */
  ARTIFACT_MAX_GB: z.coerce.number().positive().default(100),
  /** The artifact cache is evicted least-recently-used down to this size after each download. */
  ARTIFACT_CACHE_MAX_GB: z.coerce.number().positive().default(200),
  /** Days a judge-cache entry lives after it is written (0 = keep). */
  JUDGE_CACHE_TTL_DAYS: z.coerce.number().nonnegative().default(90),
  /** How often the maintenance sweep (expired judge-cache entries, stale index entries) runs. */
  SWEEP_INTERVAL_MS: z.coerce.number().int().min(1_000).default(3_600_000),
});
export type Env = z.infer<typeof EnvSchema>;

const RulesFile = z.object({
  profiles: z.array(z.record(z.string(), z.unknown())).default([]),
  rules: z.array(Rule).default([]),
});

export interface Config {
  env: Env;
  profiles: Map<string, Profile>;
  rules: Rule[];
  defaultProfile: string;
  /** Secrets by env name, resolved once; profiles refer to them by name. */
  secrets: Readonly<Record<string, string | undefined>>;
}

export class ConfigError extends EvalhookError {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super('EVALHOOK_ERR_CONFIG', `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function issues(err: z.ZodError, prefix = ''): string[] {
  return err.issues.map((i) => `${prefix}${i.path.join('.') || '(root)'}: ${i.message}`);
}

/** The profile the environment describes; rules-file profiles start from it. */
function envProfile(env: Env): ProfileInput {
  const common = {
    concurrency: env.INFERENCE_CONCURRENCY,
    baseModel: env.INFERENCE_BASE_MODEL,
    maxLoraRank: env.INFERENCE_MAX_LORA_RANK,
  };
  const inference: ProfileInput['inference'] =
    env.INFERENCE_KIND === 'endpoint'
      ? {
          kind: 'endpoint',
          baseURL: env.INFERENCE_BASE_URL,
          model: env.INFERENCE_MODEL,
          loraDir: env.LORA_DIR,
          ...common,
        }
      : env.INFERENCE_KIND === 'wandb-inference'
        ? { kind: 'wandb-inference', ...common }
        : { kind: 'process', command: splitCommand(env.INFERENCE_COMMAND ?? ''), ...common };
  return {
    name: 'default',
    benchmark: env.BENCHMARK,
    judge: {
      baseURL: env.JUDGE_BASE_URL,
      model: env.JUDGE_MODEL,
      concurrency: env.JUDGE_CONCURRENCY,
      rpm: env.JUDGE_RPM,
      tpm: env.JUDGE_TPM,
    },
    inference,
    wandb: { entity: env.WANDB_ENTITY, project: env.WANDB_PROJECT },
    dashboard: { views: env.WANDB_DASHBOARD },
  };
}

/** INFERENCE_COMMAND is whitespace-split into argv (no shell, no quoting); use a rules file for more. */
function splitCommand(cmd: string): string[] {
  return cmd.split(/\s+/).filter(Boolean);
}

function mergeProfile(base: ProfileInput, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base, ...over };
  for (const key of ['judge', 'wandb', 'writeBack', 'dashboard'] as const) {
    if (isObject(over[key])) out[key] = { ...(base[key] as object | undefined), ...over[key] };
  }
  // A different inference kind replaces the block; the same kind overrides field by field.
  if (isObject(over.inference) && over.inference.kind === base.inference.kind)
    out.inference = { ...base.inference, ...over.inference };
  return out;
}

/** Settings that are tolerable on a laptop but not on a server reachable by others. */
function productionProblems(env: Env): string[] {
  if (env.NODE_ENV !== 'production') return [];
  const out: string[] = [];
  if (env.WEBHOOK_SECRET !== undefined && env.WEBHOOK_SECRET.length < 16)
    out.push('WEBHOOK_SECRET: must be at least 16 characters in production');
  if (env.ADMIN_TOKEN === env.WEBHOOK_TOKEN)
    out.push('ADMIN_TOKEN: must differ from WEBHOOK_TOKEN in production (W&B would hold the admin token)');
  if (env.METRICS_TOKEN !== undefined && env.METRICS_TOKEN.length < 16)
    out.push('METRICS_TOKEN: must be at least 16 characters in production');
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function loadConfig(
  rawEnv: NodeJS.ProcessEnv,
  readFile: (p: string) => string = (p) => readFileSync(p, 'utf8'),
): Config {
  const problems: string[] = [];
  const parsed = EnvSchema.safeParse(rawEnv);
  if (!parsed.success) throw new ConfigError(issues(parsed.error));
  const env = parsed.data;
  if (env.INFERENCE_KIND === 'process' && !env.INFERENCE_COMMAND)
    problems.push('INFERENCE_COMMAND: required when INFERENCE_KIND=process');
  problems.push(...productionProblems(env));

  const base = envProfile(env);
  const profiles = new Map<string, Profile>();
  let rules: Rule[] = [];
  let fileProfiles: Record<string, unknown>[] = [];
  if (env.EVALHOOK_CONFIG) {
    try {
      const text = readFile(env.EVALHOOK_CONFIG);
      const doc: unknown = env.EVALHOOK_CONFIG.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
      const file = RulesFile.safeParse(doc);
      if (file.success) ({ profiles: fileProfiles, rules } = file.data);
      else problems.push(...issues(file.error, `EVALHOOK_CONFIG (${env.EVALHOOK_CONFIG}) `));
    } catch (err) {
      problems.push(`EVALHOOK_CONFIG: cannot read ${env.EVALHOOK_CONFIG}: ${(err as Error).message}`);
    }
  }
  for (const input of [base as Record<string, unknown>, ...fileProfiles.map((p) => mergeProfile(base, p))]) {
    const p = Profile.safeParse(input);
    if (p.success) profiles.set(p.data.name, p.data);
    else problems.push(...issues(p.error, `profile ${String(input.name ?? '?')}: `));
  }
  for (const r of rules) if (!profiles.has(r.profile)) problems.push(`rules: unknown profile "${r.profile}"`);
  if (problems.length) throw new ConfigError(problems);

  const secretNames = new Set(['JUDGE_API_KEY', 'INFERENCE_API_KEY', 'WANDB_API_KEY']);
  for (const p of profiles.values()) {
    secretNames.add(p.judge.apiKeyEnv);
    if (p.inference.kind === 'endpoint') secretNames.add(p.inference.apiKeyEnv);
  }
  const secrets: Record<string, string | undefined> = {};
  for (const name of secretNames) secrets[name] = rawEnv[name] || undefined;
  // JUDGE_API_KEY falls back to OPENAI_API_KEY, as the openai SDK users expect.
  secrets.JUDGE_API_KEY ??= env.OPENAI_API_KEY;
  return { env, profiles, rules, defaultProfile: 'default', secrets: Object.freeze(secrets) };
}
