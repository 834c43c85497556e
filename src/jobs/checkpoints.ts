/**
 * An evaluation's Redis checkpoints (records, summary, served facts): reading one back safely, and
 * their lifetime around the evaluation's end and a retry.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import { keys } from './keys.js';

export interface CheckpointDeps {
  redis: Redis;
  prefix: string;
  /** CHECKPOINT_TTL_DAYS in seconds; unset or 0 keeps them. */
  checkpointTtlSeconds?: number;
}

/**
 * A checkpoint (summary or served facts), or undefined when there is none. A corrupt one (not JSON,
 * or not its schema) is discarded with a warning: the records are the source of truth, so this
 * attempt recomputes it instead of failing on the same bytes every retry.
 */
export async function readCheckpoint<S extends z.ZodType>(
  redis: Redis,
  key: string,
  schema: S,
  log: Pick<Logger, 'warn'>,
): Promise<z.output<S> | undefined> {
  const raw = await redis.get(key);
  if (!raw) return undefined;
  let problem: string;
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    if (parsed.success) return parsed.data;
    problem = z.prettifyError(parsed.error);
  } catch (err) {
    problem = `not JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  log.warn({ key, problem }, 'checkpoint is corrupt: discarded, recomputing it');
  await redis.del(key);
  return undefined;
}

/**
 * Answers and judgments are ~1 MB per evaluation: once it ends (reported, failed for good or
 * cancelled) they only serve a later retry, so they expire instead of growing Redis forever
 * (results live in W&B or the local result directory).
 */
export async function expireCheckpoints(deps: CheckpointDeps, evaluationId: string): Promise<void> {
  const ttl = deps.checkpointTtlSeconds;
  if (!ttl) return;
  const k = keys(deps.prefix);
  await deps.redis
    .multi()
    .expire(k.records(evaluationId), ttl)
    .expire(k.summary(evaluationId), ttl)
    .expire(k.served(evaluationId), ttl)
    .exec();
}

/** A retried evaluation's checkpoints must not expire under it while it runs again. */
export async function keepCheckpoints(
  deps: Omit<CheckpointDeps, 'checkpointTtlSeconds'>,
  evaluationId: string,
): Promise<void> {
  const k = keys(deps.prefix);
  await deps.redis
    .multi()
    .persist(k.records(evaluationId))
    .persist(k.summary(evaluationId))
    .persist(k.served(evaluationId))
    .exec();
}
