import { describe, expect, it } from 'vitest';
import { EndpointError } from '../../../src/eval/errors.js';
import type { ChatClient, ChatRequest, ChatResult } from '../../../src/eval/ports.js';
import { limitChatClient } from '../../../src/jobs/limited-chat.js';
import { createStats } from '../../../src/jobs/stats.js';
import { redisClients, redisNow } from '../../helpers/redis-clients.js';
import { uniquePrefix } from '../../helpers/redis.js';

const req: ChatRequest = {
  model: 'judge',
  messages: [{ role: 'user', content: 'rate it' }],
  temperature: 0,
  max_tokens: 16,
};
const ok: ChatResult = { content: 'Rating: [[5]]', usage: { promptTokens: 30, completionTokens: 3 } };

describe('limitChatClient', () => {
  const { connect, limiter } = redisClients();
  const worker = (prefix: string) => limiter(prefix);

  it('a 429 with retryAfterMs pauses the endpoint for every client', async () => {
    const prefix = uniquePrefix('chat');
    const probe = connect();
    const limA = worker(prefix);
    const limB = worker(prefix);
    const callTimes: number[] = [];
    const rateLimited: ChatClient = {
      async complete() {
        throw new EndpointError('429 Too Many Requests', 'rate-limited', {
          status: 429,
          retryAfterMs: 400,
          role: 'judge',
        });
      },
    };
    const healthy: ChatClient = {
      async complete() {
        callTimes.push(await redisNow(probe)); // when the endpoint was reached, on Redis' clock
        return ok;
      },
    };
    const a = limitChatClient(rateLimited, { limiter: limA, name: 'judge', maxInFlight: 4 });
    const b = limitChatClient(healthy, { limiter: limB, name: 'judge', maxInFlight: 4 });

    await expect(a.complete(req)).rejects.toMatchObject({ kind: 'rate-limited', status: 429 });
    const until = await limB.pausedUntil('judge');
    expect(until).toBeGreaterThan(0);
    await Promise.all([b.complete(req), b.complete(req), b.complete(req)]);
    expect(callTimes).toHaveLength(3);
    for (const t of callTimes) expect(t).toBeGreaterThanOrEqual(until);
    expect(await limA.inFlight('judge')).toBe(0); // the failed call gave its slot back
  });

  it('holds the in-flight limit at the endpoint across two wrapped clients, and counts usage', async () => {
    const prefix = uniquePrefix('chat');
    const probe = connect();
    const stats = createStats(connect(), prefix);
    let inFlight = 0;
    let maxSeen = 0;
    const fake: ChatClient = {
      async complete() {
        inFlight++;
        maxSeen = Math.max(maxSeen, inFlight);
        await probe.ping();
        inFlight--;
        return ok;
      },
    };
    const usages: number[] = [];
    const opts = {
      name: 'gpu-0',
      maxInFlight: 2,
      stats: { stats, role: 'judge' as const },
      onUsage: (u: { promptTokens: number }) => usages.push(u.promptTokens),
    };
    const c1 = limitChatClient(fake, { ...opts, limiter: worker(prefix) });
    const c2 = limitChatClient(fake, { ...opts, limiter: worker(prefix) });
    await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? c1 : c2).complete(req)));
    expect(maxSeen).toBeLessThanOrEqual(2);
    expect(usages).toHaveLength(12);
    const totals = await stats.read();
    expect(totals.judge_calls).toBe(12);
    expect(totals.judge_prompt_tokens).toBe(12 * 30);
    expect(totals.judge_completion_tokens).toBe(12 * 3);
    expect(totals.candidate_calls).toBe(0);
    await stats.close();
  });

  it('abort while waiting for a slot surfaces as EndpointError aborted and never reaches the endpoint', async () => {
    const prefix = uniquePrefix('chat');
    const lim = limiter(prefix, { maxPollMs: 120_000 });
    let calls = 0;
    const fake: ChatClient = {
      async complete() {
        calls++;
        return ok;
      },
    };
    const held = await lim.acquire('j', { maxInFlight: 1, leaseMs: 120_000 });
    const ac = new AbortController();
    const c = limitChatClient(fake, { limiter: lim, name: 'j', maxInFlight: 1, onWait: () => ac.abort() });
    await expect(c.complete(req, { signal: ac.signal })).rejects.toMatchObject({
      name: 'EndpointError',
      kind: 'aborted',
    });
    expect(calls).toBe(0);
    expect(await lim.inFlight('j')).toBe(1);
    await held();
  });
});
