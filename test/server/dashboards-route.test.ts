/** POST /api/v1/dashboards/sync: admin token, a zod-checked body, offline answered with 409, in OpenAPI. */
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, makeFixture, type Fixture } from './fixture.js';

describe('POST /api/v1/dashboards/sync', () => {
  let fx: Fixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });
  const post = (payload: unknown, token = ADMIN_TOKEN) =>
    fx!.app.inject({
      method: 'POST',
      url: '/api/v1/dashboards/sync',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });

  it('needs the admin token', async () => {
    fx = await makeFixture();
    expect((await post({}, 'wrong-token-0123456789')).statusCode).toBe(401);
  });

  it('names the bad field with a 400', async () => {
    fx = await makeFixture();
    const bad = await post({ project: '../../etc' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/project/);
    const extra = await post({ project: 'evals', spec: {} });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().message).toMatch(/spec/);
  });

  it('answers 409 when there is no W&B to sync to (offline)', async () => {
    fx = await makeFixture();
    const res = await post({ project: 'evals' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'EVALHOOK_ERR_OFFLINE' });
  });

  it('is in the OpenAPI document', async () => {
    fx = await makeFixture();
    const doc = (await fx.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.paths['/api/v1/dashboards/sync']).toHaveProperty('post');
  });
});
