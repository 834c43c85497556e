import { afterAll, beforeAll, expect, it } from 'vitest';
import { delivery, makeFixture, webhookHeaders, type Fixture } from './fixture.js';

let f: Fixture;
beforeAll(async () => {
  f = await makeFixture();
});
afterAll(async () => f?.close());

it('100 concurrent identical deliveries make exactly one job: one 202, 99 duplicates with the same id', async () => {
  const body = JSON.stringify(delivery());
  const replies = await Promise.all(
    Array.from({ length: 100 }, () =>
      f.app.inject({ method: 'POST', url: '/webhooks/wandb', payload: body, headers: webhookHeaders(body) }),
    ),
  );
  const codes = replies.map((r) => r.statusCode);
  expect(codes.filter((c) => c === 202)).toHaveLength(1);
  expect(codes.filter((c) => c === 200)).toHaveLength(99);
  const ids = new Set(replies.map((r) => r.json<{ evaluationId: string }>().evaluationId));
  expect(ids.size).toBe(1);
  expect(replies.filter((r) => r.json<{ duplicate: boolean }>().duplicate)).toHaveLength(99);

  // In Redis: one job hash and one queue entry, nothing else left behind.
  const counts = await f.service.queue.getJobCounts();
  expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1);
  const [id] = [...ids];
  expect(await f.service.queue.getJob(id ?? '')).toBeDefined();
});

it('100 concurrent deliveries of 10 different versions make exactly 10 jobs', async () => {
  const bodies = Array.from({ length: 10 }, () => JSON.stringify(delivery()));
  const before = Object.values(await f.service.queue.getJobCounts()).reduce((a, b) => a + b, 0);
  const replies = await Promise.all(
    Array.from({ length: 100 }, (_, i) => {
      const body = bodies[i % 10] ?? '';
      return f.app.inject({ method: 'POST', url: '/webhooks/wandb', payload: body, headers: webhookHeaders(body) });
    }),
  );
  expect(replies.filter((r) => r.statusCode === 202)).toHaveLength(10);
  const after = Object.values(await f.service.queue.getJobCounts()).reduce((a, b) => a + b, 0);
  expect(after - before).toBe(10);
});
