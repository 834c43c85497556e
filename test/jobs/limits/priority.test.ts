/** Waiters of one process for a shared slot are served in the engine's order (priority, then age). */
import { describe, expect, it } from 'vitest';
import { redisClients } from '../../helpers/redis-clients.js';
import { uniquePrefix } from '../../helpers/redis.js';

describe('limiter priority', () => {
  const { limiter } = redisClients();

  it('a release wakes the highest-priority waiter first, the oldest among equals', async () => {
    const lim = limiter(uniquePrefix('prio'), { maxPollMs: 120_000 }); // only release messages wake waiters
    const held = await lim.acquire('gpu', { maxInFlight: 1 });
    const order: string[] = [];
    const waiting: Promise<void>[] = [];
    let waits = 0;
    let allWaiting: () => void = () => undefined;
    const queued = new Promise<void>((r) => (allWaiting = r));
    const wait = (label: string, priority: number) =>
      waiting.push(
        lim
          .acquire('gpu', { maxInFlight: 1, priority, onWait: () => ++waits === 3 && allWaiting() })
          .then(async (release) => {
            order.push(label);
            await release();
          }),
      );
    wait('turn-1 (old)', 1);
    wait('later, judge idle', 2);
    wait('turn-1 (new)', 1);
    await queued; // all three are asleep on the slot
    await held();
    await Promise.all(waiting);
    expect(order).toEqual(['later, judge idle', 'turn-1 (old)', 'turn-1 (new)']);
  });
});
