import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';

let fake: FakeOpenAI | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

const ok = { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0, max_tokens: 5 };

describe('fake OpenAI server', () => {
  it('answers chat completions in the real response shape and records the request', async () => {
    fake = await startFakeOpenAI({
      respond: (b) => ({ content: `got ${b.messages[0]?.content}`, usage: { prompt_tokens: 3, completion_tokens: 2 } }),
    });
    const r = await post(`${fake.url}/chat/completions`, ok);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      object: 'chat.completion',
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'got hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.body.model).toBe('m');
    const models = await (await fetch(`${fake.url}/models`)).json();
    expect(models).toMatchObject({ object: 'list', data: [{ id: 'fake-model' }] });
  });

  it.each([
    [{ ...ok, model: '' }, 'model'],
    [{ ...ok, messages: [] }, 'messages'],
    [{ ...ok, messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
    [{ ...ok, messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    [{ ...ok, temperature: 2.5 }, 'temperature'],
    [{ ...ok, max_tokens: 0 }, 'max_tokens'],
    [{ ...ok, max_tokens: 1.5 }, 'max_tokens'],
  ])('rejects what OpenAI rejects with 400 (%#)', async (body, param) => {
    fake = await startFakeOpenAI();
    const r = await post(`${fake.url}/chat/completions`, body);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { type: 'invalid_request_error', param } });
  });

  it('404s unknown paths, enforces the API key, and injects queued and predicate faults', async () => {
    fake = await startFakeOpenAI({ apiKey: 'sekret' });
    expect((await post(`${fake.url}/nope`, ok, { authorization: 'Bearer sekret' })).status).toBe(404);
    expect((await post(`${fake.url}/chat/completions`, ok)).status).toBe(401);
    fake.fail({ status: 429, retryAfter: '3' }, 2);
    fake.failWhen((b) => (b.model === 'bad' ? { status: 503 } : undefined));
    const auth = { authorization: 'Bearer sekret' };
    const a = await post(`${fake.url}/chat/completions`, ok, auth);
    expect(a.status).toBe(429);
    expect(a.headers.get('retry-after')).toBe('3');
    expect((await post(`${fake.url}/chat/completions`, ok, auth)).status).toBe(429);
    expect((await post(`${fake.url}/chat/completions`, ok, auth)).status).toBe(200);
    expect((await post(`${fake.url}/chat/completions`, { ...ok, model: 'bad' }, auth)).status).toBe(503);
  });

  it('resets the socket, hangs for timeouts, serves extra routes and signals waiters', async () => {
    fake = await startFakeOpenAI();
    fake.route('POST', '/v1/load_lora_adapter', (body) => ({ status: 200, body: { loaded: body } }));
    expect((await post(`${fake.url}/load_lora_adapter`, { lora_name: 'x' })).json).toEqual({
      loaded: { lora_name: 'x' },
    });
    fake.fail({ kind: 'reset' });
    await expect(post(`${fake.url}/chat/completions`, ok)).rejects.toThrow();
    fake.fail({ kind: 'timeout' });
    const ac = new AbortController();
    const hung = post(`${fake.url}/chat/completions`, ok, {});
    await fake.waitForRequests(2);
    const normal = await fetch(`${fake.url}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(ok),
      signal: ac.signal,
    });
    expect(normal.status).toBe(200);
    expect(fake.inFlight).toBe(1);
    ac.abort();
    await fake.close();
    await expect(hung).rejects.toThrow();
    fake = undefined;
  });
});
