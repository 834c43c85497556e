/**
 * Wraps a ChatClient so every call holds a slot of the shared limiter for its whole duration, and a
 * 429 with Retry-After pauses that endpoint for every worker, not just the one that hit it.
 */
import type { ChatClient, ChatRequest, TokenUsage } from '../eval/ports.js';
import { EndpointError, isEndpointError, type EndpointRole } from '../eval/errors.js';
import type { AcquireOptions, Limiter, Release } from './limiter.js';
import type { Stats } from './stats.js';

export interface LimitChatOptions {
  limiter: Limiter;
  /** Limiter name: one per endpoint (judge endpoint, inference target). */
  name: string;
  maxInFlight?: number;
  rpm?: number;
  /** Window for `rpm` (default 60 s). */
  windowMs?: number;
  leaseMs?: number;
  /** Called after each successful call. */
  onUsage?: (usage: TokenUsage, req: ChatRequest) => void;
  /** When set, calls and tokens are counted as `<role>_calls`, `<role>_prompt_tokens`, ... */
  stats?: { stats: Stats; role: EndpointRole };
  onWait?: AcquireOptions['onWait'];
}

export function limitChatClient(inner: ChatClient, o: LimitChatOptions): ChatClient {
  return {
    async complete(req, opts) {
      let release: Release;
      try {
        release = await o.limiter.acquire(o.name, {
          maxInFlight: o.maxInFlight,
          rpm: o.rpm,
          windowMs: o.windowMs,
          leaseMs: o.leaseMs,
          signal: opts?.signal,
          onWait: o.onWait,
        });
      } catch (err) {
        // The engine tells cancellation from failure by kind, not by DOMException.
        if (opts?.signal?.aborted) throw new EndpointError(`${o.name}: aborted while waiting for a slot`, 'aborted', { cause: err });
        throw err;
      }
      try {
        const result = await inner.complete(req, opts);
        o.onUsage?.(result.usage, req);
        o.stats?.stats.addUsage(o.stats.role, result.usage);
        return result;
      } catch (err) {
        if (isEndpointError(err) && err.kind === 'rate-limited' && err.retryAfterMs !== undefined && err.retryAfterMs > 0) {
          // Everyone backs off, not only this worker; the caller's retry loop then waits out the pause.
          await o.limiter.pause(o.name, err.retryAfterMs).catch(() => undefined);
        }
        throw err;
      } finally {
        await release();
      }
    },
  };
}
