/**
 * The openai-SDK adapter behind the ChatClient port, and the only file that imports `openai`.
 * The SDK's own retries are off: the engine owns retries (backoff, Retry-After, resume), so a
 * failure must surface at once, classified as an EndpointError.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { EndpointError, type EndpointRole } from '../eval/errors.js';
import { parseRetryAfter } from '../retry.js';
import type { ChatCallOptions, ChatClient, ChatRequest, ChatResult } from '../eval/ports.js';
import { rateLimitFromHeaders } from './rate-limit-headers.js';

export interface OpenAIChatClientOptions {
  baseURL: string;
  apiKey: string;
  headers?: Record<string, string>;
  role: EndpointRole;
  /** Default per-call timeout; a per-call `timeoutMs` overrides it. */
  timeoutMs?: number;
}

const UNRECOVERABLE = new Set([400, 401, 403, 404, 422]);

function serverMessage(err: APIError): string {
  const body = err.error as { message?: unknown } | undefined;
  return typeof body?.message === 'string' ? body.message : err.message;
}

/** Maps any failure of one SDK call to an EndpointError the engine can act on. */
function toEndpointError(err: unknown, role: EndpointRole, signal?: AbortSignal): EndpointError {
  if (err instanceof EndpointError) return err;
  if (signal?.aborted || err instanceof APIUserAbortError)
    return new EndpointError(`${role} call aborted`, 'aborted', { role, cause: err });
  if (err instanceof APIConnectionTimeoutError)
    return new EndpointError(`${role} call timed out`, 'timeout', { role, cause: err });
  if (err instanceof APIConnectionError) {
    return new EndpointError(
      `${role} connection failed: ${err.cause instanceof Error ? err.cause.message : err.message}`,
      'connection',
      { role, cause: err },
    );
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    const msg = `${role} endpoint returned HTTP ${status}: ${serverMessage(err)}`;
    if (status === 429)
      return new EndpointError(msg, 'rate-limited', {
        status,
        role,
        retryAfterMs: parseRetryAfter(err.headers),
        cause: err,
      });
    if (status >= 500)
      return new EndpointError(msg, 'server', { status, role, retryAfterMs: parseRetryAfter(err.headers), cause: err });
    if (UNRECOVERABLE.has(status)) return new EndpointError(msg, 'unrecoverable', { status, role, cause: err });
    // 408/409 and other 4xx: transient by OpenAI's own retry rules
    return new EndpointError(msg, 'server', { status, role, cause: err });
  }
  const text = err instanceof Error ? err.message : String(err);
  return new EndpointError(`${role} call failed: ${text}`, 'connection', { role, cause: err });
}

export function createOpenAIChatClient(opts: OpenAIChatClientOptions): ChatClient {
  const client = new OpenAI({
    baseURL: opts.baseURL,
    apiKey: opts.apiKey,
    defaultHeaders: opts.headers,
    maxRetries: 0,
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
  });
  return {
    async complete(req: ChatRequest, call: ChatCallOptions = {}): Promise<ChatResult> {
      if (call.signal?.aborted) throw new EndpointError(`${opts.role} call aborted`, 'aborted', { role: opts.role });
      try {
        // withResponse: the x-ratelimit-* headers let the shared limiter stop before a 429.
        const { data: res, response } = await client.chat.completions
          .create(
            {
              model: req.model,
              messages: req.messages,
              temperature: req.temperature,
              max_tokens: req.max_tokens,
              ...(req.response_format ? { response_format: req.response_format } : {}),
            },
            {
              signal: call.signal,
              ...(call.timeoutMs !== undefined ? { timeout: call.timeoutMs } : {}),
              maxRetries: 0,
            },
          )
          .withResponse();
        const choice = res.choices[0];
        if (!choice)
          throw new EndpointError(`${opts.role} endpoint returned no choices`, 'server', { role: opts.role });
        return {
          content: choice.message.content ?? '',
          usage: { promptTokens: res.usage?.prompt_tokens ?? 0, completionTokens: res.usage?.completion_tokens ?? 0 },
          finishReason: choice.finish_reason,
          rateLimit: rateLimitFromHeaders(response.headers),
        };
      } catch (err) {
        throw toEndpointError(err, opts.role, call.signal);
      }
    },
  };
}
