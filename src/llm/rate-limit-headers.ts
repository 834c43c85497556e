/**
 * OpenAI's x-ratelimit-* response headers, read so the limiter can stop before the judge says 429.
 * Reset values are durations such as "1s", "6m0s", "20ms", "1h2m3.5s" (or plain seconds).
 */
import type { RateLimitState } from '../eval/ports.js';

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** "6m0s" -> 360000; undefined when unparseable. */
export function parseResetDuration(raw: string | null): number | undefined {
  if (raw === null || raw.trim() === '') return undefined;
  const text = raw.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  let total = 0;
  let rest = text;
  const part = /^(\d+(?:\.\d+)?)(ms|h|m|s)/;
  while (rest.length) {
    const m = part.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.ceil(total);
}

function count(raw: string | null): number | undefined {
  if (raw === null || raw.trim() === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function rateLimitFromHeaders(headers: { get(name: string): string | null }): RateLimitState | undefined {
  const state: RateLimitState = {
    limitRequests: count(headers.get('x-ratelimit-limit-requests')),
    limitTokens: count(headers.get('x-ratelimit-limit-tokens')),
    remainingRequests: count(headers.get('x-ratelimit-remaining-requests')),
    resetRequestsMs: parseResetDuration(headers.get('x-ratelimit-reset-requests')),
    remainingTokens: count(headers.get('x-ratelimit-remaining-tokens')),
    resetTokensMs: parseResetDuration(headers.get('x-ratelimit-reset-tokens')),
  };
  return Object.values(state).some((v) => v !== undefined) ? state : undefined;
}
