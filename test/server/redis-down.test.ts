import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRedisServer, type OwnedRedis } from '../helpers/redis-server.js';
import { admin, delivery, makeFixture, webhookHeaders, type Fixture } from './fixture.js';

let redis: OwnedRedis;
let f: Fixture;
beforeAll(async () => {
  redis = await startRedisServer();
  f = await makeFixture({ redisUrl: redis.url });
});
afterAll(async () => {
  await f?.close();
  await redis?.dispose();
});

const post = (body: string) => f.app.inject({ method: 'POST', url: '/webhooks/wandb', payload: body, headers: webhookHeaders(body) });

it('answers 503 within 2 s while Redis is down, stays healthy, and recovers when Redis is back', async () => {
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
    expect(elapsed).toBeLessThan(2_000);
  }
  const t0 = performance.now();
  const list = await f.app.inject({ url: '/api/v1/evaluations', headers: admin });
  expect(list.statusCode).toBe(503);
  const ready = await f.app.inject({ url: '/readyz' });
  expect(ready.statusCode).toBe(503);
  expect(ready.json()).toEqual({ status: 'unavailable', redis: 'down' });
  expect(performance.now() - t0).toBeLessThan(4_000);
  expect((await f.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  const metrics = await f.app.inject({ url: '/metrics' });
  expect(metrics.statusCode).toBe(200);

  await redis.restart();
  // ioredis reconnects on its own (retry every <= 1 s); poll readiness rather than sleep a guess.
  await expect.poll(async () => (await f.app.inject({ url: '/readyz' })).statusCode, { timeout: 10_000, interval: 100 }).toBe(200);
  expect((await post(JSON.stringify(delivery()))).statusCode).toBe(202);
});

it('answers 503 within 2 s when Redis was never reachable since boot, and 202 once it comes up', async () => {
  const own = await startRedisServer();
  await own.stop();
  const g = await makeFixture({ redisUrl: own.url });
  try {
    const t0 = performance.now();
    const res = await post2(g, JSON.stringify(delivery()));
    expect(res.statusCode).toBe(503);
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect((await g.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    await own.restart();
    await expect.poll(async () => (await g.app.inject({ url: '/readyz' })).statusCode, { timeout: 10_000, interval: 100 }).toBe(200);
    expect((await post2(g, JSON.stringify(delivery()))).statusCode).toBe(202);
  } finally {
    await g.close();
    await own.dispose();
  }
});

function post2(g: Fixture, body: string) {
  return g.app.inject({ method: 'POST', url: '/webhooks/wandb', payload: body, headers: webhookHeaders(body) });
}

it('answers 503 within 2 s when Redis hangs (process stopped, socket open) rather than hanging the request', async () => {
  const own = await startRedisServer();
  const g = await makeFixture({ redisUrl: own.url });
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
    expect(performance.now() - t0).toBeLessThan(2_000);
  } finally {
    process.kill(pid, 'SIGCONT');
    await g.close();
    await own.dispose();
  }
});
