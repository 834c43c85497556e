/**
 * Wraps a ChatClient so every call holds a slot of the shared limiter for its whole duration, and a
 * 429 with Retry-After pauses that endpoint for every worker, not just the one that hit it. Each
 * finished call also feeds the endpoint's adaptive concurrency limit, settles its token reservation
 * from `usage`, and pauses everyone when the endpoint's x-ratelimit-* headers say its budget is spent.
 */
import type { ChatClient, ChatRequest, RateLimitState, TokenUsage } from '../eval/ports.js';
import { EndpointError, isEndpointError, type EndpointRole } from '../eval/errors.js';
import type { AcquireOptions, AdaptiveSettings, Limiter, Release } from './limiter.js';
import type { Stats } from './stats.js';
import { estimatePromptTokens } from './tokens.js';

/** Latency is compared per generated token, with short replies counted as this many (TTFT dominates them). */
const MIN_TOKENS_FOR_LATENCY = 32;

export interface LimitChatOptions {
  limiter: Limiter;
  /** Limiter name: one per endpoint (judge endpoint, inference target). */
  name: string;
  /** Fixed limit, or the ceiling when `adaptive` is set. */
  maxInFlight?: number;
  /** Grants per window across all workers (JUDGE_RPM scaled to `windowMs`). */
  grantsPerWindow?: number;
  /** Tokens per window (estimated prompt + max_tokens reserved per call, settled from usage). */
  tpm?: number;
  /** Window for `grantsPerWindow` and `tpm` (default 60 s). */
  windowMs?: number;
  leaseMs?: number;
  /** Adaptive in-flight limit: starts at `start`, never above maxInFlight. */
  adaptive?: Omit<AdaptiveSettings, 'ceiling'>;
  /** Clock for call latency (default performance.now); tests drive it. */
  now?: () => number;
  /** Called after each successful call. */
  onUsage?: (usage: TokenUsage, req: ChatRequest) => void;
  /** When set, calls and tokens are counted as `<role>_calls`, `<role>_prompt_tokens`, ... */
  stats?: { stats: Stats; role: EndpointRole };
  onWait?: AcquireOptions['onWait'];
  /** Each new adaptive limit (metrics, tests). */
  onLimit?: (limit: number) => void;
}

/** 429, 503/504 and timeouts mean the endpoint has more than it can take. */
function isOverload(err: unknown): boolean {
  if (!isEndpointError(err)) return false;
  return (
    err.kind === 'rate-limited' ||
    err.kind === 'timeout' ||
    (err.kind === 'server' && (err.status === 503 || err.status === 504))
  );
}

/**
 * How long until `need` units are available again, from one x-ratelimit-* triple: 0 while enough
 * remain; with the limit known, the time the budget's refill (OpenAI refills continuously, and
 * `reset` is the time to refill completely) takes to bring `need`; without it, the whole reset.
 */
export function refillMs(
  need: number,
  remaining: number | undefined,
  limit: number | undefined,
  resetMs: number | undefined,
): number {
  if (remaining === undefined || resetMs === undefined || remaining >= need) return 0;
  if (limit === undefined || limit <= remaining) return resetMs;
  return Math.min(resetMs, Math.ceil(((need - remaining) * resetMs) / (limit - remaining)));
}

export function limitChatClient(inner: ChatClient, o: LimitChatOptions): ChatClient {
  const now = o.now ?? (() => performance.now());
  const ignore = () => undefined;
  // The shared limit as this process last heard it (every finished call brings the current value).
  let limitNow = o.adaptive ? Math.min(o.adaptive.start, o.maxInFlight ?? Infinity) : (o.maxInFlight ?? Infinity);
  const adapt = async (release: Release, outcome: 'ok' | 'overload', msPerToken: number) => {
    if (!o.adaptive || !o.maxInFlight) return;
    const limit = await o.limiter
      .adapt(
        o.name,
        { ...o.adaptive, ceiling: o.maxInFlight },
        { outcome, msPerToken, grantedAt: release.grantedAt, inFlightAtGrant: release.inFlight },
      )
      .catch(ignore);
    if (limit !== undefined) {
      limitNow = limit;
      o.onLimit?.(limit);
    }
  };
  /** The endpoint's own budget is (nearly) spent: everyone waits for its reset instead of collecting 429s. */
  const honourHeaders = async (rl: RateLimitState | undefined, nextCallTokens: number) => {
    if (!rl) return;
    const wait = Math.max(
      refillMs(1, rl.remainingRequests, rl.limitRequests, rl.resetRequestsMs),
      refillMs(nextCallTokens, rl.remainingTokens, rl.limitTokens, rl.resetTokensMs),
    );
    if (wait > 0) await o.limiter.pause(o.name, wait).catch(ignore);
  };

  return {
    inFlightLimit: () => (o.maxInFlight ? limitNow : Infinity),
    async complete(req, opts) {
      const reserved = estimatePromptTokens(req.messages) + req.max_tokens;
      let release: Release;
      try {
        release = await o.limiter.acquire(o.name, {
          maxInFlight: o.maxInFlight,
          grantsPerWindow: o.grantsPerWindow,
          tpm: o.tpm,
          tokens: o.tpm ? reserved : 0,
          windowMs: o.windowMs,
          leaseMs: o.leaseMs,
          adaptiveStart: o.adaptive?.start,
          priority: opts?.priority,
          signal: opts?.signal,
          onWait: o.onWait,
        });
      } catch (err) {
        // The engine tells cancellation from failure by kind, not by DOMException.
        if (opts?.signal?.aborted)
          throw new EndpointError(`${o.name}: aborted while waiting for a slot`, 'aborted', { cause: err });
        throw err;
      }
      const started = now();
      try {
        const result = await inner.complete(req, opts);
        const { usage } = result;
        await adapt(release, 'ok', (now() - started) / Math.max(MIN_TOKENS_FOR_LATENCY, usage.completionTokens));
        const used = usage.promptTokens + usage.completionTokens;
        if (o.tpm && used > 0)
          await o.limiter.settleTokens(o.name, release.leaseId, reserved, used, o.windowMs).catch(ignore);
        await honourHeaders(result.rateLimit, reserved);
        o.onUsage?.(usage, req);
        o.stats?.stats.addUsage(o.stats.role, usage);
        return result;
      } catch (err) {
        if (isOverload(err)) await adapt(release, 'overload', 0);
        if (
          isEndpointError(err) &&
          err.kind === 'rate-limited' &&
          err.retryAfterMs !== undefined &&
          err.retryAfterMs > 0
        ) {
          // Everyone backs off, not only this worker; the caller's retry loop then waits out the pause.
          await o.limiter.pause(o.name, err.retryAfterMs).catch(ignore);
        }
        throw err;
      } finally {
        await release();
      }
    },
  };
}
