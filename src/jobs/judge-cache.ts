/**
 * The content-addressed judge cache, shared by every worker through one Redis hash
 * (keys(prefix).judgeCache: cache key -> entry JSON). A judgment paid for once is never paid
 * for again, whichever worker asks. Entries are validated on read: anything unreadable is a miss.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { JudgeCache } from '../eval/ports.js';
import { Usage } from '../eval/types.js';
import { keys } from './keys.js';
import { defineScript, Flag, runScript } from '../redis-scripts.js';

export interface RedisJudgeCacheOptions {
  /** Per-entry lifetime. Unset = entries live until the hash is deleted. */
  ttlSeconds?: number;
}

const ChatResultSchema = z.object({ content: z.string(), usage: Usage, finishReason: z.string().optional() });
/**
 * The value is the ChatResult JSON (as keys().judgeCache documents), plus `exp` (Redis ms) when a
 * TTL was set: Redis < 7.4 has no per-field expiry, so expiry is checked on read.
 */
const Entry = ChatResultSchema.extend({ exp: z.number().optional() });

/** Read and drop the field if it expired, judged by Redis TIME so hosts with skewed clocks agree. */
const GET = defineScript(
  'judgeCache.get',
  `local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local ok, e = pcall(cjson.decode, raw)
if ok and type(e) == 'table' and type(e.exp) == 'number' then
  local t = redis.call('TIME')
  if e.exp <= tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then
    redis.call('HDEL', KEYS[1], ARGV[1])
    return false
  end
end
return raw
`,
  z.string().nullable(),
);

/** ARGV: field, ChatResult JSON (a non-empty object), ttl ms. Stamps exp from Redis TIME. */
const SET_TTL = defineScript(
  'judgeCache.setTtl',
  `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local entry = '{"exp":' .. string.format('%d', now + tonumber(ARGV[3])) .. ',' .. string.sub(ARGV[2], 2)
redis.call('HSET', KEYS[1], ARGV[1], entry)
return 1
`,
  Flag,
);

export interface RedisJudgeCache extends JudgeCache {
  /** Drop expired entries that were never read again (e.g. from a periodic job). Returns how many. */
  sweep(): Promise<number>;
}

export function createRedisJudgeCache(
  redis: Redis,
  prefix: string,
  opts: RedisJudgeCacheOptions = {},
): RedisJudgeCache {
  const key = keys(prefix).judgeCache;
  const ttlMs = opts.ttlSeconds !== undefined ? Math.max(1, Math.round(opts.ttlSeconds * 1000)) : undefined;
  return {
    async get(field) {
      const raw = await runScript(redis, GET, [key], [field]);
      if (typeof raw !== 'string') return undefined;
      const e = parseEntry(raw);
      if (!e) return undefined;
      const { exp: _exp, ...result } = e;
      return result;
    },
    async set(field, value) {
      const v = JSON.stringify(ChatResultSchema.parse(value));
      if (ttlMs === undefined) await redis.hset(key, field, v);
      else await runScript(redis, SET_TTL, [key], [field, v, ttlMs]);
    },
    async sweep() {
      let removed = 0;
      let cursor = '0';
      do {
        const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 500);
        cursor = next;
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const field = flat[i] ?? '';
          if (parseEntry(flat[i + 1] ?? '')?.exp === undefined) continue;
          // GET deletes the field atomically if it has expired by Redis time.
          if ((await runScript(redis, GET, [key], [field])) === null) removed++;
        }
      } while (cursor !== '0');
      return removed;
    },
  };
}

function parseEntry(raw: string): z.infer<typeof Entry> | undefined {
  try {
    const r = Entry.safeParse(JSON.parse(raw));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
