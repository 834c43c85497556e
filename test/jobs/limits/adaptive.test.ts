/**
 * The adaptive in-flight limit against the fake OpenAI server: it grows while latency holds, shrinks
 * when latency grows superlinearly with the number in flight, and halves on a burst of 429s. Time is
 * virtual: the test finishes each wave of calls itself and sets the clock the limiter measures with,
 * so what the limiter sees does not depend on how busy the machine is.
 */
import { setMaxListeners } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { limitChatClient } from '../../../src/jobs/limited-chat.js';
import { createOpenAIChatClient } from '../../../src/llm/openai-chat.js';
import { FakeFault, startFakeOpenAI, type FakeOpenAI } from '../../fakes/openai-server.js';
import { redisClients } from '../../helpers/redis-clients.js';
import { uniquePrefix } from '../../helpers/redis.js';

const CONTENT = 'x'.repeat(400); // 100 completion tokens by the fake's count
const CEILING = 40;

describe('adaptive concurrency limit', () => {
  const { limiter } = redisClients();
  const fakes: FakeOpenAI[] = [];
  afterAll(async () => {
    for (const f of fakes) await f.close();
  });

  it('grows while latency holds, shrinks on superlinear slowdown and on 429s, shared through Redis', async () => {
    // requests the fake holds until the test answers them: with the reply, or with a 429
    const open: Array<{ reply: () => void; reject429: () => void }> = [];
    const waiters: Array<() => void> = [];
    const notify = () => waiters.splice(0).forEach((w) => w());
    const until = async (cond: () => boolean) => {
      while (!cond()) await new Promise<void>((r) => waiters.push(r));
    };
    const fake = await startFakeOpenAI({
      respond: () =>
        new Promise((resolve, reject) => {
          open.push({ reply: () => resolve(CONTENT), reject429: () => reject(new FakeFault({ status: 429 })) });
          notify();
        }),
    });
    fakes.push(fake);
    let clock = 0;
    const limits: number[] = [];
    const name = 'inference:fake';
    const prefix = uniquePrefix('adaptive');
    // two workers sharing the endpoint's limit
    const [l1, l2] = [limiter(prefix), limiter(prefix)];
    const client = (l: typeof l1) =>
      limitChatClient(createOpenAIChatClient({ baseURL: fake.url, apiKey: 'k', role: 'candidate' }), {
        limiter: l,
        name,
        maxInFlight: CEILING,
        adaptive: { start: 4, tolerance: 3 },
        now: () => clock,
        onLimit: (x) => limits.push(x),
      });
    const clients = [client(l1), client(l2)];
    let finished = 0;
    const ac = new AbortController();
    setMaxListeners(0, ac.signal); // one listener per pooled call, by design
    const req = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }], temperature: 0, max_tokens: 200 };
    const pool = Array.from({ length: 600 }, (_, i) =>
      clients[i % 2]!.complete(req, { signal: ac.signal })
        .catch(() => undefined)
        .finally(() => {
          finished += 1;
          notify();
        }),
    );
    const limitNow = () => l1.adaptiveLimit(name, 4);

    /**
     * Let the limit fill (every call of the wave is granted before any finishes), then finish the
     * whole wave after `latency(n)` virtual ms, or answer all of it with 429s.
     */
    const wave = async (latency: (n: number) => number, how: 'reply' | 'reject429' = 'reply') => {
      const lim = await limitNow();
      await until(() => open.length >= lim);
      const batch = open.splice(0);
      const before = finished;
      clock += latency(batch.length);
      batch.forEach((f) => f[how]());
      await until(() => finished >= before + batch.length);
      return batch.length;
    };

    // 1. Latency independent of load (continuous batching below its max batch): the limit grows to the ceiling.
    const sizes: number[] = [];
    while (sizes.length < 10 && (await limitNow()) < CEILING) sizes.push(await wave(() => 100));
    expect(sizes[0]).toBe(4);
    expect(await limitNow()).toBe(CEILING);
    expect(await wave(() => 100)).toBe(CEILING);
    expect(fake.maxInFlight).toBe(CEILING); // the server really saw 40 at once, never more

    // 2. Latency superlinear in the number in flight (past the server's max batch): the limit shrinks
    // until a call takes at most 3x the unloaded time (n <= 17 here), then holds there.
    const slow = (n: number) => 100 * Math.max(1, (n / 10) ** 2);
    const slowSizes: number[] = [];
    for (let i = 0; i < 5; i++) slowSizes.push(await wave(slow));
    expect(slowSizes[0]).toBe(CEILING);
    expect(Math.min(...slowSizes.slice(1))).toBeLessThan(CEILING / 2 + 1);
    const settled = await limitNow();
    expect(settled).toBeLessThanOrEqual(18);
    expect(settled).toBeGreaterThanOrEqual(8);

    // 3. A whole wave answered 429: one halving for the episode, not one per failed call.
    const beforeBurst = await limitNow();
    expect(await wave(() => 0, 'reject429')).toBe(beforeBurst);
    expect(await limitNow()).toBe(Math.max(1, Math.floor(beforeBurst / 2)));
    expect(limits.length).toBeGreaterThan(0);

    ac.abort();
    open.splice(0).forEach((f) => f.reply());
    await Promise.all(pool);
  });
});
