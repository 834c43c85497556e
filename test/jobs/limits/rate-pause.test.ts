import { describe, expect, it } from 'vitest';
import type { WaitReason } from '../../../src/jobs/limiter.js';
import { redisClients, redisNow } from '../../helpers/redis-clients.js';
import { uniquePrefix } from '../../helpers/redis.js';

describe('limiter: rate and shared pause', () => {
  const { connect, limiter } = redisClients();
  const worker = (prefix: string) => limiter(prefix);

  it('never grants more than rpm in any window, across two workers (Redis-time grant stamps)', async () => {
    const prefix = uniquePrefix('rpm');
    const [w1, w2] = [worker(prefix), worker(prefix)];
    const rpm = 4;
    const windowMs = 400;
    const reasons: WaitReason[] = [];
    const grants = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const release = await (i % 2 ? w1 : w2).acquire('judge', {
          grantsPerWindow: rpm,
          windowMs,
          onWait: (w) => reasons.push(w.reason),
        });
        await release();
        return release.grantedAt;
      }),
    );
    grants.sort((a, b) => a - b);
    // Any rpm+1 consecutive grants span at least a full window.
    for (let i = 0; i + rpm < grants.length; i++)
      expect(grants[i + rpm]! - grants[i]!).toBeGreaterThanOrEqual(windowMs);
    expect(reasons.length).toBeGreaterThan(0);
    expect(new Set(reasons)).toEqual(new Set(['rate']));
  });

  it('a denied attempt consumes no rate budget (in-flight full does not burn rpm)', async () => {
    const prefix = uniquePrefix('rpm');
    const [w1, w2] = [worker(prefix), worker(prefix)];
    const opts = { grantsPerWindow: 2, windowMs: 60_000, maxInFlight: 1 };
    const first = await w1.acquire('j', opts);
    let waitingResolve: () => void = () => {};
    const waiting = new Promise<void>((r) => (waitingResolve = r));
    const second = w2.acquire('j', { ...opts, onWait: () => waitingResolve() });
    await waiting;
    await first();
    const got = await second; // had the in-flight denial counted, the 60 s window would be full
    await got();
  });

  it('no acquire resolves before the pause-until, for any worker', async () => {
    const prefix = uniquePrefix('pause');
    const [w1, w2] = [worker(prefix), worker(prefix)];
    const until = await w1.pause('judge', 300);
    expect(await w2.pausedUntil('judge')).toBe(until);
    const reasons: WaitReason[] = [];
    const grants = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const release = await (i % 2 ? w1 : w2).acquire('judge', {
          maxInFlight: 10,
          grantsPerWindow: 100,
          onWait: (w) => reasons.push(w.reason),
        });
        await release();
        return release.grantedAt;
      }),
    );
    for (const g of grants) expect(g).toBeGreaterThanOrEqual(until);
    expect(reasons).toContain('paused');
    expect(await w1.pausedUntil('judge')).toBe(0);
    // other names are not paused
    const otherWaits: WaitReason[] = [];
    await w1.pause('judge', 60_000);
    const other = await w2.acquire('other', { maxInFlight: 1, onWait: (w) => otherWaits.push(w.reason) });
    expect(otherWaits).toEqual([]);
    await other();
  });

  it('pause only extends, never shortens', async () => {
    const prefix = uniquePrefix('pause');
    const w = worker(prefix);
    const long = await w.pause('judge', 30_000);
    expect(await w.pause('judge', 10)).toBe(long);
    expect(await w.pausedUntil('judge')).toBe(long);
    const longer = await w.pause('judge', 50_000);
    expect(longer).toBeGreaterThan(long);
    expect(await w.pausedUntil('judge')).toBe(longer);
  });

  it('a pause is capped at 60 s (Retry-After: one hour does not stop every judge for an hour)', async () => {
    const prefix = uniquePrefix('pause');
    const w = worker(prefix);
    const probe = connect();
    const before = await redisNow(probe);
    const until = await w.pause('judge', 3_600_000);
    const after = await redisNow(probe);
    expect(until).toBeGreaterThanOrEqual(before + 60_000);
    expect(until).toBeLessThanOrEqual(after + 60_000);
  });
});
