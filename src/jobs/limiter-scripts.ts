/**
 * Lua scripts behind the distributed limiter, defined (with their reply schemas) through the one
 * loader, src/redis-scripts.ts. Every script reads the clock with Redis TIME so workers on hosts
 * with skewed clocks agree on one timeline.
 */
import { z } from 'zod';
import { Count, defineScript, Flag } from '../redis-scripts.js';

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
 * KEYS: leases (zset id -> expiry ms), window (zset id -> grant ms), pause (string: until ms),
 *       tokens (zset "id|tokens" -> grant ms), adaptive (hash, see ADAPT)
 * ARGV: leaseId, maxInFlight (0 = unlimited; the ceiling when adaptive), grantsPerWindow (0 = unlimited),
 *       windowMs, leaseMs, tpm (0 = unlimited), tokens reserved by this call, adaptive start (0 = fixed limit)
 * Returns {granted 0|1, waitMs, nowMs, reason, inFlight} with reason 'ok' | 'paused' | 'inflight' |
 * 'rate' | 'tokens'; inFlight counts this lease once granted.
 */
export const ACQUIRE = defineScript(
  'limiter.acquire',
  `${NOW}
local id, maxIn, grants = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local windowMs, leaseMs = tonumber(ARGV[4]), tonumber(ARGV[5])
local tpm, tokens, start = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local untilMs = tonumber(redis.call('GET', KEYS[3]) or '0')
if untilMs > now then return {0, untilMs - now, now, 'paused', 0} end
local count = 0
if maxIn > 0 then
  -- leases whose holder stopped renewing (crashed process) are reclaimed here
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local cap = maxIn
  if start > 0 then
    -- the adaptive limit every worker shares, never above the configured ceiling
    local lim = tonumber(redis.call('HGET', KEYS[5], 'limit') or start)
    cap = math.max(1, math.min(maxIn, math.floor(lim)))
  end
  count = redis.call('ZCARD', KEYS[1])
  if redis.call('ZSCORE', KEYS[1], id) == false and count >= cap then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, math.max(1, tonumber(first[2]) - now), now, 'inflight', count}
  end
end
if grants > 0 then
  -- sliding-window log: at most 'grants' grants in any windowMs interval
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - windowMs)
  if redis.call('ZSCORE', KEYS[2], id) == false and redis.call('ZCARD', KEYS[2]) >= grants then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, math.max(1, tonumber(first[2]) + windowMs - now + 1), now, 'rate', count}
  end
end
local member = id .. '|' .. tokens
if tpm > 0 and redis.call('ZSCORE', KEYS[4], member) == false then
  -- token window: the reservations (corrected to real usage once known) of the last windowMs
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - windowMs)
  local held = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
  local used = 0
  for i = 1, #held, 2 do used = used + tonumber(string.match(held[i], '|(%d+)$')) end
  -- a call larger than the whole budget still runs once the window is empty
  if used > 0 and used + tokens > tpm then
    local freed = 0
    for i = 1, #held, 2 do
      freed = freed + tonumber(string.match(held[i], '|(%d+)$'))
      if used - freed + tokens <= tpm or i + 1 >= #held then
        return {0, math.max(1, tonumber(held[i + 1]) + windowMs - now + 1), now, 'tokens', count}
      end
    end
  end
  redis.call('ZADD', KEYS[4], now, member)
  keepFor(KEYS[4], windowMs * 2)
end
if grants > 0 then
  redis.call('ZADD', KEYS[2], now, id)
  keepFor(KEYS[2], windowMs * 2)
end
if maxIn > 0 then
  if redis.call('ZADD', KEYS[1], now + leaseMs, id) == 1 then count = count + 1 end
  keepFor(KEYS[1], leaseMs * 2)
end
return {1, 0, now, 'ok', count}
`,
  z.tuple([Flag, z.number(), z.number(), z.enum(['ok', 'paused', 'inflight', 'rate', 'tokens']), z.number()]),
);

/**
 * A finished call's token reservation replaced by what it really used (from `usage`), and dated now:
 * the endpoint counted it when the request arrived, somewhere between grant and now, so keeping it a
 * full window from now guarantees this window always holds everything the endpoint's window holds.
 * KEYS: tokens; ARGV: leaseId, reserved, used, windowMs. Returns 1 if the reservation was still there.
 */
export const SETTLE_TOKENS = defineScript(
  'limiter.settleTokens',
  `${NOW}
local old = ARGV[1] .. '|' .. ARGV[2]
if redis.call('ZSCORE', KEYS[1], old) == false then return 0 end
redis.call('ZREM', KEYS[1], old)
redis.call('ZADD', KEYS[1], now, ARGV[1] .. '|' .. ARGV[3])
keepFor(KEYS[1], tonumber(ARGV[4]) * 2)
return 1
`,
  Flag,
);

/**
 * The adaptive concurrency limit (AIMD with slow start, as TCP's congestion window), one observation
 * per finished call.
 * State (hash): limit (float), base (best latency per token seen, ms), cutAt (ms of the last decrease),
 * ssthresh (the limit after the last decrease).
 * - ok and latency <= tolerance x base, while the limit was in use (in flight at grant >= limit / 2):
 *   below ssthresh limit + 1 (doubles per round trip: slow start), above it limit + 1/limit (one per
 *   round trip: additive increase), never above the ceiling;
 * - ok but slower than the bound (latency grew faster than the batch could absorb): limit x max(0.5, bound / latency);
 * - overload (429, 503/504, timeout): limit x 0.5.
 * A decrease only applies to calls granted after the previous decrease: calls already in flight were
 * sent under the old limit, so one overload episode halves the limit once, not once per call.
 * KEYS: adaptive; ARGV: start, ceiling, outcome ('ok' | 'overload'), msPerToken, grantedAt, inFlightAtGrant, tolerance
 * Returns the new limit (floor, >= 1).
 */
export const ADAPT = defineScript(
  'limiter.adapt',
  `${NOW}
local start, ceiling, outcome = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local lat, grantedAt, inflight, tol = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local lim = tonumber(redis.call('HGET', KEYS[1], 'limit') or start)
local base = tonumber(redis.call('HGET', KEYS[1], 'base') or '0')
local cutAt = tonumber(redis.call('HGET', KEYS[1], 'cutAt') or '0')
local ssthresh = tonumber(redis.call('HGET', KEYS[1], 'ssthresh') or ceiling)
local function cut(factor)
  -- strictly after: a grant in the same millisecond as the cut counts as sent under the old limit
  if grantedAt > cutAt then
    lim = math.max(1, lim * factor)
    redis.call('HSET', KEYS[1], 'cutAt', now, 'ssthresh', tostring(lim))
  end
end
if outcome == 'overload' then
  cut(0.5)
else
  -- the baseline is the best latency seen, reset while the limit is 1 (a server that became slower
  -- for everyone: the limit shrinks to 1 and the baseline starts again from there)
  if base <= 0 or lat < base or lim <= 1 then base = lat end
  redis.call('HSET', KEYS[1], 'base', tostring(base))
  if lat <= base * tol then
    if inflight * 2 >= lim then
      if lim < ssthresh then lim = lim + 1 else lim = lim + 1 / lim end
    end
  else
    cut(math.max(0.5, base * tol / lat))
  end
end
lim = math.max(1, math.min(ceiling, lim))
redis.call('HSET', KEYS[1], 'limit', tostring(lim))
redis.call('PEXPIRE', KEYS[1], 86400000)
return math.floor(lim)
`,
  Count,
);

/**
 * Give a slot back and wake waiters everywhere.
 * KEYS: leases; ARGV: leaseId, channel. Returns 1 if the lease was still held.
 */
export const RELEASE = defineScript(
  'limiter.release',
  `
local n = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], '1')
return n
`,
  Count,
);

/**
 * Push a held lease's expiry out (long calls). Returns 0 if it had already expired and was
 * reclaimed: the holder then runs over the limit until it finishes, and should know.
 * KEYS: leases; ARGV: leaseId, leaseMs
 */
export const RENEW = defineScript(
  'limiter.renew',
  `${NOW}
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
keepFor(KEYS[1], tonumber(ARGV[2]) * 2)
return 1
`,
  Flag,
);

/**
 * Pause a name for everyone: only ever extends the pause-until, never shortens it.
 * KEYS: pause; ARGV: ms. Returns {pauseUntilMs, nowMs}.
 */
export const PAUSE = defineScript(
  'limiter.pause',
  `${NOW}
local want = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if want > cur then
  redis.call('SET', KEYS[1], want, 'PX', math.max(1, want - now))
  return {want, now}
end
return {cur, now}
`,
  z.tuple([z.number(), z.number()]),
);

/** KEYS: pause. Returns {pauseUntilMs (0 = not paused), nowMs}. */
export const PAUSED_UNTIL = defineScript(
  'limiter.pausedUntil',
  `${NOW}
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur <= now then cur = 0 end
return {cur, now}
`,
  z.tuple([z.number(), z.number()]),
);
