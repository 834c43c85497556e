/** Secrets never reach the logs: capture pino output in a buffer and search it. */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { CENSOR } from '../../src/secrets.js';
import { ADMIN_TOKEN, WEBHOOK_SECRET, WEBHOOK_TOKEN, delivery, makeFixture, sign } from './fixture.js';
import { logSink } from '../helpers/log-sink.js';

describe('createLogger', () => {
  it('redacts credential headers and credential-named keys at any depth, and known secret values inside strings', () => {
    const sink = logSink();
    const secrets = ['sk-live-judge-key-0123456789', 'wandb-api-key-abcdef0123456789'];
    const log = createLogger({
      level: 'debug',
      destination: sink.destination,
      censorSecrets: [...secrets, undefined, 'short'],
    });
    log.info(
      {
        req: {
          headers: {
            authorization: 'Bearer hdr-token-000000000',
            'x-wandb-signature': 'c2lnbmF0dXJlLXZhbHVl',
            cookie: 'evalhook_admin=cookie-token-1111',
          },
        },
      },
      'request',
    );
    log.info(
      {
        token: 'top-token-22222222',
        config: {
          apiKey: 'nested-key-33333333',
          judge: {
            api_key: 'deep-key-44444444',
            inner: { password: 'pw-55555555', WEBHOOK_SECRET: 'env-secret-66666666' },
          },
        },
      },
      'config',
    );
    log.warn({ list: [{ accessToken: 'arr-token-77777777' }], judge_prompt_tokens: 1234 }, 'array');
    log.error({ err: new Error(`upstream said: bad key ${secrets[0]}`) }, `calling with ${secrets[1]}`);
    log.child({ jobId: 'ev-1' }).info({ headers: { authorization: 'Basic YWRtaW46c2VjcmV0LXBhc3M=' } }, 'child');
    const text = sink.text();
    for (const leaked of [
      'hdr-token-000000000',
      'c2lnbmF0dXJlLXZhbHVl',
      'cookie-token-1111',
      'top-token-22222222',
      'nested-key-33333333',
      'deep-key-44444444',
      'pw-55555555',
      'env-secret-66666666',
      'arr-token-77777777',
      'YWRtaW46c2VjcmV0LXBhc3M=',
      ...secrets,
    ]) {
      expect(text, leaked).not.toContain(leaked);
    }
    expect(text).toContain(CENSOR);
    // Numbers under token-ish names are counts, not credentials.
    expect(text).toContain('"judge_prompt_tokens":1234');
    // Every line is still JSON.
    for (const line of text.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});

describe('the app', () => {
  it('logs requests (one child logger per request, with reqId) without ever writing a token or the webhook secret', async () => {
    const f = await makeFixture({
      secret: true,
      captureLogs: true,
      env: { JUDGE_API_KEY: 'judge-key-value-999999999', WANDB_API_KEY: 'wandb-key-value-888888888' },
    });
    try {
      const body = JSON.stringify(delivery({ note: `token is ${WEBHOOK_TOKEN}`, token: ADMIN_TOKEN }));
      const headers = { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' };
      expect(
        (
          await f.app.inject({
            method: 'POST',
            url: '/webhooks/wandb',
            payload: body,
            headers: { ...headers, 'x-wandb-signature': sign(body) },
          })
        ).statusCode,
      ).toBe(202);
      expect(
        (
          await f.app.inject({
            method: 'POST',
            url: '/webhooks/wandb',
            payload: body,
            headers: { ...headers, 'x-wandb-signature': 'wrong' },
          })
        ).statusCode,
      ).toBe(401);
      expect(
        (
          await f.app.inject({
            method: 'POST',
            url: `/webhooks/wandb?token=${WEBHOOK_TOKEN}`,
            payload: '{',
            headers: { ...headers, 'x-wandb-signature': sign('{') },
          })
        ).statusCode,
      ).toBe(400);
      await f.app.inject({ url: '/api/v1/evaluations', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      await f.app.inject({ url: '/admin/queues', headers: { cookie: `evalhook_admin=${ADMIN_TOKEN}` } });
      await f.app.inject({
        method: 'POST',
        url: '/api/v1/evaluations',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        payload: { artifact: `x/y/${WEBHOOK_TOKEN}:v1` },
      });
      f.app.log.info({ secretsSeen: f.config.secrets }, 'config secrets');
      const logs = f.logs();
      expect(logs).toMatch(/"reqId":"req-\d+"/);
      expect(logs).toContain('incoming request');
      for (const secret of [
        WEBHOOK_TOKEN,
        ADMIN_TOKEN,
        WEBHOOK_SECRET,
        sign(body),
        'judge-key-value-999999999',
        'wandb-key-value-888888888',
      ]) {
        expect(logs, secret).not.toContain(secret);
      }
    } finally {
      await f.close();
    }
  });
});
