/**
 * A fake OpenAI-compatible server over real HTTP (node:http, port 0), shared by every test that
 * needs a candidate model, a judge, or a vLLM endpoint. It speaks the real wire format so the
 * openai SDK and our adapters are exercised end to end, and it rejects what OpenAI would reject so a
 * malformed request fails the test instead of silently passing.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { BatchingModel, type BatchingParams } from './batching.js';

export interface ChatCompletionBody {
  model: string;
  messages: { role: string; content: string }[];
  temperature?: number;
  max_tokens?: number;
  response_format?: unknown;
  [k: string]: unknown;
}
export type FakeReply = string | { content: string; usage?: { prompt_tokens: number; completion_tokens: number } };
export type Fault = { status: number; retryAfter?: string; body?: unknown } | { kind: 'timeout' } | { kind: 'reset' };
/** Thrown (rejected) by `respond` to answer that request with a fault after all, e.g. a 429 decided late. */
export class FakeFault extends Error {
  constructor(readonly fault: { status: number; retryAfter?: string; body?: unknown }) {
    super(`fake fault ${fault.status}`);
  }
}

export interface FakeOpenAIOptions {
  respond?: (body: ChatCompletionBody, req: { headers: IncomingHttpHeaders }) => FakeReply | Promise<FakeReply>;
  latencyMs?: number;
  models?: string[];
  /** When set: 401 unless `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /**
   * Continuous-batching latency (see batching.ts) instead of a fixed one: each request generates
   * `tokens(body)` tokens (capped by max_tokens), reported as its completion_tokens.
   */
  batching?: { params: BatchingParams; tokens: (body: ChatCompletionBody) => number };
  /**
   * A hosted API's tokens-per-window budget: a request is charged its prompt (~4 chars per token) plus
   * max_tokens on arrival, corrected to its real usage when answered; one that does not fit gets a
   * 429. Every reply carries x-ratelimit-limit/remaining/reset-tokens headers.
   */
  tokenBudget?: { tokens: number; windowMs: number };
  /** Extra headers on every successful chat reply (e.g. x-ratelimit-*). */
  replyHeaders?: Record<string, string>;
}
type RouteHandler = (
  body: unknown,
  req: IncomingMessage,
) => { status: number; body: unknown } | Promise<{ status: number; body: unknown }>;
export interface FakeOpenAI {
  /** Base URL including /v1. */
  url: string;
  /** Chat completions received, including faulted ones. */
  requests: Array<{ path: string; body: ChatCompletionBody; headers: IncomingHttpHeaders }>;
  inFlight: number;
  maxInFlight: number;
  /** With `tokenBudget`: 429s sent for it, and the most tokens ever counted in one window. */
  budget: { rejected: number; peakWindowTokens: number };
  /** The next `times` (default 1) chat requests get this fault. */
  fail(fault: Fault, times?: number): void;
  failWhen(pred: (body: ChatCompletionBody) => Fault | undefined): void;
  setRespond(fn: FakeOpenAIOptions['respond']): void;
  route(method: string, path: string, handler: RouteHandler): void;
  /** Resolves once requests.length >= n. */
  waitForRequests(n: number): Promise<void>;
  /** Also destroys open sockets. */
  close(): Promise<void>;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

function openaiError(message: string, type: string, param: string | null = null, code: string | null = null) {
  return { error: { message, type, param, code } };
}

/** Rough token count (~4 chars per token), enough for usage/cost plumbing tests. */
function roughTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Returns an error message if OpenAI would reject the body with 400, else undefined. */
function validate(body: unknown): { message: string; param: string } | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { message: 'Request body must be a JSON object.', param: 'body' };
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model.length === 0)
    return { message: 'you must provide a model parameter', param: 'model' };
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    return { message: "'messages' must be a non-empty array", param: 'messages' };
  for (const [i, m] of b.messages.entries()) {
    if (typeof m !== 'object' || m === null)
      return { message: `messages[${i}] must be an object`, param: `messages[${i}]` };
    const msg = m as Record<string, unknown>;
    if (typeof msg.role !== 'string' || !ROLES.has(msg.role)) {
      return {
        message: `Invalid value for 'messages[${i}].role': '${String(msg.role)}'`,
        param: `messages[${i}].role`,
      };
    }
    if (typeof msg.content !== 'string')
      return {
        message: `Invalid type for 'messages[${i}].content': expected a string`,
        param: `messages[${i}].content`,
      };
  }
  if (
    b.temperature !== undefined &&
    (typeof b.temperature !== 'number' || !(b.temperature >= 0 && b.temperature <= 2))
  ) {
    return {
      message: `Invalid 'temperature': must be between 0 and 2, got ${String(b.temperature)}`,
      param: 'temperature',
    };
  }
  if (
    b.max_tokens !== undefined &&
    (typeof b.max_tokens !== 'number' || !Number.isInteger(b.max_tokens) || b.max_tokens < 1)
  ) {
    return {
      message: `Invalid 'max_tokens': must be a positive integer, got ${String(b.max_tokens)}`,
      param: 'max_tokens',
    };
  }
  return undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  let respond = opts.respond ?? ((body: ChatCompletionBody) => `echo: ${body.messages.at(-1)?.content ?? ''}`);
  const queued: Array<{ fault: Fault; times: number }> = [];
  const predicates: Array<(body: ChatCompletionBody) => Fault | undefined> = [];
  const routes = new Map<string, RouteHandler>();
  const sockets = new Set<Socket>();
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const hanging = new Set<ServerResponse>();
  let seq = 0;

  const fake: FakeOpenAI = {
    url: '',
    requests: [],
    inFlight: 0,
    maxInFlight: 0,
    budget: { rejected: 0, peakWindowTokens: 0 },
    fail(fault, times = 1) {
      queued.push({ fault, times });
    },
    failWhen(pred) {
      predicates.push(pred);
    },
    setRespond(fn) {
      if (fn) respond = fn;
    },
    route(method, path, handler) {
      routes.set(`${method.toUpperCase()} ${path}`, handler);
    },
    waitForRequests(n) {
      if (fake.requests.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    close() {
      if (timer) clearTimeout(timer);
      for (const r of hanging) r.destroy();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };

  function authorized(req: IncomingMessage): boolean {
    return opts.apiKey === undefined || req.headers.authorization === `Bearer ${opts.apiKey}`;
  }
  function unauthorized(res: ServerResponse): void {
    send(res, 401, openaiError('Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key'));
  }

  // --- continuous batching: one model, one timer for its next event
  const model = opts.batching ? new BatchingModel(opts.batching.params) : undefined;
  const finishing = new Map<number, () => void>();
  let generations = 0;
  let timer: NodeJS.Timeout | undefined;
  const settle = (ids: number[]) => ids.forEach((id) => finishing.get(id)?.());
  const schedule = () => {
    if (timer) clearTimeout(timer);
    const at = model!.nextEventAt();
    timer =
      at === undefined
        ? undefined
        : setTimeout(
            () => {
              settle(model!.advance(performance.now()));
              schedule();
            },
            Math.max(0, at - performance.now()),
          );
  };
  function generate(id: number, tokens: number): Promise<void> {
    return new Promise((resolve) => {
      finishing.set(id, () => {
        finishing.delete(id);
        resolve();
      });
      settle(model!.add(id, tokens, performance.now()));
      schedule();
    });
  }

  // --- token budget: sliding window of charges by arrival time
  const charges: Array<{ at: number; tokens: number }> = [];
  const windowed = (now: number) => {
    const w = opts.tokenBudget!;
    while (charges.length && charges[0]!.at <= now - w.windowMs) charges.shift();
    return charges.reduce((n, c) => n + c.tokens, 0);
  };
  const budgetHeaders = (now: number): Record<string, string> => {
    const w = opts.tokenBudget!;
    const used = windowed(now);
    // time until the window is empty again, as OpenAI's "reset" (to the initial state)
    const reset = charges.length ? Math.max(0, Math.ceil(charges.at(-1)!.at + w.windowMs - now)) : 0;
    return {
      'x-ratelimit-limit-tokens': String(w.tokens),
      'x-ratelimit-remaining-tokens': String(Math.max(0, w.tokens - used)),
      'x-ratelimit-reset-tokens': `${reset}ms`,
    };
  };

  function notifyWaiters(): void {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (fake.requests.length >= w.n) {
        waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  function nextFault(body: ChatCompletionBody): Fault | undefined {
    const head = queued[0];
    if (head) {
      head.times -= 1;
      if (head.times <= 0) queued.shift();
      return head.fault;
    }
    for (const p of predicates) {
      const f = p(body);
      if (f) return f;
    }
    return undefined;
  }

  async function chat(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    let parsed: unknown;
    try {
      parsed = raw.length ? JSON.parse(raw) : undefined;
    } catch {
      send(res, 400, openaiError('We could not parse the JSON body of your request.', 'invalid_request_error'));
      return;
    }
    const invalid = validate(parsed);
    const body = (invalid ? { model: '', messages: [], ...(parsed as object) } : parsed) as ChatCompletionBody;
    fake.requests.push({ path: req.url ?? '', body, headers: req.headers });
    notifyWaiters();
    if (!authorized(req)) return unauthorized(res); // recorded first: tests count rejected calls too
    if (invalid) {
      send(res, 400, openaiError(invalid.message, 'invalid_request_error', invalid.param));
      return;
    }
    let charge: { at: number; tokens: number } | undefined;
    if (opts.tokenBudget) {
      const now = performance.now();
      const used = windowed(now);
      const need = roughTokens(body.messages.map((m) => m.content).join('\n')) + (body.max_tokens ?? 16);
      if (used > 0 && used + need > opts.tokenBudget.tokens) {
        fake.budget.rejected += 1;
        const retry = Math.ceil(charges[0]!.at + opts.tokenBudget.windowMs - now);
        send(
          res,
          429,
          openaiError('Rate limit reached for tokens per min (TPM).', 'tokens', null, 'rate_limit_exceeded'),
          { ...budgetHeaders(now), 'retry-after-ms': String(retry) },
        );
        return;
      }
      charge = { at: now, tokens: need };
      charges.push(charge);
    }
    fake.inFlight += 1;
    fake.maxInFlight = Math.max(fake.maxInFlight, fake.inFlight);
    let generated: number | undefined;
    try {
      if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
      if (opts.batching) {
        generated = Math.max(1, Math.min(body.max_tokens ?? Infinity, opts.batching.tokens(body)));
        await generate(++generations, generated);
      }
      const fault = nextFault(body);
      if (fault && 'kind' in fault) {
        if (fault.kind === 'reset') req.socket.destroy();
        else hanging.add(res); // 'timeout': never answer; the client gives up (or close() destroys it)
        if (fault.kind === 'timeout') await new Promise<void>((r) => res.on('close', () => r()));
        return;
      }
      const sendFault = (f: { status: number; retryAfter?: string; body?: unknown }) => {
        const headers: Record<string, string> = f.retryAfter !== undefined ? { 'retry-after': f.retryAfter } : {};
        const type =
          f.status === 429 ? 'rate_limit_exceeded' : f.status >= 500 ? 'server_error' : 'invalid_request_error';
        send(res, f.status, f.body ?? openaiError(`fake fault ${f.status}`, type), headers);
      };
      if (fault) return sendFault(fault);
      let reply: FakeReply;
      try {
        reply = await respond(body, { headers: req.headers });
      } catch (err) {
        if (err instanceof FakeFault) return sendFault(err.fault);
        send(
          res,
          500,
          openaiError(`fake respond() threw: ${err instanceof Error ? err.message : String(err)}`, 'server_error'),
        );
        return;
      }
      const content = typeof reply === 'string' ? reply : reply.content;
      const usage =
        typeof reply === 'object' && reply.usage
          ? reply.usage
          : {
              prompt_tokens: roughTokens(body.messages.map((m) => m.content).join('\n')),
              completion_tokens: generated ?? roughTokens(content),
            };
      let headers: Record<string, string> = { ...opts.replyHeaders };
      if (charge) {
        charge.tokens = usage.prompt_tokens + usage.completion_tokens;
        const now = performance.now();
        fake.budget.peakWindowTokens = Math.max(fake.budget.peakWindowTokens, windowed(now));
        headers = { ...headers, ...budgetHeaders(now) };
      }
      send(
        res,
        200,
        {
          id: `chatcmpl-fake-${++seq}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: body.model,
          choices: [
            { index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' },
          ],
          usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
        },
        headers,
      );
    } finally {
      fake.inFlight -= 1;
    }
  }

  const server = createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const path = (req.url ?? '').split('?')[0] ?? '';
      const isChat = req.method === 'POST' && path === '/v1/chat/completions';
      if (!isChat && !authorized(req)) return unauthorized(res);
      const extra = routes.get(`${req.method ?? 'GET'} ${path}`);
      if (extra) {
        let body: unknown = raw;
        try {
          body = raw.length ? JSON.parse(raw) : undefined;
        } catch {
          // non-JSON bodies are handed over as text
        }
        const out = await extra(body, req);
        send(res, out.status, out.body);
        return;
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') return chat(req, res, raw);
      if (req.method === 'GET' && path === '/v1/models') {
        const created = Math.floor(Date.now() / 1000);
        send(res, 200, {
          object: 'list',
          data: (opts.models ?? ['fake-model']).map((id) => ({ id, object: 'model', created, owned_by: 'fake' })),
        });
        return;
      }
      send(
        res,
        404,
        openaiError(`Unknown request URL: ${req.method ?? ''} ${path}`, 'invalid_request_error', null, 'unknown_url'),
      );
    })().catch((err: unknown) => send(res, 500, openaiError(String(err), 'server_error')));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}
