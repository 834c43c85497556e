import Fastify from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterEach, describe, expect, it } from 'vitest';
import { EvalhookError } from '../../src/errors.js';
import {
  EvaluationNotFoundError,
  OperationTimeoutError,
  QueueFullError,
  QueueUnavailableError,
} from '../../src/jobs/producer.js';
import { registerErrorHandler } from '../../src/server/plugins/error-handler.js';
import { WandbError } from '../../src/wandb/client.js';

const apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** A bare app with only the error handler, and a route that throws what it is given. */
function appThrowing(err: unknown) {
  const logged: Array<Record<string, unknown>> = [];
  const stream = { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) };
  const app = Fastify({ logger: { level: 'warn', stream } }).withTypeProvider<ZodTypeProvider>();
  apps.push(app);
  registerErrorHandler(app);
  app.get('/boom', () => {
    throw err;
  });
  app.post('/json', (req) => req.body ?? {});
  return { app, logged };
}

describe('the HTTP error handler maps only catalog errors', () => {
  it.each([
    [new EvaluationNotFoundError('e1'), 404, 'EVALHOOK_ERR_NOT_FOUND', 'evaluation e1 not found'],
    [new QueueFullError(5), 429, 'EVALHOOK_ERR_QUEUE_FULL', undefined],
    [
      new QueueUnavailableError(new Error('ECONNREFUSED')),
      503,
      'EVALHOOK_ERR_QUEUE_UNAVAILABLE',
      'the job queue (Redis) is unavailable',
    ],
    [new OperationTimeoutError('list', 5000), 504, 'EVALHOOK_ERR_TIMEOUT', undefined],
    [
      new EvalhookError(
        'EVALHOOK_ERR_DASHBOARD_BUSY',
        'the dashboard of p is being updated by another worker; try again later',
      ),
      409,
      'EVALHOOK_ERR_DASHBOARD_BUSY',
      undefined,
    ],
  ])('%s -> its status and code', async (err, status, code, message) => {
    const { app } = appThrowing(err);
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ statusCode: status, code, message: message ?? (err as Error).message });
    if (status === 429) expect(res.headers['retry-after']).toBe('60');
    if (status === 503) expect(res.headers['retry-after']).toBe('5');
  });

  it('an error outside the catalog (even one carrying a 4xx statusCode) is a logged 500 that leaks nothing', async () => {
    const stray = Object.assign(new Error('password=hunter2 in some driver message'), { statusCode: 400 });
    const { app, logged } = appThrowing(stray);
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'internal error',
      code: 'EVALHOOK_ERR_INTERNAL',
    });
    const entry = logged.find((l) => l.msg === 'unhandled error');
    expect(entry?.err).toMatchObject({
      message: stray.message,
      stack: expect.stringContaining('error-handler.test.ts'),
    });
  });

  it('a catalog error without an HTTP status (W&B) is a 500 too', async () => {
    const { app } = appThrowing(new WandbError('W&B UpsertBucket: HTTP 500', true, 500));
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ code: 'EVALHOOK_ERR_INTERNAL' });
  });

  it("fastify's own client errors (malformed JSON) enter the catalog as EVALHOOK_ERR_BAD_REQUEST with their 4xx", async () => {
    const { app } = appThrowing(new Error('unused'));
    const res = await app.inject({
      method: 'POST',
      url: '/json',
      headers: { 'content-type': 'application/json' },
      payload: '{"a":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: 'EVALHOOK_ERR_BAD_REQUEST' });
  });
});
