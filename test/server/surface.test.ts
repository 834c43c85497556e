import { once } from 'node:events';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAT_FIELDS, keys } from '../../src/jobs/keys.js';
import { METRIC_NAMES } from '../../src/server/plugins/metrics.js';
import { ADMIN_TOKEN, WEBHOOK_TOKEN, delivery, makeFixture, webhookHeaders, type Fixture } from './fixture.js';

describe('health, docs, metrics, bull-board', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await makeFixture();
  });
  afterAll(async () => f?.close());

  it('/healthz and /readyz', async () => {
    expect((await f.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await f.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', redis: 'up' });
  });

  it('/openapi.json documents every route with its zod-derived schemas; /docs serves the UI', async () => {
    const doc = (await f.app.inject({ url: '/openapi.json' })).json<{
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
    }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/webhooks/wandb',
        '/api/v1/evaluations',
        '/api/v1/evaluations/{id}',
        '/api/v1/evaluations/{id}/cancel',
        '/api/v1/evaluations/{id}/retry',
        '/healthz',
        '/readyz',
      ]),
    );
    const hook = doc.paths['/webhooks/wandb']?.post;
    expect(Object.keys(hook?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '202', '400', '401', '413', '503']),
    );
    expect(JSON.stringify(hook?.requestBody)).toContain('artifact_version_string');
    expect(JSON.stringify(doc.paths['/api/v1/evaluations/{id}']?.get?.responses['200'])).toContain('judgmentsDone');
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/admin/queues'))).toBe(false);
    const ui = await f.app.inject({ url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/html/);
  });

  it('/metrics exposes requests, queue depth, durations and the worker counters from Redis', async () => {
    const body = JSON.stringify(delivery());
    await f.app.inject({ method: 'POST', url: '/webhooks/wandb', payload: body, headers: webhookHeaders(body) });
    const r = new Redis(f.url);
    await r.hset(keys(f.prefix).stats, { judge_calls: 42, judge_prompt_tokens: 1234, judge_completion_tokens: 567 });
    r.disconnect();
    const res = await f.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    const text = res.body;
    expect(text).toContain(`${METRIC_NAMES.httpRequests}{method="POST",route="/webhooks/wandb",status="202"} 1`);
    expect(text).toContain(`# TYPE ${METRIC_NAMES.httpDuration} histogram`);
    expect(text).toMatch(/evalhook_queue_jobs\{state="prioritized"\} 1/);
    expect(text).toContain(`# TYPE ${METRIC_NAMES.evaluationDuration} histogram`);
    expect(text).toContain('evalhook_judge_calls_total 42');
    expect(text).toContain('evalhook_judge_prompt_tokens_total 1234');
    expect(text).toContain('evalhook_judge_completion_tokens_total 567');
    for (const field of STAT_FIELDS) expect(text).toContain(`# TYPE ${METRIC_NAMES.stat(field)} counter`);
    // Unknown paths share one label.
    await f.app.inject({ url: '/nope/123' });
    expect((await f.app.inject({ url: '/metrics' })).body).toContain('route="unmatched",status="404"');
  });

  it('bull-board is unreachable without the admin token (pages and its API)', async () => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues', '/admin/queues/static/js/main.js']) {
      const res = await f.app.inject({ url });
      expect(res.statusCode, url).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic/);
      expect((await f.app.inject({ url, headers: { authorization: `Bearer ${WEBHOOK_TOKEN}` } })).statusCode).toBe(401);
      expect((await f.app.inject({ url, headers: { cookie: 'evalhook_admin=wrong-token-value' } })).statusCode).toBe(
        401,
      );
    }
  });

  it('bull-board opens with the token as Bearer, Basic password or cookie', async () => {
    const bearer = await f.app.inject({ url: '/admin/queues', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(bearer.statusCode).toBe(200);
    expect(bearer.body).toContain('<html');
    expect(String(bearer.headers['set-cookie'])).toMatch(/evalhook_admin=.*HttpOnly/);
    const basic = await f.app.inject({
      url: '/admin/queues/api/queues',
      headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}` },
    });
    expect(basic.statusCode).toBe(200);
    expect(JSON.stringify(basic.json())).toContain('evaluations');
    // The cookie the board hands out works on its own, and it is not the token itself.
    const setCookie = String(bearer.headers['set-cookie']);
    expect(setCookie).not.toContain(ADMIN_TOKEN);
    const session = /evalhook_admin=([^;]+)/.exec(setCookie)?.[1] ?? '';
    const cookie = await f.app.inject({
      url: '/admin/queues/api/queues',
      headers: { cookie: `other=1; evalhook_admin=${session}` },
    });
    expect(cookie.statusCode).toBe(200);
    const tokenAsCookie = await f.app.inject({
      url: '/admin/queues/api/queues',
      headers: { cookie: `evalhook_admin=${ADMIN_TOKEN}` },
    });
    expect(tokenAsCookie.statusCode).toBe(401);
  });
});

describe('shutdown', () => {
  it('close() drains the in-flight request, answers 503 to one that arrives meanwhile, and closes the service', async () => {
    const f = await makeFixture();
    await f.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = f.app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const body = JSON.stringify(delivery());
    const head = [
      'POST /webhooks/wandb HTTP/1.1',
      'Host: 127.0.0.1',
      `Authorization: Bearer ${WEBHOOK_TOKEN}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      '',
    ].join('\r\n');
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (b: Buffer) => (received += b.toString()));
    const ended = once(socket, 'close');
    // Request A is in flight (headers sent, body not yet) when close() starts.
    const arrived = once(f.app.server, 'request'); // emitted after Fastify's own listener routed A
    socket.write(head + body.slice(0, 10));
    await arrived;
    const closing = f.app.close();
    // The rest of A, and B pipelined behind it on the same connection.
    socket.write(body.slice(10) + 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await closing;
    await ended;
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(['202', '503']);
    await expect(f.service.ping()).rejects.toThrow();
    await f.close();
  });
});
