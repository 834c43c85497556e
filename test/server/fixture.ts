/** Builds a real app (real Redis, unique prefix) for one test and tears it down with its keys. */
import { createHmac } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { createEvaluationService, type EvaluationService } from '../../src/jobs/producer.js';
import { loggerFor } from '../../src/logger.js';
import { serviceOptions } from '../../src/runtime.js';
import { buildApp, type App } from '../../src/server/app.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { logSink } from '../helpers/log-sink.js';

export const WEBHOOK_TOKEN = 'whk_test_token_0123456789abcdef';
export const ADMIN_TOKEN = 'adm_test_token_0123456789abcdef';
export const WEBHOOK_SECRET = 'whsec_test_secret_0123456789abcdef';

export interface Fixture {
  app: App;
  config: Config;
  service: EvaluationService;
  prefix: string;
  url: string;
  /** Everything the app logged (JSON lines), when captureLogs was set. */
  logs: () => string;
  close: () => Promise<void>;
}

export interface FixtureOptions {
  secret?: boolean;
  rules?: { profiles?: Array<Record<string, unknown>>; rules?: Array<Record<string, unknown>> };
  redisUrl?: string;
  captureLogs?: boolean;
  env?: Record<string, string>;
}

export async function makeFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const url = opts.redisUrl ?? redisUrl();
  const prefix = uniquePrefix('srv');
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: opts.captureLogs ? 'debug' : 'silent',
    REDIS_URL: url,
    QUEUE_PREFIX: prefix,
    WEBHOOK_TOKEN,
    ADMIN_TOKEN,
    ...(opts.secret ? { WEBHOOK_SECRET } : {}),
    ...(opts.rules ? { EVALHOOK_CONFIG: 'rules.json' } : {}),
    ...opts.env,
  };
  const config = loadConfig(env, () => JSON.stringify(opts.rules ?? {}));
  const sink = logSink();
  const logger = loggerFor(config, sink.destination);
  const service = createEvaluationService(serviceOptions(config, logger));
  const app = buildApp({ config, service, logger });
  await app.ready();
  return {
    app,
    config,
    service,
    prefix,
    url,
    logs: sink.text,
    close: async () => {
      await app.close();
      await deleteKeys(url, prefix).catch(() => undefined);
    },
  };
}

export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 1000, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, batch] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (batch.length) await r.del(...batch);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export function sign(body: string, encoding: 'base64' | 'hex' = 'base64', secret = WEBHOOK_SECRET): string {
  return createHmac('sha256', secret).update(body).digest(encoding);
}

let n = 0;
/** A realistic delivery (the README's template), each call a new artifact version unless `version` is given. */
export function delivery(over: Record<string, unknown> = {}): Record<string, unknown> {
  n += 1;
  return {
    source: 'wandb-automation',
    event_type: 'LINK_ARTIFACT',
    event_author: 'alice',
    entity_name: 'acme-org',
    project_name: 'wandb-registry-model',
    artifact_collection_name: 'Lemon Mold Detector',
    artifact_version: `wandb-artifact://_id/${Buffer.from(`Artifact:${100000 + n}${Date.now() % 100000}`).toString('base64')}`,
    artifact_version_string: `acme-org/wandb-registry-model/Lemon Mold Detector:v${n}`,
    alias: '',
    ...over,
  };
}

export function webhookHeaders(_body: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}`, ...extra };
}

export const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
