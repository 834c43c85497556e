/**
 * EvalStore on Redis: one hash per evaluation, field = record.key, value = record JSON. Every record
 * is written the moment it completes, so a worker that dies loses nothing that was acknowledged, and
 * with AOF a Redis restart loses nothing either.
 */
import type { Redis } from 'ioredis';
import type { EvalStore } from '../eval/ports.js';
import { EvalRecord } from '../eval/types.js';
import { keys } from './keys.js';

export interface RedisEvalStore extends EvalStore {
  /** Entries skipped by the most recent load() because they were not valid EvalRecords. */
  readonly corruptCount: number;
  /** The hash fields of those entries, so a caller can log or delete them. */
  readonly corruptKeys: readonly string[];
}

/** Records never expire here: the pipeline sets CHECKPOINT_TTL_DAYS once the evaluation ends. */
export function createRedisEvalStore(redis: Redis, prefix: string, evaluationId: string): RedisEvalStore {
  const key = keys(prefix).records(evaluationId);
  let corrupt: string[] = [];
  return {
    get corruptCount() {
      return corrupt.length;
    },
    get corruptKeys() {
      return corrupt;
    },
    async save(record) {
      // Validate on the way in too: a bad record written now would be skipped (re-done) on resume.
      await redis.hset(key, record.key, JSON.stringify(EvalRecord.parse(record)));
    },
    async load() {
      const raw = await redis.hgetall(key);
      const out: EvalRecord[] = [];
      const bad: string[] = [];
      for (const [field, json] of Object.entries(raw)) {
        const rec = parseRecord(json);
        // A record under the wrong field would make resume skip or repeat the wrong unit of work.
        if (rec && rec.key === field) out.push(rec);
        else bad.push(field);
      }
      corrupt = bad;
      return out;
    },
  };
}

function parseRecord(json: string): EvalRecord | undefined {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return undefined;
  }
  const parsed = EvalRecord.safeParse(data);
  return parsed.success ? parsed.data : undefined;
}

/** Delete an evaluation's records (after reporting, or when a retry must start from scratch). */
export async function clearRecords(redis: Redis, prefix: string, evaluationId: string): Promise<void> {
  await redis.del(keys(prefix).records(evaluationId));
}
