import { describe, expect, it } from 'vitest';
import { EndpointError } from '../../src/eval/errors.js';
import { retryCall } from '../../src/eval/execution.js';
import { backoffMs, MAX_RETRY_AFTER_MS, parseRetryAfter, sleep, withRetry, type RetryPolicy } from '../../src/retry.js';

const policy: RetryPolicy = { retries: 3, baseDelayMs: 1000, maxDelayMs: 8000, jitter: [1, 1] };
const headers = (h: Record<string, string>) => new Headers(h);

describe('the one backoff honours Retry-After within [0, 60 s], as openai-node does', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads retry-after-ms, retry-after in seconds, and retry-after as an HTTP date', () => {
    expect(parseRetryAfter(headers({ 'retry-after-ms': '250' }), now)).toBe(250);
    expect(parseRetryAfter(headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(parseRetryAfter(headers({ 'retry-after': '1.5' }), now)).toBe(1500);
    expect(parseRetryAfter(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), now)).toBe(30_000);
    expect(parseRetryAfter(headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfter(headers({}), now)).toBeUndefined();
  });

  it('waits what the server asks when it is at most 60 s (seconds or date)', () => {
    expect(backoffMs(policy, 0, parseRetryAfter(headers({ 'retry-after': '20' }), now))).toBe(20_000);
    expect(
      backoffMs(policy, 0, parseRetryAfter(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:45 GMT' }), now)),
    ).toBe(45_000);
    expect(backoffMs(policy, 2, MAX_RETRY_AFTER_MS)).toBe(60_000);
    expect(backoffMs(policy, 2, 0)).toBe(0);
  });

  it('a Retry-After over 60 s (seconds or date) falls back to the exponential backoff, never a longer wait', () => {
    expect(backoffMs(policy, 0, parseRetryAfter(headers({ 'retry-after': '3600' }), now))).toBe(1000);
    expect(
      backoffMs(policy, 1, parseRetryAfter(headers({ 'retry-after': 'Fri, 02 Jan 2026 00:00:00 GMT' }), now)),
    ).toBe(2000);
    expect(backoffMs(policy, 10, 61_000)).toBe(8000);
  });

  it('without Retry-After: doubling from the base, jittered within the policy range, never above the max', () => {
    const jittered: RetryPolicy = { ...policy, jitter: [0.5, 1] };
    expect(backoffMs(jittered, 0, undefined, () => 0)).toBe(500);
    expect(backoffMs(jittered, 0, undefined, () => 1)).toBe(1000);
    expect(backoffMs(jittered, 2, undefined, () => 1)).toBe(4000);
    expect(backoffMs({ ...policy, jitter: [1, 1.25] }, 5, undefined, () => 1)).toBe(8000);
  });
});

describe('withRetry', () => {
  it('retries while the classifier says so, waiting the backoff between attempts, and throws the classified error', async () => {
    const waits: number[] = [];
    let calls = 0;
    const err = withRetry(
      async () => {
        calls += 1;
        throw new Error(`boom ${calls}`);
      },
      {
        policy,
        classify: (raw) => ({
          error: new Error(`classified ${(raw as Error).message}`),
          retryable: true,
          retryAfterMs: calls === 1 ? 3000 : undefined,
        }),
        sleep: async (ms) => void waits.push(ms),
      },
    );
    await expect(err).rejects.toThrow('classified boom 4');
    expect(calls).toBe(4); // 1 + policy.retries
    expect(waits).toEqual([3000, 2000, 4000]);
  });

  it('stops at the first failure the classifier calls final; the hook may do work before deciding (e.g. refresh URLs)', async () => {
    const seen: number[] = [];
    let urlsVersion = 0;
    const result = await withRetry(
      async (retry) => {
        seen.push(urlsVersion);
        if (retry < 2) throw Object.assign(new Error('expired'), { status: 403 });
        return 'ok';
      },
      {
        policy,
        classify: async (raw) => {
          urlsVersion += 1; // the hook refreshes state the next attempt uses
          return { error: raw, retryable: true };
        },
        sleep: async () => {},
      },
    );
    expect(result).toBe('ok');
    expect(seen).toEqual([0, 1, 2]);

    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls += 1;
          throw new Error('final');
        },
        { policy, classify: (raw) => ({ error: raw, retryable: false }), sleep: async () => {} },
      ),
    ).rejects.toThrow('final');
    expect(calls).toBe(1);
  });

  it("an abort during the wait ends it with the signal reason (or the caller's mapping)", async () => {
    const ac = new AbortController();
    const reason = new Error('cancelled');
    const p = withRetry(
      async () => {
        queueMicrotask(() => ac.abort(reason));
        throw new Error('transient');
      },
      { policy, classify: (raw) => ({ error: raw, retryable: true }), signal: ac.signal },
    );
    await expect(p).rejects.toBe(reason);
    await expect(sleep(10_000, AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});

describe("the engine's per-call retries (retryCall binds the toolkit)", () => {
  const deps = (waits: number[]) => ({
    policy: { attempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 },
    sleep: async (ms: number) => void waits.push(ms),
    random: () => 1,
    signal: new AbortController().signal,
    role: 'judge' as const,
  });

  it('a bug in an adapter (an error outside the catalog) is thrown at once, not retried', async () => {
    const waits: number[] = [];
    let calls = 0;
    const bug = new TypeError("Cannot read properties of undefined (reading 'choices')");
    await expect(
      retryCall(async () => {
        calls += 1;
        throw bug;
      }, deps(waits)),
    ).rejects.toBe(bug);
    expect(calls).toBe(1);
  });

  it('a connection error is retried, as a connection EndpointError', async () => {
    const waits: number[] = [];
    let calls = 0;
    const err = await retryCall(async () => {
      calls += 1;
      throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    }, deps(waits)).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(err).toMatchObject({ kind: 'connection', code: 'EVALHOOK_ERR_ENDPOINT' });
    expect(waits).toEqual([1000, 2000]);
  });

  it("a judge 429 asking for two minutes waits the engine's backoff instead", async () => {
    const waits: number[] = [];
    await retryCall(async () => {
      throw new EndpointError('429', 'rate-limited', { status: 429, retryAfterMs: 120_000, role: 'judge' });
    }, deps(waits)).catch(() => undefined);
    expect(waits).toEqual([1000, 2000]);
  });
});
