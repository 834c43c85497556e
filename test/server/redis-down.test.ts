import { Queue } from 'bullmq';
import { redisOptions } from '../../src/runtime.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRedisServer, type OwnedRedis } from '../helpers/redis-server.js';
import { admin, delivery, makeFixture, webhookHeaders, type Fixture } from './fixture.js';

// A short REDIS_DEADLINE_MS keeps these tests quick; 503 comes only after it (the default is 5 s).
const DEADLINE = 1_000;
/** The deadline, the 1 s PING probe that tells "down" from "slow", and room for a loaded machine. */
const BOUND = DEADLINE + 1_000 + 2_000;
const env = { REDIS_DEADLINE_MS: String(DEADLINE) };
let redis: OwnedRedis;
let f: Fixture;
beforeAll(async () => {
  redis = await startRedisServer();
  f = await makeFixture({ redisUrl: redis.url, env });
});
afterAll(async () => {
  await f?.close();
  await redis?.dispose();
});

const post = (body: string) =>
  f.app.inject({ method: 'POST', url: '/webhooks/wandb', payload: body, headers: webhookHeaders(body) });

it('answers 503 once Redis has been down for REDIS_DEADLINE_MS, stays healthy, and recovers when Redis is back', async () => {
  const ok = await post(JSON.stringify(delivery()));
  expect(ok.statusCode).toBe(202);
  expect((await f.app.inject({ url: '/readyz' })).statusCode).toBe(200);

  await redis.stop();

  for (const body of [JSON.stringify(delivery()), JSON.stringify(delivery())]) {
    const t0 = performance.now();
    const res = await post(body);
    const elapsed = performance.now() - t0;
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ statusCode: 503, code: 'EVALHOOK_ERR_QUEUE_UNAVAILABLE' });
    expect(elapsed).toBeLessThan(BOUND);
  }
  const t0 = performance.now();
  const list = await f.app.inject({ url: '/api/v1/evaluations', headers: admin });
  expect(list.statusCode).toBe(503);
  const ready = await f.app.inject({ url: '/readyz' });
  expect(ready.statusCode).toBe(503);
  expect(ready.json()).toEqual({ status: 'unavailable', redis: 'down' });
  expect(performance.now() - t0).toBeLessThan(3 * BOUND);
  expect((await f.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  const metrics = await f.app.inject({ url: '/metrics' });
  expect(metrics.statusCode).toBe(200);

  await redis.restart();
  // ioredis reconnects on its own (retry every <= 1 s); poll readiness rather than sleep a guess.
  await expect
    .poll(async () => (await f.app.inject({ url: '/readyz' })).statusCode, { timeout: 10_000, interval: 100 })
    .toBe(200);
  expect((await post(JSON.stringify(delivery()))).statusCode).toBe(202);
});

it('answers 503 within the deadline when Redis was never reachable since boot, and 202 once it comes up', async () => {
  const own = await startRedisServer();
  await own.stop();
  const g = await makeFixture({ redisUrl: own.url, env });
  try {
    const t0 = performance.now();
    const res = await post2(g, JSON.stringify(delivery()));
    expect(res.statusCode).toBe(503);
    expect(performance.now() - t0).toBeLessThan(BOUND);
    expect((await g.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    await own.restart();
    await expect
      .poll(async () => (await g.app.inject({ url: '/readyz' })).statusCode, { timeout: 10_000, interval: 100 })
      .toBe(200);
    expect((await post2(g, JSON.stringify(delivery()))).statusCode).toBe(202);
  } finally {
    await g.close();
    await own.dispose();
  }
});

function post2(g: Fixture, body: string) {
  return g.app.inject({ method: 'POST', url: '/webhooks/wandb', payload: body, headers: webhookHeaders(body) });
}

it('answers 503 within the deadline when Redis hangs (process stopped, socket open) rather than hanging the request', async () => {
  const own = await startRedisServer();
  const g = await makeFixture({ redisUrl: own.url, env });
  const probe = new Redis(own.url);
  const pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
  probe.disconnect();
  expect(pid).toBeGreaterThan(0);
  try {
    expect((await post2(g, JSON.stringify(delivery()))).statusCode).toBe(202);
    process.kill(pid, 'SIGSTOP');
    const t0 = performance.now();
    const res = await post2(g, JSON.stringify(delivery()));
    expect(res.statusCode).toBe(503);
    expect(performance.now() - t0).toBeLessThan(BOUND);
  } finally {
    process.kill(pid, 'SIGCONT');
    await g.close();
    await own.dispose();
  }
});

it('a Redis restart shorter than REDIS_DEADLINE_MS costs no delivery: the webhook waits for the reconnect and answers 202', async () => {
  const own = await startRedisServer();
  // A generous deadline: the restart below must fit in it even on a loaded machine.
  const g = await makeFixture({ redisUrl: own.url, env: { REDIS_DEADLINE_MS: '20000' } });
  try {
    expect((await post2(g, JSON.stringify(delivery()))).statusCode).toBe(202);
    await own.stop();
    const pending = post2(g, JSON.stringify(delivery()));
    await own.restart();
    const res = await pending;
    expect(res.statusCode).toBe(202);
    // The 202 came through the intake's own connection; the service queue's connection (no offline
    // queue) may reconnect a moment later, so read the job back through a fresh, ready connection.
    const check = new Queue(g.service.queue.name, {
      connection: redisOptions(own.url),
      prefix: g.service.queue.opts.prefix,
    });
    try {
      await check.waitUntilReady();
      expect(await check.getJob(res.json<{ evaluationId: string }>().evaluationId)).toBeDefined();
    } finally {
      await check.close();
    }
  } finally {
    await g.close();
    await own.dispose();
  }
});
