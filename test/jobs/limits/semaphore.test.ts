import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import type { Limiter, Release } from '../../../src/jobs/limiter.js';
import { keys } from '../../../src/jobs/keys.js';
import { redisClients } from '../../helpers/redis-clients.js';
import { uniquePrefix } from '../../helpers/redis.js';

describe('limiter: in-flight semaphore', () => {
  const { connect, limiter: make } = redisClients();
  const limiter = (r: Redis, prefix: string, opts?: Parameters<typeof make>[1]) => make(prefix, opts, r);

  // The second case disables fallback polling: every waiter must be woken by a release message.
  it.each([
    { label: 'with polling fallback', maxPollMs: undefined },
    { label: 'on release messages alone', maxPollMs: 120_000 },
  ])('never lets more than maxInFlight run across two workers (20 acquirers, $label)', async ({ maxPollMs }) => {
    const prefix = uniquePrefix('sem');
    const w1 = limiter(connect(), prefix, { maxPollMs });
    const w2 = limiter(connect(), prefix, { maxPollMs });
    const probe = connect();
    let inFlight = 0;
    let maxSeen = 0;
    let done = 0;
    const waits: string[] = [];
    const task = async (l: Limiter) => {
      const release = await l.acquire('gpu', { maxInFlight: 3, leaseMs: 120_000, onWait: (w) => waits.push(w.reason) });
      try {
        inFlight++;
        maxSeen = Math.max(maxSeen, inFlight);
        // Hold the slot across real Redis round trips so others contend for it.
        await probe.ping();
        await probe.ping();
        inFlight--;
        done++;
      } finally {
        await release();
      }
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => task(i % 2 ? w1 : w2)));
    expect(done).toBe(20);
    expect(maxSeen).toBeLessThanOrEqual(3);
    expect(maxSeen).toBeGreaterThanOrEqual(1);
    expect(waits.length).toBeGreaterThan(0); // there was contention, and it was waited out
    expect(waits.every((r) => r === 'inflight')).toBe(true);
    expect(await w1.inFlight('gpu')).toBe(0);
  });

  it('reclaims the lease of a holder that died without releasing', async () => {
    const prefix = uniquePrefix('sem');
    const deadConn = connect();
    const dead = limiter(deadConn, prefix);
    const held = await dead.acquire('judge', { maxInFlight: 1, leaseMs: 300 });
    // The process "dies": no release, no more renewals.
    await dead.close();
    deadConn.disconnect();

    const live = limiter(connect(), prefix);
    const waited: number[] = [];
    const got = await live.acquire('judge', { maxInFlight: 1, leaseMs: 300, onWait: (w) => waited.push(w.nowMs) });
    expect(waited.length).toBeGreaterThan(0);
    // Granted only once the dead lease had expired, by Redis' clock.
    expect(got.grantedAt).toBeGreaterThanOrEqual(held.grantedAt + 300);
    await got();
    expect(await live.inFlight('judge')).toBe(0);
  });

  it('renews a long call so its slot is not reclaimed', async () => {
    const prefix = uniquePrefix('sem');
    const r = connect();
    const l = limiter(r, prefix);
    const leases = `${keys(prefix).limiter('slow')}:leases`;
    // Generous lease so a loaded CI box (event-loop stalls) cannot make renewal miss it.
    const release = await l.acquire('slow', { maxInFlight: 1, leaseMs: 900 });
    const firstExpiry = Number(await r.zscore(leases, release.leaseId));
    // Wait (on a condition, not a fixed sleep) until Redis time is past the original expiry.
    await vi.waitFor(
      async () => {
        const [s, us] = (await r.time()).map(Number) as [number, number];
        expect(s * 1000 + Math.floor(us / 1000)).toBeGreaterThan(firstExpiry + 50);
      },
      { timeout: 5000, interval: 20 },
    );
    expect(Number(await r.zscore(leases, release.leaseId))).toBeGreaterThan(firstExpiry);
    expect(await l.inFlight('slow')).toBe(1);
    await release();
    expect(await l.inFlight('slow')).toBe(0);
  });

  it('abort while waiting rejects and releases nothing it did not hold', async () => {
    const prefix = uniquePrefix('sem');
    const r = connect();
    const holderL = limiter(r, prefix);
    // Polling and the holder's lease are far beyond the test timeout: only the abort can end the wait.
    const waiterL = limiter(connect(), prefix, { maxPollMs: 120_000 });
    const leases = `${keys(prefix).limiter('judge')}:leases`;
    const holder = await holderL.acquire('judge', { maxInFlight: 1, leaseMs: 120_000 });

    const ac = new AbortController();
    const waiting = waiterL.acquire('judge', { maxInFlight: 1, signal: ac.signal, onWait: () => ac.abort() });
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(await r.zrange(leases, 0, -1)).toEqual([holder.leaseId]);

    // An already-aborted signal takes nothing either.
    await expect(waiterL.acquire('judge', { maxInFlight: 5, signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(await r.zrange(leases, 0, -1)).toEqual([holder.leaseId]);

    await holder();
    await holder(); // idempotent
    const next: Release = await waiterL.acquire('judge', { maxInFlight: 1 });
    expect(await r.zrange(leases, 0, -1)).toEqual([next.leaseId]);
    await next();
  });

  it('a release wakes a waiter in another worker (pub/sub), without waiting for lease expiry', async () => {
    const prefix = uniquePrefix('sem');
    const a = limiter(connect(), prefix);
    // No fallback polling within the test's lifetime: only the release message can wake it.
    const b = limiter(connect(), prefix, { maxPollMs: 120_000 });
    const held = await a.acquire('x', { maxInFlight: 1, leaseMs: 60_000 });
    let waitingResolve: () => void = () => {};
    const isWaiting = new Promise<void>((res) => (waitingResolve = res));
    const next = b.acquire('x', { maxInFlight: 1, leaseMs: 60_000, onWait: () => waitingResolve() });
    await isWaiting;
    await held();
    const got = await next; // lease expiry (60 s) and polling (120 s) are both beyond the test timeout
    await got();
  });
});
