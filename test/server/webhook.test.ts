import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluationIdFor } from '../../src/jobs/job-data.js';
import { QUEUE_NAME } from '../../src/jobs/keys.js';
import { WEBHOOK_TOKEN, delivery, makeFixture, sign, webhookHeaders, type Fixture } from './fixture.js';

const url = '/webhooks/wandb';

describe('POST /webhooks/wandb (token only)', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await makeFixture();
  });
  afterAll(async () => f?.close());

  const post = (body: string, headers: Record<string, string> = webhookHeaders(body)) =>
    f.app.inject({ method: 'POST', url, payload: body, headers });

  it('202 on a first delivery, with the id, status and a status URL, after the job is in Redis', async () => {
    const body = JSON.stringify(delivery());
    const res = await post(body);
    expect(res.statusCode).toBe(202);
    const reply = res.json<{ evaluationId: string; status: string; statusUrl: string; duplicate: boolean }>();
    expect(reply).toMatchObject({ status: 'queued', duplicate: false });
    expect(reply.evaluationId).toMatch(/^ev-[0-9a-f]{24}$/);
    expect(reply.statusUrl).toBe(`/api/v1/evaluations/${reply.evaluationId}`);
    const job = await f.service.queue.getJob(reply.evaluationId);
    expect(job?.data).toMatchObject({
      evaluationId: reply.evaluationId,
      profile: 'default',
      trigger: { source: 'webhook', eventType: 'LINK_ARTIFACT', author: 'alice' },
    });
  });

  it('200 duplicate with the same id on a redelivery', async () => {
    const body = JSON.stringify(delivery());
    const first = await post(body);
    const again = await post(body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ evaluationId: first.json().evaluationId, duplicate: true, status: 'queued' });
  });

  it('the same version named by node id is a duplicate even when the alias event names it differently', async () => {
    const link = delivery();
    await post(JSON.stringify(link));
    const aliasEvent = { ...link, event_type: 'ADD_ARTIFACT_ALIAS', alias: 'staging' };
    const res = await post(JSON.stringify(aliasEvent));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ duplicate: true });
  });

  it('200 ignored with a reason for other event types', async () => {
    const res = await post(JSON.stringify(delivery({ event_type: 'RUN_STATE' })));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ignored: true, reason: expect.stringContaining('RUN_STATE') });
  });

  it('200 ignored for a test delivery with literal ${...} variables and for an empty body', async () => {
    const template = JSON.stringify({
      event_type: '${event_type}',
      artifact_version_string: '${artifact_version_string}',
    });
    const res = await post(template);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ignored: true, reason: expect.stringMatching(/test delivery/) });
    const empty = await f.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${WEBHOOK_TOKEN}` } });
    expect(empty.statusCode).toBe(200);
    expect(empty.json()).toMatchObject({ ignored: true });
  });

  it('400 naming the problem for invalid JSON', async () => {
    const res = await post('{"event_type": "LINK_ARTIFACT",');
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/^body: invalid JSON/);
  });

  it('400 for a body that is JSON but not an object', async () => {
    for (const body of ['[]', '"LINK_ARTIFACT"', '42', 'null', 'true']) {
      const res = await post(body);
      expect(res.statusCode, body).toBe(400);
      expect(res.json().message).toMatch(/expected a JSON object/);
    }
  });

  it('400 naming the field for a wrong type or a malformed artifact reference', async () => {
    const wrongType = await post(JSON.stringify(delivery({ event_type: 7 })));
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().message).toMatch(/body\.event_type/);
    const badString = await post(JSON.stringify(delivery({ artifact_version_string: 'not-a-path' })));
    expect(badString.statusCode).toBe(400);
    expect(badString.json().message).toMatch(/body\.artifact_version_string/);
    const badUri = await post(JSON.stringify(delivery({ artifact_version: 'wandb-artifact://_id/!!' })));
    expect(badUri.statusCode).toBe(400);
    expect(badUri.json().message).toMatch(/body\.artifact_version:/);
  });

  it('keeps unknown fields and accepts any content type', async () => {
    const body = JSON.stringify(delivery({ model_id: 'meta-llama/Llama-3-8B', nested: { a: [1, 2] } }));
    const res = await post(body, { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'text/plain' });
    expect(res.statusCode).toBe(202);
  });

  it('413 for a body over 1 MiB', async () => {
    const body = JSON.stringify(delivery({ padding: 'x'.repeat(1024 * 1024) }));
    const res = await post(body);
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ statusCode: 413 });
  });

  it('401 without the token, with a wrong token, or with another scheme; same reply each time', async () => {
    const body = JSON.stringify(delivery());
    const replies = await Promise.all([
      post(body, { 'content-type': 'application/json' }),
      post(body, { 'content-type': 'application/json', authorization: 'Bearer wrong-token-0123456789' }),
      post(body, {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`x:${WEBHOOK_TOKEN}`).toString('base64')}`,
      }),
      post(body, { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}x` }),
    ]);
    for (const r of replies) {
      expect(r.statusCode).toBe(401);
      expect(r.body).toBe(replies[0]?.body);
    }
    const parsed = JSON.parse(body) as { artifact_version: string; artifact_version_string: string };
    const id = evaluationIdFor(
      { id: parsed.artifact_version.replace('wandb-artifact://_id/', ''), name: parsed.artifact_version_string },
      'default',
    );
    expect(await f.service.queue.getJob(id)).toBeUndefined();
  });

  it('puts production-alias deliveries ahead of ordinary ones', async () => {
    const normal = await post(JSON.stringify(delivery()));
    const prod = await post(JSON.stringify(delivery({ event_type: 'ADD_ARTIFACT_ALIAS', alias: 'production' })));
    const [a, b] = await Promise.all([
      f.service.queue.getJob(normal.json().evaluationId),
      f.service.queue.getJob(prod.json().evaluationId),
    ]);
    expect(b?.opts.priority).toBeLessThan(a?.opts.priority ?? 0);
  });

  it('stores job ids BullMQ accepts (no colon) under the configured prefix', async () => {
    const res = await post(JSON.stringify(delivery()));
    const id: string = res.json().evaluationId;
    expect(id).not.toContain(':');
    expect(f.service.queue.toKey(id)).toBe(`${f.prefix}:${QUEUE_NAME}:${id}`);
  });
});

describe('POST /webhooks/wandb with WEBHOOK_SECRET', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await makeFixture({ secret: true });
  });
  afterAll(async () => f?.close());

  const post = (body: string, signature?: string) =>
    f.app.inject({
      method: 'POST',
      url,
      payload: body,
      headers: webhookHeaders(body, signature === undefined ? {} : { 'x-wandb-signature': signature }),
    });

  it('accepts the documented base64 HMAC-SHA256 of the raw body', async () => {
    const body = JSON.stringify(delivery());
    expect((await post(body, sign(body))).statusCode).toBe(202);
  });

  it('accepts hex, with or without a sha256= prefix', async () => {
    const a = JSON.stringify(delivery());
    const b = JSON.stringify(delivery());
    expect((await post(a, sign(a, 'hex'))).statusCode).toBe(202);
    expect((await post(b, `sha256=${sign(b, 'hex')}`)).statusCode).toBe(202);
  });

  it('401 when the signature is missing, wrong, for other bytes, or made with another secret', async () => {
    const body = JSON.stringify(delivery());
    const other = JSON.stringify(delivery());
    const token401 = await f.app.inject({
      method: 'POST',
      url,
      payload: body,
      headers: { 'x-wandb-signature': sign(body) },
    });
    const replies = [
      await post(body),
      await post(body, 'not-a-signature'),
      await post(body, sign(other)),
      await post(body, sign(body, 'base64', 'another-secret-value')),
      await post(`${body} `, sign(body)),
      token401,
    ];
    for (const r of replies) {
      expect(r.statusCode).toBe(401);
      expect(r.json()).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'missing or invalid credentials' });
    }
  });

  it('checks the signature before looking at the JSON', async () => {
    expect((await post('{broken', 'AAAA')).statusCode).toBe(401);
    expect((await post('{broken', sign('{broken'))).statusCode).toBe(400);
  });
});

describe('routing to several profiles', () => {
  let f: Fixture;
  beforeAll(async () => {
    const judge = { baseURL: 'https://judge.example/v1', model: 'judge-1' };
    f = await makeFixture({
      rules: {
        profiles: [
          { name: 'quick', judge },
          { name: 'full', judge },
        ],
        rules: [
          { profile: 'quick', registries: ['model'] },
          { profile: 'full', registries: ['model'], aliases: ['production'] },
        ],
      },
    });
  });
  afterAll(async () => f?.close());

  it('queues one evaluation per matching profile and lists them all', async () => {
    const body = JSON.stringify(delivery({ event_type: 'ADD_ARTIFACT_ALIAS', alias: 'production' }));
    const res = await f.app.inject({ method: 'POST', url, payload: body, headers: webhookHeaders(body) });
    expect(res.statusCode).toBe(202);
    const reply = res.json<{ evaluationId: string; evaluations: Array<{ profile: string; evaluationId: string }> }>();
    expect(reply.evaluations.map((e) => e.profile)).toEqual(['quick', 'full']);
    expect(new Set(reply.evaluations.map((e) => e.evaluationId)).size).toBe(2);
  });

  it('200 ignored when no rule matches', async () => {
    const body = JSON.stringify(delivery({ project_name: 'p', artifact_version_string: 'team/some-project/ckpt:v3' }));
    const res = await f.app.inject({ method: 'POST', url, payload: body, headers: webhookHeaders(body) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ignored: true, reason: expect.stringMatching(/no routing rule/) });
  });
});
