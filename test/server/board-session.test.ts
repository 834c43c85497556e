/**
 * Board session and weak settings (issue 14, item 9): the bull-board cookie is signed and expires
 * (HttpOnly, SameSite=Strict, Secure behind HTTPS); browser-authenticated board changes need this
 * server's Origin; production refuses a short WEBHOOK_SECRET and ADMIN_TOKEN == WEBHOOK_TOKEN.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { BOARD_SESSION_SECONDS, boardSession } from '../../src/server/plugins/bull-board.js';
import { ADMIN_TOKEN, makeFixture, WEBHOOK_TOKEN, type Fixture } from './fixture.js';

const PAUSE_ALL = '/admin/queues/api/queues/resume';

describe('board session', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await makeFixture();
  });
  afterAll(async () => f?.close());

  async function sessionCookie(): Promise<{ value: string; header: string }> {
    const res = await f.app.inject({
      url: '/admin/queues',
      headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}` },
    });
    expect(res.statusCode).toBe(200);
    const header = String(res.headers['set-cookie']);
    return { value: /evalhook_admin=([^;]+)/.exec(header)?.[1] ?? '', header };
  }

  it('is signed, expires, HttpOnly and SameSite=Strict; an expired or altered session is refused', async () => {
    const { value, header } = await sessionCookie();
    expect(header).toMatch(new RegExp(`Max-Age=${BOARD_SESSION_SECONDS}; HttpOnly; SameSite=Strict$`));
    expect(header).not.toContain('Secure'); // plain http here
    const [exp] = value.split('.');
    expect(Number(exp) - Date.now() / 1000).toBeGreaterThan(BOARD_SESSION_SECONDS - 60);
    const get = (cookie: string) =>
      f.app.inject({ url: '/admin/queues/api/queues', headers: { cookie: `evalhook_admin=${cookie}` } });
    expect((await get(value)).statusCode).toBe(200);
    const expired = boardSession(ADMIN_TOKEN, Math.floor(Date.now() / 1000) - 1);
    expect((await get(expired)).statusCode).toBe(401);
    const stretched = `${Number(exp) + 86_400}.${value.split('.')[1]}`;
    expect((await get(stretched)).statusCode).toBe(401);
    expect((await get(boardSession('some-other-admin-token', Number(exp)))).statusCode).toBe(401);
  });

  it('browser-authenticated changes need this server as Origin; a script with the Bearer token does not', async () => {
    const { value } = await sessionCookie();
    const put = (headers: Record<string, string>) => f.app.inject({ method: 'PUT', url: PAUSE_ALL, headers });
    const cookie = { cookie: `evalhook_admin=${value}` };
    const basic = { authorization: `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}` };
    expect((await put(cookie)).statusCode).toBe(403);
    expect((await put({ ...cookie, origin: 'https://evil.example' })).statusCode).toBe(403);
    expect((await put({ ...basic, origin: 'https://evil.example' })).json()).toMatchObject({
      statusCode: 403,
      code: 'EVALHOOK_ERR_ORIGIN',
    });
    expect((await put({ ...cookie, origin: 'http://localhost:80' })).statusCode).toBeLessThan(300);
    expect((await put({ authorization: `Bearer ${ADMIN_TOKEN}` })).statusCode).toBeLessThan(300);
    // Reads need no Origin.
    expect((await f.app.inject({ url: '/admin/queues/api/queues', headers: cookie })).statusCode).toBe(200);
  });

  it('is Secure behind HTTPS (PUBLIC_URL https://...)', async () => {
    const g = await makeFixture({ env: { PUBLIC_URL: 'https://evalhook.example' } });
    try {
      const res = await g.app.inject({ url: '/admin/queues', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(String(res.headers['set-cookie'])).toMatch(/; Secure$/);
      const session = /evalhook_admin=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1] ?? '';
      const put = await g.app.inject({
        method: 'PUT',
        url: PAUSE_ALL,
        headers: { cookie: `evalhook_admin=${session}`, origin: 'https://evalhook.example' },
      });
      expect(put.statusCode).toBeLessThan(300);
    } finally {
      await g.close();
    }
  });
});

describe('production settings', () => {
  const base = { WEBHOOK_TOKEN, ADMIN_TOKEN, WEBHOOK_SECRET: 'whsec_long_enough_0123' };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('refuses WEBHOOK_SECRET shorter than 16 characters and ADMIN_TOKEN == WEBHOOK_TOKEN, listing both', () => {
    const p = problems({ ...base, NODE_ENV: 'production', WEBHOOK_SECRET: 'short', ADMIN_TOKEN: WEBHOOK_TOKEN });
    expect(p).toHaveLength(2);
    expect(p.join('\n')).toMatch(/WEBHOOK_SECRET: must be at least 16 characters in production/);
    expect(p.join('\n')).toMatch(/ADMIN_TOKEN: must differ from WEBHOOK_TOKEN/);
    expect(problems({ ...base, NODE_ENV: 'production' })).toEqual([]);
  });

  it('tolerates them outside production (local experiments)', () => {
    expect(problems({ ...base, WEBHOOK_SECRET: 'short', ADMIN_TOKEN: WEBHOOK_TOKEN })).toEqual([]);
  });
});
