/**
 * The admin list at scale (issue 14, item 2): pages come from the Redis status index, so a page
 * costs the same with 60 or 3,000 retained jobs; paging is complete and ordered; a status filter
 * reads its own set; an operation that overruns REDIS_DEADLINE_MS while Redis is up answers 504
 * naming it, never "Redis unavailable".
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationView } from '../../src/jobs/views.js';
import { startRedisServer, type OwnedRedis } from '../helpers/redis-server.js';
import { admin, delivery, makeFixture, webhookHeaders, type Fixture } from './fixture.js';

let own: OwnedRedis;
let probe: Redis;
let f: Fixture;
beforeAll(async () => {
  own = await startRedisServer();
  probe = new Redis(own.url);
  f = await makeFixture({ redisUrl: own.url });
});
afterAll(async () => {
  await f?.close();
  probe?.disconnect();
  await own?.dispose();
});

async function enqueueMany(from: number, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < from + n; i += 250) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(250, from + n - i) }, (_, j) =>
        f.service.enqueue({
          evaluationId: '',
          profile: 'default',
          artifact: { name: `acme/p/c:v${i + j}` },
          trigger: { source: 'manual', eventType: 'MANUAL', receivedAt: Date.now() },
        }),
      ),
    );
    ids.push(...batch.map((r) => r.evaluationId));
  }
  return ids;
}

async function commandsFor(fn: () => Promise<unknown>): Promise<number> {
  const count = async () => Number(/total_commands_processed:(\d+)/.exec(await probe.info('stats'))?.[1]);
  const before = await count();
  await fn();
  return (await count()) - before - 1;
}

const list = async (query: string) => {
  const res = await f.app.inject({ url: `/api/v1/evaluations${query}`, headers: admin });
  expect(res.statusCode).toBe(200);
  return res.json<{ items: EvaluationView[]; nextCursor: string | null }>();
};

describe('list over the index', () => {
  it('a page costs the same Redis commands with 60 or 3,000 jobs, and paging returns every job once, newest first', async () => {
    await enqueueMany(0, 60);
    const small = await commandsFor(() => list('?limit=50'));
    await enqueueMany(60, 2_940);
    const big = await commandsFor(() => list('?limit=50'));
    expect(big).toBe(small);

    const seen: EvaluationView[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page = await list(`?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.items);
      cursor = page.nextCursor;
    }
    expect(seen).toHaveLength(3_000);
    expect(new Set(seen.map((v) => v.id)).size).toBe(3_000);
    const keys = seen.map((v) => [Date.parse(v.timings.queuedAt), v.id] as const);
    for (let i = 1; i < keys.length; i++) {
      const [t0, id0] = keys[i - 1]!;
      const [t1, id1] = keys[i]!;
      expect(t0 > t1 || (t0 === t1 && id0 > id1)).toBe(true);
    }
  });

  it('a status filter reads that status set: cancelled evaluations list alone, and a job BullMQ removed leaves the index', async () => {
    const ids = await enqueueMany(10_000, 5);
    for (const id of ids.slice(0, 3))
      expect(
        (await f.app.inject({ method: 'POST', url: `/api/v1/evaluations/${id}/cancel`, headers: admin })).statusCode,
      ).toBe(200);
    const cancelled = await list('?status=cancelled&limit=100');
    expect(cancelled.items.map((v) => v.id).sort()).toEqual(ids.slice(0, 3).sort());
    expect(cancelled.nextCursor).toBeNull();

    await f.service.queue.remove(ids[3]!);
    const queued = await list('?status=queued&limit=100');
    expect(queued.items.map((v) => v.id)).not.toContain(ids[3]);
    await expect.poll(() => probe.zscore(`${f.prefix}:index:all`, ids[3]!)).toBeNull();
  });
});

it('an overrun while Redis answers is a 504 naming the operation; the webhook too; and /readyz stays 200', async () => {
  const [id] = await enqueueMany(20_000, 1);
  // A short deadline only here: seeding thousands of jobs on a busy machine must not trip it.
  const g = await makeFixture({ redisUrl: own.url, env: { REDIS_DEADLINE_MS: '500', QUEUE_PREFIX: f.prefix } });
  // Writes (and scripts) wait while reads and PING are served: Redis is up, the operation is slow.
  await probe.call('CLIENT', 'PAUSE', '3000', 'WRITE');
  try {
    const cancel = await g.app.inject({ method: 'POST', url: `/api/v1/evaluations/${id}/cancel`, headers: admin });
    expect(cancel.statusCode).toBe(504);
    expect(cancel.json()).toMatchObject({ code: 'EVALHOOK_ERR_TIMEOUT' });
    expect(cancel.json<{ message: string }>().message).toMatch(/^cancel evaluation did not finish within 500 ms/);
    const body = JSON.stringify(delivery());
    const hook = await g.app.inject({
      method: 'POST',
      url: '/webhooks/wandb',
      payload: body,
      headers: webhookHeaders(body),
    });
    expect(hook.statusCode).toBe(504);
    expect(hook.json<{ message: string }>().message).toMatch(/^enqueue did not finish/);
    expect((await g.app.inject({ url: '/readyz' })).statusCode).toBe(200);
  } finally {
    await probe.call('CLIENT', 'UNPAUSE');
    await g.app.close(); // f owns the keys
  }
});
