import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/jobs/keys.js';
import type { EvaluationView } from '../../src/jobs/views.js';
import { WEBHOOK_TOKEN, admin, makeFixture, type Fixture } from './fixture.js';

const base = '/api/v1/evaluations';

describe('admin API', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await makeFixture({
      rules: {
        profiles: [{ name: 'quick', judge: { baseURL: 'https://judge.example/v1', model: 'j' } }],
        rules: [{ profile: 'quick', collections: ['quick-*'] }],
      },
    });
  });
  afterAll(async () => f?.close());

  const trigger = (payload: Record<string, unknown>, headers: Record<string, string> = admin) =>
    f.app.inject({ method: 'POST', url: base, payload, headers });
  const get = (url: string, headers: Record<string, string> = admin) => f.app.inject({ url, headers });

  it('401 on every route without the admin token, and the webhook token is not an admin token', async () => {
    const calls = [
      { method: 'POST' as const, url: base },
      { method: 'GET' as const, url: base },
      { method: 'GET' as const, url: `${base}/ev-x` },
      { method: 'POST' as const, url: `${base}/ev-x/cancel` },
      { method: 'POST' as const, url: `${base}/ev-x/retry` },
    ];
    for (const c of calls) {
      expect((await f.app.inject(c)).statusCode).toBe(401);
      expect((await f.app.inject({ ...c, headers: { authorization: `Bearer ${WEBHOOK_TOKEN}` } })).statusCode).toBe(
        401,
      );
    }
  });

  it('manual trigger: 202, then 200 duplicate; urgent priority; rules pick the profile, else the default', async () => {
    const first = await trigger({ artifact: 'acme/wandb-registry-model/manual-a:v1' });
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({ status: 'queued', duplicate: false });
    const again = await trigger({ artifact: 'acme/wandb-registry-model/manual-a:v1' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ evaluationId: first.json().evaluationId, duplicate: true });
    const job = await f.service.queue.getJob(first.json().evaluationId);
    expect(job?.opts.priority).toBe(1);
    expect(job?.data).toMatchObject({ profile: 'default', trigger: { source: 'manual', eventType: 'MANUAL' } });

    const routed = await trigger({ artifact: 'acme/wandb-registry-model/quick-b:v1' });
    expect((await f.service.queue.getJob(routed.json().evaluationId))?.data.profile).toBe('quick');
    const explicit = await trigger({ artifact: 'acme/wandb-registry-model/quick-b:v1', profile: 'default' });
    expect(explicit.statusCode).toBe(202);
    expect(explicit.json().evaluationId).not.toBe(routed.json().evaluationId);
  });

  it('400 naming the field for a missing or malformed artifact and an unknown profile', async () => {
    const missing = await trigger({});
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toMatch(/body\.artifact/);
    const malformed = await trigger({ artifact: 'not a path' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().message).toMatch(/^body\.artifact: /);
    const wrongType = await trigger({ artifact: 5 });
    expect(wrongType.statusCode).toBe(400);
    const profile = await trigger({ artifact: 'e/p/c:v1', profile: 'nope' });
    expect(profile.statusCode).toBe(400);
    expect(profile.json().message).toMatch(/body\.profile: unknown profile "nope"/);
    const notJson = await f.app.inject({
      method: 'POST',
      url: base,
      payload: '{',
      headers: { ...admin, 'content-type': 'application/json' },
    });
    expect(notJson.statusCode).toBe(400);
  });

  it('GET one: the view, 404 for an unknown id, 400 for an id that cannot be one', async () => {
    const { evaluationId } = (await trigger({ artifact: 'acme/wandb-registry-model/get-me:v4' })).json<{
      evaluationId: string;
    }>();
    const res = await get(`${base}/${evaluationId}`);
    expect(res.statusCode).toBe(200);
    const view = res.json<EvaluationView>();
    expect(view).toMatchObject({
      id: evaluationId,
      status: 'queued',
      stage: 'queued',
      profile: 'default',
      artifact: { name: 'acme/wandb-registry-model/get-me:v4' },
      progress: { answersDone: 0, judgmentsDone: 0 },
      attempts: 0,
    });
    expect(Date.parse(view.timings.queuedAt)).not.toBeNaN();
    expect((await get(`${base}/ev-000000000000000000000000`)).statusCode).toBe(404);
    expect((await get(`${base}/bad:id`)).statusCode).toBe(400);
  });

  it('lists newest first, filters by artifact substring and status, and pages with an opaque cursor', async () => {
    const tag = `page-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (await trigger({ artifact: `acme/wandb-registry-model/${tag}:v${i}` })).json<{ evaluationId: string }>()
          .evaluationId,
      );

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = `artifact=${tag}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await get(`${base}?${qs}`);
      expect(res.statusCode).toBe(200);
      const page = res.json<{ items: EvaluationView[]; nextCursor: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((v) => v.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(5);
    expect(new Set(seen)).toEqual(new Set(ids));
    // Newest first.
    expect(seen[0]).toBe(ids[4]);

    const upper = await get(`${base}?artifact=${tag.toUpperCase()}&limit=100`);
    expect(upper.json().items).toHaveLength(5);
    const none = await get(`${base}?artifact=nothing-like-this&limit=100`);
    expect(none.json()).toEqual({ items: [], nextCursor: null });

    await f.app.inject({ method: 'POST', url: `${base}/${ids[0]}/cancel`, headers: admin });
    const cancelled = await get(`${base}?artifact=${tag}&status=cancelled`);
    expect(cancelled.json().items.map((v: EvaluationView) => v.id)).toEqual([ids[0]]);
    const queued = await get(`${base}?artifact=${tag}&status=queued&limit=100`);
    expect(queued.json().items).toHaveLength(4);
    expect((await get(`${base}?status=succeeded&artifact=${tag}`)).json().items).toEqual([]);
  });

  it('400 for a bad cursor, limit or status filter', async () => {
    expect((await get(`${base}?cursor=garbage`)).statusCode).toBe(400);
    expect((await get(`${base}?limit=0`)).statusCode).toBe(400);
    expect((await get(`${base}?limit=1000`)).statusCode).toBe(400);
    const status = await get(`${base}?status=done`);
    expect(status.statusCode).toBe(400);
    expect(status.json().message).toMatch(/querystring\.status/);
  });

  it('cancel sets the flag, publishes the id, is idempotent; retry clears it; 404/409 otherwise', async () => {
    const { evaluationId: id } = (
      await trigger({ artifact: `acme/wandb-registry-model/cancel-me:v${Date.now()}` })
    ).json<{ evaluationId: string }>();
    const k = keys(f.prefix);
    const sub = new Redis(f.url);
    const r = new Redis(f.url);
    const heard = new Promise<string>((resolve) => sub.on('message', (_ch: string, msg: string) => resolve(msg)));
    await sub.subscribe(k.cancelChannel);
    try {
      expect((await f.app.inject({ method: 'POST', url: `${base}/${id}/retry`, headers: admin })).statusCode).toBe(409);
      const res = await f.app.inject({ method: 'POST', url: `${base}/${id}/cancel`, headers: admin });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ id, status: 'cancelled' });
      expect(res.json().timings.cancelledAt).toBeDefined();
      expect(await heard).toBe(id);
      const flag = JSON.parse((await r.hget(k.cancelled, id)) ?? 'null') as { at: number } | null;
      expect(flag?.at).toBeGreaterThan(0);
      expect((await f.app.inject({ method: 'POST', url: `${base}/${id}/cancel`, headers: admin })).json().status).toBe(
        'cancelled',
      );

      const retried = await f.app.inject({ method: 'POST', url: `${base}/${id}/retry`, headers: admin });
      expect(retried.statusCode).toBe(200);
      expect(retried.json().status).toBe('queued');
    } finally {
      sub.disconnect();
      r.disconnect();
    }
    expect(
      (await f.app.inject({ method: 'POST', url: `${base}/ev-000000000000000000000000/cancel`, headers: admin }))
        .statusCode,
    ).toBe(404);
    expect(
      (await f.app.inject({ method: 'POST', url: `${base}/ev-000000000000000000000000/retry`, headers: admin }))
        .statusCode,
    ).toBe(404);
  });
});
