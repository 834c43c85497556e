/**
 * The one secret policy (src/secrets.ts) and the places that apply it: the logger, the W&B run
 * config and a launched server's environment all use the same definitions these tests check.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { loggerFor } from '../src/logger.js';
import {
  CENSOR,
  CHILD_ENV_ALLOWED,
  childEnv,
  isCredentialEnvName,
  isSecretKey,
  redactUrlPasswords,
  secretValues,
  urlPassword,
  withoutQuery,
} from '../src/secrets.js';
import { runConfig } from '../src/wandb/run.js';
import { artifact } from './inference/helpers.js';
import { profile, runContext } from './wandb/helpers.js';
import { logSink } from './helpers/log-sink.js';

const BASE_ENV = { WEBHOOK_TOKEN: 'webhook-token-0123456789', ADMIN_TOKEN: 'admin-token-0123456789ab' };

describe('isSecretKey', () => {
  it('marks credential names in every spelling and leaves token counts and tokenizers alone', () => {
    const secret = [
      'token',
      'HF_TOKEN',
      'accessToken',
      'access_token',
      'x-auth-token',
      'WANDBToken',
      'apiKey',
      'api_key',
      'x-api-key',
      'apikey',
      'OPENAI_API_KEY',
      'apiKeyEnv',
      'WEBHOOK_SECRET',
      'AWS_SECRET_ACCESS_KEY',
      'password',
      'dbPassword',
      'passwd',
      'authorization',
      'x-wandb-signature',
      'cookie',
      'set-cookie',
      'credentials',
      'private_key',
    ];
    const plain = [
      'max_tokens',
      'judge_prompt_tokens',
      'promptTokens',
      'tokens',
      'tokenizer',
      'tokenCount',
      'model',
      'base_url',
      'keys',
      'monkey',
      'apis',
    ];
    for (const k of secret) expect(isSecretKey(k), k).toBe(true);
    for (const k of plain) expect(isSecretKey(k), k).toBe(false);
  });
});

describe('isCredentialEnvName', () => {
  it('is isSecretKey plus any KEY word, for env values a profile would hold in plain text', () => {
    for (const k of ['HF_TOKEN', 'WANDB_API_KEY', 'AWS_ACCESS_KEY_ID', 'SSH_KEY', 'DB_PASSWORD', 'CLIENT_SECRET'])
      expect(isCredentialEnvName(k), k).toBe(true);
    for (const k of ['TOKENIZERS_PARALLELISM', 'MAX_TOKENS', 'HF_HOME', 'VLLM_LOGGING_LEVEL', 'KEYCLOAK_URL'])
      expect(isCredentialEnvName(k), k).toBe(false);
  });
});

describe('secretValues', () => {
  it('holds every key and token of the config, OPENAI_API_KEY next to JUDGE_API_KEY, and the REDIS_URL password (raw and decoded)', () => {
    const config = loadConfig({
      ...BASE_ENV,
      WEBHOOK_SECRET: 'webhook-signing-secret-1',
      REDIS_URL: 'redis://worker:p%40ss-word-9999@redis.internal:6380/2',
      JUDGE_API_KEY: 'judge-key-111111111',
      OPENAI_API_KEY: 'openai-key-222222222',
      WANDB_API_KEY: 'wandb-key-333333333',
      INFERENCE_API_KEY: 'inference-key-44444444',
      JUDGE_BASE_URL: 'https://judge:judge-url-pw-5555@judge.example/v1',
    });
    const values = secretValues(config);
    for (const v of [
      'webhook-token-0123456789',
      'admin-token-0123456789ab',
      'webhook-signing-secret-1',
      'judge-key-111111111',
      'openai-key-222222222',
      'wandb-key-333333333',
      'inference-key-44444444',
      'p%40ss-word-9999',
      'p@ss-word-9999',
      'judge-url-pw-5555',
    ]) {
      expect(values, v).toContain(v);
    }
    expect(values).not.toContain('worker');
  });

  it('the root logger (loggerFor, what evalhook serve|worker uses) never writes the REDIS_URL password, even a short one inside a URL', () => {
    const config = loadConfig({
      ...BASE_ENV,
      REDIS_URL: 'redis://:long-redis-password-77@10.0.0.1:6379',
      OPENAI_API_KEY: 'openai-key-222222222',
      JUDGE_API_KEY: 'judge-key-111111111',
    });
    const s = logSink();
    const log = loggerFor(config, s.destination);
    log.info({ redis: config.env.REDIS_URL }, `connecting to ${config.env.REDIS_URL}`);
    log.warn(`bare password long-redis-password-77 in a message; the fallback key openai-key-222222222 too`);
    log.info({ upstream: 'rediss://admin:hunter2@cache.example:6380' }, 'short password');
    const text = s.text();
    for (const leaked of ['long-redis-password-77', 'openai-key-222222222', 'hunter2'])
      expect(text, leaked).not.toContain(leaked);
    expect(text).toContain(`rediss://admin:${CENSOR}@cache.example:6380`);
    expect(text).toContain('10.0.0.1:6379');
    for (const line of text.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});

describe('URL credentials', () => {
  it('passwords are found in a URL and replaced in free text, presigned queries are cut; URLs without either are untouched', () => {
    expect(urlPassword('redis://:pw%2Fx@h:1')).toEqual(['pw%2Fx', 'pw/x']);
    expect(urlPassword('redis://h:6379')).toEqual([]);
    expect(urlPassword('not a url')).toEqual([]);
    expect(withoutQuery('https://storage.example/bucket/f?X-Goog-Signature=abc&Expires=1')).toBe(
      'https://storage.example/bucket/f?…',
    );
    expect(withoutQuery('https://storage.example/bucket/f')).toBe('https://storage.example/bucket/f');
    expect(redactUrlPasswords('a redis://u:pw@h:1/0 b http://x@y c https://h/p?q=a:b@c')).toBe(
      `a redis://u:${CENSOR}@h:1/0 b http://x@y c https://h/p?q=a:b@c`,
    );
  });
});

describe('W&B run config', () => {
  it('drops every entry under a credential name (as isSecretKey decides) and URL passwords, keeping token counts', () => {
    const ctx = runContext(artifact());
    ctx.config.inference = {
      kind: 'endpoint',
      base_url: 'http://user:infer-pw-123@vllm:8000/v1',
      apiKey: 'sk-x',
      headers: { Authorization: 'Bearer x', 'x-wandb-signature': 'sig' },
    };
    ctx.config.judge = { model: 'judge-model-1', webhookSignature: 'sig-2', hf_token: 'hf-3' };
    const cfg = runConfig({ ...ctx, profile: profile() });
    const text = JSON.stringify(cfg);
    for (const leaked of ['sk-x', 'Bearer x', '"sig"', 'sig-2', 'hf-3', 'infer-pw-123'])
      expect(text, leaked).not.toContain(leaked);
    expect(cfg.generation).toEqual({ max_tokens: 1024 });
    expect((cfg.inference as Record<string, unknown>).base_url).toBe(`http://user:${CENSOR}@vllm:8000/v1`);
    const walk = (v: unknown): void => {
      if (typeof v !== 'object' || v === null) return;
      for (const [k, x] of Object.entries(v)) {
        expect(isSecretKey(k), k).toBe(false);
        walk(x);
      }
    };
    walk(cfg);
  });
});

describe('childEnv', () => {
  it('passes the allow-list, the named extras and the set values; nothing else', () => {
    const parent = {
      PATH: '/bin',
      HOME: '/h',
      LC_ALL: 'C',
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      VLLM_LOGGING_LEVEL: 'INFO',
      HF_TOKEN: 'hf',
      REDIS_URL: 'redis://:p@h',
      JUDGE_API_KEY: 'k',
      AWS_SECRET_ACCESS_KEY: 's',
      CUDA_VISIBLE_DEVICES: '0,1,2,3',
    };
    const env = childEnv(parent, ['HF_TOKEN'], { CUDA_VISIBLE_DEVICES: '2' });
    expect(env).toEqual({
      PATH: '/bin',
      HOME: '/h',
      LC_ALL: 'C',
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      VLLM_LOGGING_LEVEL: 'INFO',
      HF_TOKEN: 'hf',
      CUDA_VISIBLE_DEVICES: '2',
    });
    for (const k of [
      'REDIS_URL',
      'JUDGE_API_KEY',
      'WANDB_API_KEY',
      'OPENAI_API_KEY',
      'WEBHOOK_TOKEN',
      'ADMIN_TOKEN',
      'AWS_SECRET_ACCESS_KEY',
      'HF_TOKEN',
    ])
      expect(CHILD_ENV_ALLOWED.test(k), k).toBe(false);
  });
});
