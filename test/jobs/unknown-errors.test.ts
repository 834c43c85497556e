/**
 * An error outside the catalog (src/errors.ts) is a bug: the evaluation fails on its first attempt
 * instead of being retried JOB_ATTEMPTS times. A connection error nobody wrapped is still retried.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { redisUrl } from '../helpers/redis.js';
import { evaluateOnce, startStack, type Stack } from '../helpers/stack.js';

describe('errors outside the catalog in the job pipeline', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  /** One evaluation whose benchmark loader throws `err`; returns the admin view and how often it was called. */
  async function evaluateThrowing(err: Error) {
    stack = await startStack({ redisUrl: redisUrl() });
    let calls = 0;
    await stack.startWorker({
      benchmark: () => {
        calls += 1;
        throw err;
      },
    });
    return { ...(await evaluateOnce(stack)), calls: () => calls };
  }

  it('a bug fails the evaluation at once, saying so', async () => {
    const { outcome, view, calls } = await evaluateThrowing(
      new TypeError("Cannot read properties of undefined (reading 'questions')"),
    );
    expect(outcome).toBe('failed');
    expect(view?.attempts).toBe(1);
    expect(calls()).toBe(1);
    expect(view?.error?.reason).toMatch(/internal error \(a bug.*reading 'questions'/);
  });

  it('a connection reset nobody wrapped is retried like before', async () => {
    const { outcome, view, calls } = await evaluateThrowing(
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    );
    expect(outcome).toBe('failed');
    expect(view?.attempts).toBeGreaterThan(1);
    expect(calls()).toBe(view?.attempts);
  });
});
