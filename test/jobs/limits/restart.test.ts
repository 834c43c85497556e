import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { createLimiter } from '../../../src/jobs/limiter.js';
import { keys } from '../../../src/jobs/keys.js';
import { uniquePrefix } from '../../helpers/redis.js';
import { startRedisServer } from '../../helpers/redis-server.js';

describe('limiter across a Redis restart', () => {
  it('reloads its scripts (NOSCRIPT) and release messages still wake waiters after resubscribing', async () => {
    const server = await startRedisServer({ appendonly: true });
    const a = new Redis(server.url);
    const b = new Redis(server.url);
    const probe = new Redis(server.url);
    for (const r of [a, b, probe]) r.on('error', () => {}); // connection resets during the kill
    const prefix = uniquePrefix('restart');
    const la = createLimiter(a, prefix);
    const lb = createLimiter(b, prefix, { maxPollMs: 120_000 });
    try {
      const opts = { maxInFlight: 1, leaseMs: 120_000 };
      // scripts loaded and both subscribers up, pre-restart
      await (
        await la.acquire('judge', opts)
      )();
      await (
        await lb.acquire('judge', opts)
      )();
      await server.stop('SIGKILL');
      await server.restart(); // script cache is empty now
      const held = await la.acquire('judge', opts);
      const channel = `${keys(prefix).limiter('judge')}:released`;
      // ioredis resubscribes on reconnect; wait for that condition before relying on messages.
      await vi.waitFor(
        async () => {
          const [, n] = (await probe.pubsub('NUMSUB', channel)) as [string, number];
          expect(n).toBeGreaterThanOrEqual(2);
        },
        { timeout: 10_000, interval: 20 },
      );
      let onWaiting: () => void = () => {};
      const waiting = new Promise<void>((r) => (onWaiting = r));
      const next = lb.acquire('judge', { ...opts, onWait: () => onWaiting() });
      await waiting;
      await held();
      const got = await next; // neither polling nor lease expiry fit in the test timeout
      expect(got.grantedAt).toBeGreaterThanOrEqual(held.grantedAt);
      await got();
      expect(await la.inFlight('judge')).toBe(0);
    } finally {
      await la.close();
      await lb.close();
      for (const r of [a, b, probe]) r.disconnect();
      await server.dispose();
    }
  });

  it('abort works while Redis is down, and the abandoned attempt leaves no lease behind', async () => {
    const server = await startRedisServer();
    const r = new Redis(server.url);
    r.on('error', () => {});
    const prefix = uniquePrefix('down');
    const l = createLimiter(r, prefix);
    try {
      await (
        await l.acquire('judge', { maxInFlight: 1 })
      )(); // subscribed and scripts loaded
      await server.stop('SIGKILL');
      await vi.waitFor(() => expect(r.status).not.toBe('ready'), { timeout: 10_000, interval: 10 });
      const ac = new AbortController();
      const sent = vi.spyOn(r, 'evalsha');
      const attempt = l.acquire('judge', { maxInFlight: 1, leaseMs: 120_000, signal: ac.signal });
      // Abort only once the acquire script is queued: ioredis will run it on reconnect.
      await vi.waitFor(() => expect(sent).toHaveBeenCalled(), { timeout: 10_000, interval: 5 });
      ac.abort();
      await expect(attempt).rejects.toMatchObject({ name: 'AbortError' });
      await server.restart(); // the queued attempt may now run and grant; the cleanup must undo it
      await vi.waitFor(
        async () => {
          expect(await r.zcard(`${keys(prefix).limiter('judge')}:leases`)).toBe(0);
          expect(r.status).toBe('ready');
          expect(await r.ping()).toBe('PONG');
        },
        { timeout: 10_000, interval: 50 },
      );
      // and the slot is really free
      const got = await l.acquire('judge', { maxInFlight: 1, leaseMs: 120_000 });
      await got();
    } finally {
      await l.close();
      r.disconnect();
      await server.dispose();
    }
  });
});
