/**
 * The one loader for evalhook's Redis Lua scripts (as BullMQ keeps its commands): every script is
 * declared with defineScript (a unique name, its source, a zod schema of its reply) and run with
 * runScript, which uses EVALSHA, falls back to EVAL when Redis does not know the script (first use,
 * or after a restart flushed the script cache), and validates the reply. A reply of the wrong shape
 * (say, workers of two versions sharing one Redis) is an EVALHOOK_ERR_REDIS_REPLY, never a value
 * the caller misreads. No script is run any other way (test/errors/redis-scripts.test.ts checks).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { EvalhookError } from './errors.js';

export interface RedisScript<R> {
  readonly name: string;
  readonly source: string;
  readonly sha1: string;
  readonly reply: z.ZodType<R>;
}

const registry = new Map<string, RedisScript<unknown>>();

export function defineScript<R>(name: string, source: string, reply: z.ZodType<R>): RedisScript<R> {
  if (registry.has(name)) throw new Error(`Redis script "${name}" is defined twice`);
  const script = { name, source, reply, sha1: createHash('sha1').update(source).digest('hex') };
  registry.set(name, script);
  return script;
}

/** Every script defined so far (modules define theirs on import). */
export function definedScripts(): ReadonlyArray<RedisScript<unknown>> {
  return [...registry.values()];
}

export async function runScript<R>(
  redis: Redis,
  script: RedisScript<R>,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<R> {
  let raw: unknown;
  try {
    raw = await redis.evalsha(script.sha1, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
    raw = await redis.eval(script.source, keys.length, ...keys, ...args);
  }
  const parsed = script.reply.safeParse(raw);
  if (!parsed.success) {
    throw new EvalhookError(
      'EVALHOOK_ERR_REDIS_REPLY',
      `Redis script ${script.name} answered ${JSON.stringify(raw)?.slice(0, 200)}: ${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}

/** Replies most scripts give: a 0/1 flag, a count, nothing of interest. */
export const Flag = z.union([z.literal(0), z.literal(1)]);
export const Count = z.number().int();
export const Ignored = z.unknown();
