/**
 * The one secret policy: which key names hold credentials, which values are secret, how a URL's
 * password or presigned signature is hidden, and what a launched process may inherit. The logger, the W&B run config and
 * the inference launchers apply it; the tests check these same definitions.
 */
import type { Config } from './config.js';

/** What a censored value is replaced with, in logs. */
export const CENSOR = '[redacted]';

/** Headers that always carry credentials (lower case, as Node delivers them). */
export const SECRET_HEADERS: readonly string[] = ['authorization', 'x-wandb-signature', 'cookie', 'set-cookie'];

/** Words that mark a credential anywhere in a key name (WEBHOOK_SECRET, dbPassword, x-wandb-signature). */
const SECRET_WORD = /secret|passw(or)?d|authorization|signature|cookie|credential|apikey/;

/**
 * Whether a key name holds a credential. Names are split into words (camelCase, `-`, `_`, `.`), so
 * `token` counts only as the last word (HF_TOKEN, accessToken, x-auth-token) and `max_tokens`,
 * `promptTokens` or `tokenizer` stay; `api` + `key` is a credential wherever it appears (apiKeyEnv too).
 */
export function isSecretKey(name: string): boolean {
  const words = wordsOf(name);
  if (words.at(-1)?.endsWith('token')) return true;
  return words.some((w, i) => SECRET_WORD.test(w) || ((w === 'api' || w === 'private') && words[i + 1] === 'key'));
}

/**
 * Stricter, for an environment variable a profile would set as a plain value: any `KEY` word counts
 * too (SSH_KEY, AWS_ACCESS_KEY_ID), while TOKENIZERS_PARALLELISM or MAX_TOKENS stay plain settings.
 */
export function isCredentialEnvName(name: string): boolean {
  return isSecretKey(name) || wordsOf(name).includes('key');
}

function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** The password of a URL (`redis://user:pw@host`), as written and decoded; [] when it has none. */
export function urlPassword(url: string | undefined): string[] {
  if (!url) return [];
  try {
    const raw = new URL(url).password;
    if (!raw) return [];
    const decoded = decodeURIComponent(raw);
    return decoded === raw ? [raw] : [raw, decoded];
  } catch {
    return [];
  }
}

/** `scheme://user:password@` with any password, in free text (log lines, error messages, W&B config). */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:@/"'\\]*:)[^\s@/"'\\]+@/gi;

/** Replaces the password of every URL in `text`; short passwords too, which value censoring skips. */
export function redactUrlPasswords(text: string): string {
  return text.includes('@') ? text.replace(URL_PASSWORD, `$1${CENSOR}@`) : text;
}

/** Presigned storage URLs carry their signature in the query: errors and logs show the URL without it. */
export function withoutQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?…`;
}

/**
 * Every secret value the configuration knows: the tokens, every API key (OPENAI_API_KEY too when
 * JUDGE_API_KEY wins over it), the keys profiles name, and the passwords in REDIS_URL and the other URLs.
 */
export function secretValues(config: Config): string[] {
  const { env } = config;
  const urls = [env.REDIS_URL, env.JUDGE_BASE_URL, env.INFERENCE_BASE_URL, env.WANDB_BASE_URL, env.PUBLIC_URL];
  for (const p of config.profiles.values())
    urls.push(p.judge.baseURL, 'baseURL' in p.inference ? p.inference.baseURL : undefined);
  const values = [
    env.WEBHOOK_TOKEN,
    env.WEBHOOK_SECRET,
    env.ADMIN_TOKEN,
    env.WANDB_API_KEY,
    env.OPENAI_API_KEY,
    env.JUDGE_API_KEY,
    env.INFERENCE_API_KEY,
    ...Object.values(config.secrets),
    ...urls.flatMap(urlPassword),
  ];
  return [...new Set(values.filter((s): s is string => typeof s === 'string' && s.length > 0))];
}

/**
 * What a launched inference server always inherits from the worker: what it needs to find its tools,
 * GPUs and model cache. Everything else (REDIS_URL, cloud keys, evalhook's own keys) stays behind
 * unless the profile names it in `inference.env`.
 */
export const CHILD_ENV_ALLOWED =
  /^(PATH|HOME|LANG|LC_[A-Z]+|HF_HOME|CUDA_[A-Z0-9_]+|NVIDIA_[A-Z0-9_]+|VLLM_[A-Z0-9_]+)$/;

/** A child's environment: the allow-listed part of `parent`, the names in `extra`, then `set`. */
export function childEnv(
  parent: NodeJS.ProcessEnv,
  extra: readonly string[],
  set: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(parent))
    if (v !== undefined && (CHILD_ENV_ALLOWED.test(k) || extra.includes(k))) env[k] = v;
  return { ...env, ...set };
}

/** A copy of plain data without the entries under credential names, at any depth (W&B run config). */
export function withoutSecretKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutSecretKeys);
  if (typeof v === 'string') return redactUrlPasswords(v);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !isSecretKey(k))
      .map(([k, x]) => [k, withoutSecretKeys(x)]),
  );
}
