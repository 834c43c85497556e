/**
 * What a sender can enqueue (issue 14, item 4): dedupe on the canonical node id (padding and
 * URL-safe spellings of one id are one evaluation), MAX_QUEUED (429 + Retry-After, nothing
 * written), and WEBHOOK_RATE_LIMIT per client address over real HTTP.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { delivery, makeFixture, webhookHeaders, type Fixture } from './fixture.js';

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

const post = (g: Fixture, body: string) =>
  g.app.inject({ method: 'POST', url: '/webhooks/wandb', payload: body, headers: webhookHeaders(body) });
const jobCount = async (g: Fixture) => Object.values(await g.service.queue.getJobCounts()).reduce((a, b) => a + b, 0);

it('padding and URL-safe spellings of one node id make one evaluation', async () => {
  f = await makeFixture();
  // Padded, unpadded, over-padded, and the URL-safe alphabet (same here, as this id has no + or /).
  const canonical = Buffer.from('Artifact:12345678').toString('base64');
  expect(canonical).toMatch(/=$/);
  const spellings = [
    canonical,
    canonical.replace(/=+$/, ''),
    `${canonical}==`,
    canonical.replace(/\+/g, '-').replace(/\//g, '_'),
  ];
  const replies = [];
  for (const id of spellings) {
    replies.push(
      await post(
        f,
        JSON.stringify(delivery({ artifact_version: `wandb-artifact://_id/${id}`, artifact_version_string: '' })),
      ),
    );
  }
  expect(replies.map((r) => r.statusCode)).toEqual([202, 200, 200, 200]);
  expect(new Set(replies.map((r) => r.json<{ evaluationId: string }>().evaluationId)).size).toBe(1);
  expect(await jobCount(f)).toBe(1);
  const job = (await f.service.queue.getJobs(['prioritized', 'wait']))[0];
  expect((job?.data as { artifact: { id: string } }).artifact.id).toBe(canonical);
});

it('MAX_QUEUED: beyond it a delivery gets 429 with Retry-After and nothing is written; redeliveries still dedupe', async () => {
  f = await makeFixture({ env: { MAX_QUEUED: '5' } });
  const bodies = Array.from({ length: 5 }, () => JSON.stringify(delivery()));
  for (const b of bodies) expect((await post(f, b)).statusCode).toBe(202);
  const keysBefore = (await f.service.intakeRedis.keys(`${f.prefix}:*`)).sort();
  const full = await post(f, JSON.stringify(delivery()));
  expect(full.statusCode).toBe(429);
  expect(full.headers['retry-after']).toBe('60');
  expect(full.json()).toMatchObject({ statusCode: 429, code: 'EVALHOOK_ERR_QUEUE_FULL' });
  expect(full.json<{ message: string }>().message).toContain('MAX_QUEUED');
  expect(await jobCount(f)).toBe(5);
  expect((await f.service.intakeRedis.keys(`${f.prefix}:*`)).sort()).toEqual(keysBefore);
  expect(await f.service.intakeRedis.zcard(`${f.prefix}:index:all`)).toBe(5);
  // A redelivery of a queued version is not new work: still a 200 duplicate.
  expect((await post(f, bodies[0]!)).statusCode).toBe(200);
});

it('WEBHOOK_RATE_LIMIT: a client address past its per-minute budget gets 429 with Retry-After (counted in Redis), before the token check', async () => {
  f = await makeFixture({ env: { WEBHOOK_RATE_LIMIT: '3' } });
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}/webhooks/wandb`;
  const send = (headers: Record<string, string>, body: string) => fetch(url, { method: 'POST', body, headers });
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const body = JSON.stringify(delivery());
    statuses.push((await send(webhookHeaders(body), body)).status);
  }
  expect(statuses).toEqual([202, 202, 202]);
  const body = JSON.stringify(delivery());
  const limited = await send(webhookHeaders(body), body);
  expect(limited.status).toBe(429);
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(await limited.json()).toMatchObject({ statusCode: 429, code: 'EVALHOOK_ERR_RATE_LIMIT' });
  // Token guessing is limited too.
  expect(
    (await send({ 'content-type': 'application/json', authorization: 'Bearer nope-nope-nope-nope' }, body)).status,
  ).toBe(429);
  expect(await jobCount(f)).toBe(3);
  expect(await f.service.intakeRedis.keys(`${f.prefix}:rate-limit:*`)).toHaveLength(1);
  // Unset (the default): no limit.
  const g = await makeFixture();
  try {
    for (let i = 0; i < 5; i++) {
      const b = JSON.stringify(delivery());
      expect((await post(g, b)).statusCode).toBe(202);
    }
  } finally {
    await g.close();
  }
});
