import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { createLimiter } from '../../../src/jobs/limiter.js';
import { keys } from '../../../src/jobs/model.js';
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
      await (await la.acquire('judge', opts))();
      await (await lb.acquire('judge', opts))();
      await server.stop('SIGKILL');
      await server.restart(); // script cache is empty now
      const held = await la.acquire('judge', opts);
      const channel = `${keys(prefix).limiter('judge')}:released`;
      // ioredis resubscribes on reconnect; wait for that condition before relying on messages.
      await vi.waitFor(async () => {
        const [, n] = (await probe.pubsub('NUMSUB', channel)) as [string, number];
        expect(n).toBeGreaterThanOrEqual(2);
      }, { timeout: 10_000, interval: 20 });
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
});
