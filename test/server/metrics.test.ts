/**
 * /metrics under scale and abuse (issue 14, item 1): its Redis cost does not grow with the number
 * of jobs, concurrent scrapes share one rendering, METRICS_TOKEN guards it, METRICS_PORT moves it
 * (with the health routes) to an internal listener, and evaluation durations come from workers.
 */
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type OwnedRedis } from '../helpers/redis-server.js';
import { redisUrl } from '../helpers/redis.js';
import { startStack } from '../helpers/stack.js';
import { createEvaluationService } from '../../src/jobs/producer.js';
import { serviceOptions } from '../../src/runtime.js';
import { buildApps } from '../../src/server/app.js';
import { delivery, makeFixture, webhookHeaders, type Fixture } from './fixture.js';

const TOKEN = 'metrics-token-0123456789';

/** Commands Redis processed while `fn` ran (this Redis serves only the test). */
async function commandsDuring(probe: Redis, fn: () => Promise<unknown>): Promise<number> {
  const count = async () => Number(/total_commands_processed:(\d+)/.exec(await probe.info('stats'))?.[1]);
  const before = await count();
  await fn();
  // The INFO call itself is counted once.
  return (await count()) - before - 1;
}

describe('scrape cost', () => {
  let own: OwnedRedis;
  let probe: Redis;
  beforeAll(async () => {
    own = await startRedisServer();
    probe = new Redis(own.url);
  });
  afterAll(async () => {
    probe?.disconnect();
    await own?.dispose();
  });

  /** A fresh app (empty counts cache) on `prefix`, warmed up so connection set-up is not counted. */
  async function scrapeCost(prefix: string, concurrent: number): Promise<{ commands: number; bodies: string[] }> {
    const f = await makeFixture({ redisUrl: own.url, env: { QUEUE_PREFIX: prefix } });
    try {
      const body = JSON.stringify(
        delivery({ artifact_version_string: 'acme-org/wandb-registry-model/warm:v1', artifact_version: '' }),
      );
      await f.app.inject({ method: 'POST', url: '/webhooks/wandb', payload: body, headers: webhookHeaders(body) });
      await f.service.queue.waitUntilReady();
      await f.service.ping();
      let bodies: string[] = [];
      const commands = await commandsDuring(probe, async () => {
        const replies = await Promise.all(Array.from({ length: concurrent }, () => f.app.inject({ url: '/metrics' })));
        bodies = replies.map((r) => r.body);
      });
      return { commands, bodies };
    } finally {
      await f.app.close();
    }
  }

  it('costs the same few Redis commands with 20 or 2,000 jobs, and 32 concurrent scrapes cost what one does', async () => {
    const prefix = `scrape-${Date.now()}`;
    const service = createEvaluationService({
      connection: own.url,
      prefix,
      logger: (await import('pino')).pino({ level: 'silent' }),
    });
    const add = async (from: number, n: number) => {
      for (let i = from; i < from + n; i += 200) {
        await Promise.all(
          Array.from({ length: Math.min(200, from + n - i) }, (_, j) =>
            service.enqueue({
              evaluationId: '',
              profile: 'default',
              artifact: { name: `acme/p/c:v${i + j}` },
              trigger: { source: 'manual', eventType: 'MANUAL', receivedAt: Date.now() },
            }),
          ),
        );
      }
    };
    try {
      await add(0, 20);
      const small = await scrapeCost(prefix, 1);
      await add(20, 1_980);
      const big = await scrapeCost(prefix, 1);
      const crowd = await scrapeCost(prefix, 32);
      expect(small.commands).toBeGreaterThan(0);
      // Two HGETALLs and BullMQ's counts script (which Redis counts with its 8 O(1) LLEN/ZCARD/LINDEX calls).
      expect(small.commands).toBeLessThanOrEqual(11);
      expect(big.commands).toBe(small.commands);
      expect(crowd.commands).toBe(small.commands);
      expect(big.bodies[0]).toMatch(/evalhook_queue_jobs\{state="prioritized"\} 2001/);
      expect(new Set(crowd.bodies.map((b) => b.length)).size).toBe(1);
    } finally {
      await service.close();
    }
  });
});

describe('METRICS_TOKEN and METRICS_PORT', () => {
  let f: Fixture | undefined;
  afterAll(async () => f?.close());

  it('METRICS_TOKEN: /metrics needs the Bearer token; health routes stay open', async () => {
    f = await makeFixture({ env: { METRICS_TOKEN: TOKEN } });
    await f.app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-000000000' } })).status,
    ).toBe(401);
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('evalhook_http_requests_total');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('METRICS_PORT: /metrics, /healthz and /readyz live on the internal listener only; requests to the public one are counted there', async () => {
    const g = await makeFixture();
    await g.app.close();
    const config = { ...g.config, env: { ...g.config.env, METRICS_PORT: 9 } };
    const logger = (await import('pino')).pino({ level: 'silent' });
    const { app, internal } = buildApps({
      config,
      service: createEvaluationService(serviceOptions(config, logger)),
      logger,
    });
    expect(internal).toBeDefined();
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      await internal!.listen({ host: '127.0.0.1', port: 0 });
      const pub = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const int = `http://127.0.0.1:${(internal!.server.address() as AddressInfo).port}`;
      for (const path of ['/metrics', '/healthz', '/readyz']) expect((await fetch(`${pub}${path}`)).status).toBe(404);
      const body = JSON.stringify(delivery());
      expect(
        (await fetch(`${pub}/webhooks/wandb`, { method: 'POST', body, headers: webhookHeaders(body) })).status,
      ).toBe(202);
      expect((await fetch(`${int}/healthz`)).status).toBe(200);
      expect((await fetch(`${int}/readyz`)).status).toBe(200);
      const text = await (await fetch(`${int}/metrics`)).text();
      expect(text).toContain('evalhook_http_requests_total{method="POST",route="/webhooks/wandb",status="202"} 1');
      expect(
        (await fetch(`${int}/webhooks/wandb`, { method: 'POST', body, headers: webhookHeaders(body) })).status,
      ).toBe(404);
    } finally {
      await app.close();
    }
  });
});

it('evaluation durations are observed by the worker when a job ends, and scraped from one hash', async () => {
  const stack = await startStack({ redisUrl: redisUrl() });
  try {
    await stack.startWorker();
    const id = await stack.enqueue();
    expect(await stack.finished(id)).toBe('completed');
    const logger = (await import('pino')).pino({ level: 'silent' });
    const { app } = buildApps({
      config: stack.config,
      service: createEvaluationService(serviceOptions(stack.config, logger)),
      logger,
    });
    try {
      // The worker's 'completed' handler runs just after the job's state changes.
      await expect
        .poll(async () => (await app.inject({ url: '/metrics' })).body, { timeout: 10_000, interval: 100 })
        .toMatch(/evalhook_evaluation_duration_seconds_count\{outcome="succeeded"\} 1\n/);
      expect((await app.inject({ url: '/metrics' })).body).toMatch(
        /evalhook_evaluation_duration_seconds_bucket\{le="\+Inf",outcome="succeeded"\} 1\n/,
      );
    } finally {
      await app.close();
    }
  } finally {
    await stack.close();
  }
});
