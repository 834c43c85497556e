import { afterEach, describe, expect, it } from 'vitest';
import { EndpointError } from '../../src/eval/errors.js';
import type { ChatRequest } from '../../src/eval/ports.js';
import { createOpenAIChatClient } from '../../src/llm/openai-chat.js';
import { parseRetryAfter } from '../../src/retry.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';

let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const req: ChatRequest = {
  model: 'judge-1',
  messages: [{ role: 'user', content: 'rate this' }],
  temperature: 0,
  max_tokens: 16,
};

async function failure(p: Promise<unknown>): Promise<EndpointError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EndpointError);
  return err as EndpointError;
}

describe('openai chat adapter', () => {
  it('sends the request as given and returns content and usage', async () => {
    fake = await startFakeOpenAI({
      apiKey: 'k',
      respond: () => ({ content: 'Rating: [[7]]', usage: { prompt_tokens: 11, completion_tokens: 4 } }),
    });
    const client = createOpenAIChatClient({
      baseURL: fake.url,
      apiKey: 'k',
      role: 'judge',
      headers: { 'x-trace': 't1' },
    });
    const out = await client.complete(req);
    expect(out).toEqual({
      content: 'Rating: [[7]]',
      usage: { promptTokens: 11, completionTokens: 4 },
      finishReason: 'stop',
    });
    expect(fake.requests[0]?.body).toMatchObject({
      model: 'judge-1',
      temperature: 0,
      max_tokens: 16,
      messages: req.messages,
    });
    expect(fake.requests[0]?.headers['x-trace']).toBe('t1');
  });

  it('maps 429 to rate-limited with Retry-After in seconds, and does not retry itself', async () => {
    fake = await startFakeOpenAI();
    fake.fail({ status: 429, retryAfter: '7' });
    const err = await failure(createOpenAIChatClient({ baseURL: fake.url, apiKey: 'k', role: 'judge' }).complete(req));
    expect(err.kind).toBe('rate-limited');
    expect(err.retryAfterMs).toBe(7000);
    expect(err.retryable).toBe(true);
    expect(fake.requests).toHaveLength(1);
  });

  it('parses Retry-After dates and retry-after-ms', () => {
    const h = (o: Record<string, string>) => new Headers(o);
    expect(parseRetryAfter(h({ 'retry-after-ms': '250' }))).toBe(250);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter(h({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now)).toBe(5000);
    expect(parseRetryAfter(h({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfter(h({}))).toBeUndefined();
  });

  it('maps 5xx to server and 400/401/403/404/422 to unrecoverable naming status and message', async () => {
    fake = await startFakeOpenAI();
    const client = createOpenAIChatClient({ baseURL: fake.url, apiKey: 'k', role: 'candidate' });
    fake.fail({ status: 503 });
    expect((await failure(client.complete(req))).kind).toBe('server');
    for (const status of [400, 401, 403, 404, 422]) {
      fake.fail({ status, body: { error: { message: `nope-${status}`, type: 'x', param: null, code: null } } });
      const err = await failure(client.complete(req));
      expect(err.kind).toBe('unrecoverable');
      expect(err.status).toBe(status);
      expect(err.message).toContain(String(status));
      expect(err.message).toContain(`nope-${status}`);
    }
  });

  it('maps a wrong API key (real 401 from the server) to unrecoverable', async () => {
    fake = await startFakeOpenAI({ apiKey: 'right' });
    const err = await failure(
      createOpenAIChatClient({ baseURL: fake.url, apiKey: 'wrong', role: 'judge' }).complete(req),
    );
    expect(err.kind).toBe('unrecoverable');
    expect(err.message).toContain('Incorrect API key');
  });

  it('maps timeouts, resets, refused connections and aborts', async () => {
    fake = await startFakeOpenAI();
    const client = createOpenAIChatClient({ baseURL: fake.url, apiKey: 'k', role: 'judge' });
    fake.fail({ kind: 'timeout' });
    expect((await failure(client.complete(req, { timeoutMs: 100 }))).kind).toBe('timeout');
    fake.fail({ kind: 'reset' });
    expect((await failure(client.complete(req))).kind).toBe('connection');
    fake.fail({ kind: 'timeout' });
    const ac = new AbortController();
    const pending = client.complete(req, { signal: ac.signal });
    await fake.waitForRequests(3);
    ac.abort();
    expect((await failure(pending)).kind).toBe('aborted');
    const url = fake.url;
    await fake.close();
    fake = undefined;
    expect(
      (await failure(createOpenAIChatClient({ baseURL: url, apiKey: 'k', role: 'judge' }).complete(req))).kind,
    ).toBe('connection');
  });
});
