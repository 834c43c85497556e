/**
 * JUDGE_TPM against a fake judge with a tokens-per-window budget that sends x-ratelimit-* headers:
 * two workers share the budget through Redis, reserve estimated prompt + max_tokens, settle to real
 * usage, and the judge never answers 429 while its budget is used nearly to the full.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { limitChatClient, refillMs } from '../../../src/jobs/limited-chat.js';
import { createOpenAIChatClient } from '../../../src/llm/openai-chat.js';
import { parseResetDuration, rateLimitFromHeaders } from '../../../src/llm/rate-limit-headers.js';
import { startFakeOpenAI, type FakeOpenAI } from '../../fakes/openai-server.js';
import { redisClients } from '../../helpers/redis-clients.js';
import { uniquePrefix } from '../../helpers/redis.js';

const BUDGET = 3000;
// Long against a call so every call that runs lands in the first window or two, whatever the load.
const WINDOW_MS = 2500;

describe('judge tokens per minute', () => {
  const { limiter } = redisClients();
  const fakes: FakeOpenAI[] = [];
  afterAll(async () => {
    for (const f of fakes) await f.close();
  });

  it('keeps a fake judge with a token budget within it, near its full use, without a single 429', async () => {
    // Replies of ~90 tokens to prompts of ~25, max_tokens 100: each call reserves ~130 and uses ~115.
    const judge = await startFakeOpenAI({
      respond: () => 'Rating: [[7]] '.repeat(26),
      tokenBudget: { tokens: BUDGET, windowMs: WINDOW_MS },
    });
    fakes.push(judge);
    const prefix = uniquePrefix('tpm');
    const name = 'judge:fake';
    const waits: string[] = [];
    const worker = () =>
      limitChatClient(createOpenAIChatClient({ baseURL: judge.url, apiKey: 'k', role: 'judge' }), {
        limiter: limiter(prefix),
        name,
        maxInFlight: 16,
        tpm: BUDGET,
        windowMs: WINDOW_MS,
        onWait: (w) => waits.push(w.reason),
      });
    const [a, b] = [worker(), worker()];
    const req = (i: number) => ({
      model: 'judge',
      messages: [{ role: 'user' as const, content: `Please rate answer number ${i} of the candidate, briefly.` }],
      temperature: 0,
      max_tokens: 100,
    });
    // enough calls to need about two and a half windows of budget
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).complete(req(i))));

    expect(results).toHaveLength(60);
    expect(judge.budget.rejected).toBe(0); // not one 429
    expect(judge.requests).toHaveLength(60); // and so no retries behind the caller's back
    expect(judge.budget.peakWindowTokens).toBeLessThanOrEqual(BUDGET);
    // waits happened for tokens (the budget was the constraint), yet the budget was used to >= 90 %
    expect(waits).toContain('tokens');
    expect(judge.budget.peakWindowTokens).toBeGreaterThanOrEqual(0.9 * BUDGET);
  });

  it('reads the judge’s x-ratelimit headers and turns them into the wait before the budget is back', () => {
    const h = new Headers({
      'x-ratelimit-limit-tokens': '30000',
      'x-ratelimit-remaining-tokens': '1000',
      'x-ratelimit-reset-tokens': '58s',
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '120ms',
    });
    const rl = rateLimitFromHeaders(h)!;
    expect(rl).toEqual({
      limitTokens: 30000,
      remainingTokens: 1000,
      resetTokensMs: 58_000,
      limitRequests: 500,
      remainingRequests: 0,
      resetRequestsMs: 120,
    });
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(parseResetDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseResetDuration('soon')).toBeUndefined();
    // 2,900 more tokens at 29,000 per 58 s of refill: 5.8 s, not the full reset
    expect(refillMs(3900, rl.remainingTokens, rl.limitTokens, rl.resetTokensMs)).toBe(5800);
    expect(refillMs(900, rl.remainingTokens, rl.limitTokens, rl.resetTokensMs)).toBe(0);
    expect(refillMs(3900, 1000, undefined, 58_000)).toBe(58_000); // limit unknown: wait the whole reset
    expect(refillMs(1, rl.remainingRequests, rl.limitRequests, rl.resetRequestsMs)).toBe(1);
    expect(rateLimitFromHeaders(new Headers())).toBeUndefined();
  });

  it('pauses every worker when the judge says its request budget is spent', async () => {
    const spent = await startFakeOpenAI({
      respond: () => 'Rating: [[7]]',
      replyHeaders: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20s' },
    });
    fakes.push(spent);
    const prefix = uniquePrefix('hdr');
    const c = limitChatClient(createOpenAIChatClient({ baseURL: spent.url, apiKey: 'k', role: 'judge' }), {
      limiter: limiter(prefix),
      name: 'judge:h',
      maxInFlight: 4,
    });
    await c.complete({ model: 'j', messages: [{ role: 'user', content: 'x' }], temperature: 0, max_tokens: 5 });
    const other = limiter(prefix); // another worker sees the same pause
    expect(await other.pausedUntil('judge:h')).toBeGreaterThan(0);
  });
});
