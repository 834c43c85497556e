/**
 * Lua scripts behind the distributed limiter, and a small EVALSHA runner. Every script reads the
 * clock with Redis TIME so workers on hosts with skewed clocks agree on one timeline.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Lua prelude: current Redis time in ms. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- idle keys clean themselves up, but a caller never shortens a TTL another caller needs
local function keepFor(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
`;

/**
 * Try to take a slot. All-or-nothing: a denied attempt consumes nothing.
 * KEYS: leases (zset id -> expiry ms), window (zset id -> grant ms), pause (string: until ms)
 * ARGV: leaseId, maxInFlight (0 = unlimited), rpm (0 = unlimited), windowMs, leaseMs
 * Returns {granted 0|1, waitMs, nowMs, reason} with reason 'ok' | 'paused' | 'inflight' | 'rate'.
 */
export const ACQUIRE = `${NOW}
local id, maxIn, rpm = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local windowMs, leaseMs = tonumber(ARGV[4]), tonumber(ARGV[5])
local untilMs = tonumber(redis.call('GET', KEYS[3]) or '0')
if untilMs > now then return {0, untilMs - now, now, 'paused'} end
if maxIn > 0 then
  -- leases whose holder stopped renewing (crashed process) are reclaimed here
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZSCORE', KEYS[1], id) == false and redis.call('ZCARD', KEYS[1]) >= maxIn then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, math.max(1, tonumber(first[2]) - now), now, 'inflight'}
  end
end
if rpm > 0 then
  -- sliding-window log: at most rpm grants in any windowMs interval
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - windowMs)
  if redis.call('ZSCORE', KEYS[2], id) == false and redis.call('ZCARD', KEYS[2]) >= rpm then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, math.max(1, tonumber(first[2]) + windowMs - now + 1), now, 'rate'}
  end
  redis.call('ZADD', KEYS[2], now, id)
  keepFor(KEYS[2], windowMs * 2)
end
if maxIn > 0 then
  redis.call('ZADD', KEYS[1], now + leaseMs, id)
  keepFor(KEYS[1], leaseMs * 2)
end
return {1, 0, now, 'ok'}
`;

/**
 * Give a slot back and wake waiters everywhere.
 * KEYS: leases; ARGV: leaseId, channel. Returns 1 if the lease was still held.
 */
export const RELEASE = `
local n = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], '1')
return n
`;

/**
 * Push a held lease's expiry out (long calls). Returns 0 if it had already expired and was
 * reclaimed: the holder then runs over the limit until it finishes, and should know.
 * KEYS: leases; ARGV: leaseId, leaseMs
 */
export const RENEW = `${NOW}
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
keepFor(KEYS[1], tonumber(ARGV[2]) * 2)
return 1
`;

/**
 * Pause a name for everyone: only ever extends the pause-until, never shortens it.
 * KEYS: pause; ARGV: ms. Returns {pauseUntilMs, nowMs}.
 */
export const PAUSE = `${NOW}
local want = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if want > cur then
  redis.call('SET', KEYS[1], want, 'PX', math.max(1, want - now))
  return {want, now}
end
return {cur, now}
`;

/** KEYS: pause. Returns {pauseUntilMs (0 = not paused), nowMs}. */
export const PAUSED_UNTIL = `${NOW}
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur <= now then cur = 0 end
return {cur, now}
`;

const shas = new Map<string, string>();
function sha1(script: string): string {
  let s = shas.get(script);
  if (!s) {
    s = createHash('sha1').update(script).digest('hex');
    shas.set(script, s);
  }
  return s;
}

/**
 * EVALSHA, falling back to EVAL when the server does not know the script (first use, or after a
 * Redis restart flushed the script cache). Returns the raw reply: callers validate it.
 */
export async function runScript(redis: Redis, script: string, keyList: string[], args: (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(sha1(script), keyList.length, ...keyList, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
    return await redis.eval(script, keyList.length, ...keyList, ...args);
  }
}
