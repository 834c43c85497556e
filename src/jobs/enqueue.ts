/**
 * Webhook and manual intake: one job per evaluation id however often (and however concurrently) a
 * trigger is delivered, nothing written when the queue is full.
 */
import { randomUUID } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import { defineScript, Flag, runScript } from '../redis-scripts.js';
import {
  EvaluationJobData,
  JOB_NAME,
  evaluationIdFor,
  type EvaluationQueue,
  type EvaluationStatus,
} from './job-data.js';
import { FINISHED_JOB_RETENTION, type keys } from './keys.js';
import type { Guard } from './redis-guard.js';
import { QueueFullError } from './service-errors.js';
import type { StatusIndex } from './status-index.js';
import { statusOf } from './views.js';

/** How long a claimed-but-not-yet-added job id blocks other deliveries (covers a crashed claimer). */
const CLAIM_TTL_MS = 10_000;

export const PRIORITY = { urgent: 1, normal: 10 } as const;

const JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 30_000 },
  // Finished jobs are the evaluation record and the dedupe memory: keep them long.
  removeOnComplete: { age: FINISHED_JOB_RETENTION.ageSeconds, count: FINISHED_JOB_RETENTION.count },
  removeOnFail: { age: FINISHED_JOB_RETENTION.ageSeconds, count: FINISHED_JOB_RETENTION.count },
};

/** Job-level retries for retryable failures (JOB_ATTEMPTS / JOB_BACKOFF_MS). */
export function jobOptionsFor(attempts: number | undefined, backoffMs: number | undefined): JobsOptions {
  return {
    ...JOB_OPTIONS,
    attempts: attempts ?? JOB_OPTIONS.attempts,
    backoff: { type: 'exponential', delay: backoffMs ?? 30_000, jitter: 0.5 },
  };
}

/**
 * Atomic admission: nobody may add a job that already exists (0); a full queue admits nothing (-1,
 * nothing written); of N concurrent deliveries of a new id exactly one gets the claim (1). The claim
 * holds the claimer's token, so the same claimer may try again after a dropped connection; it
 * expires so a claimer that died before its add does not block the id forever. The index entry is
 * written with the claim, so every job that can exist is listed (a failed add is dropped on read).
 * KEYS: job hash, claim, wait, paused, prioritized, delayed, then the index keys (all, per status).
 * ARGV: ttl ms, token, max queued, queued-at ms, id, queued status number.
 */
const CLAIM_SCRIPT = defineScript(
  'producer.claim',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local held = redis.call('GET', KEYS[2])
if held == ARGV[2] then return 1 end
if held then return 0 end
local waiting = redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4]) + redis.call('ZCARD', KEYS[5]) + redis.call('ZCARD', KEYS[6])
if waiting >= tonumber(ARGV[3]) then return -1 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[7 + tonumber(ARGV[6])], ARGV[4], ARGV[5])
return 1`,
  z.union([z.literal(-1), Flag]),
);

export interface EnqueueResult {
  evaluationId: string;
  duplicate: boolean;
  status: EvaluationStatus;
}

/** `log`: the caller's (request) logger, so the queued line carries its reqId. */
export type Enqueue = (
  data: EvaluationJobData,
  opts?: { priority?: number; log?: Pick<Logger, 'info'> },
) => Promise<EnqueueResult>;

export interface IntakeContext {
  /** The webhook intake's own connection, queue and index: admin traffic cannot delay a delivery. */
  intakeRedis: Redis;
  intakeQueue: EvaluationQueue;
  intakeIndex: StatusIndex;
  k: ReturnType<typeof keys>;
  log: Logger;
  guard: Guard;
  /** MAX_QUEUED. */
  maxQueued: number;
  jobOptions: JobsOptions;
}

export function createEnqueue({
  intakeRedis,
  intakeQueue,
  intakeIndex,
  k,
  log,
  guard,
  maxQueued,
  jobOptions,
}: IntakeContext): Enqueue {
  return (input, { priority = PRIORITY.normal, log: reqLog } = {}) =>
    guard('enqueue', intakeRedis, intakeQueue, async () => {
      const id = evaluationIdFor(input.artifact, input.profile);
      const data = EvaluationJobData.parse({ ...input, evaluationId: id });
      const token = randomUUID();
      const queuedAt = Date.now();
      const claimKeys = [
        intakeQueue.toKey(id),
        k.dedupeClaim(id),
        ...['wait', 'paused', 'prioritized', 'delayed'].map((t) => intakeQueue.toKey(t)),
        ...intakeIndex.keys,
      ];
      const claimArgs = [
        String(CLAIM_TTL_MS),
        token,
        String(maxQueued),
        String(queuedAt),
        id,
        String(intakeIndex.statusNumber('queued')),
      ];
      const won = await runScript(intakeRedis, CLAIM_SCRIPT, claimKeys, claimArgs);
      if (won === -1) throw new QueueFullError(maxQueued);
      if (won !== 1) {
        // Someone else owns this id; it may still be mid-add ('unknown'), which is "queued" all the same.
        const [state, cancelled] = await Promise.all([
          intakeQueue.getJobState(id),
          intakeRedis.hexists(k.cancelled, id),
        ]);
        return { evaluationId: id, duplicate: true, status: statusOf(state, cancelled === 1) };
      }
      // Resolves only once BullMQ's add script has run in Redis: the job is stored. Adding an
      // existing job id is a no-op, so a retry after a lost reply cannot make a second job.
      await intakeQueue.add(JOB_NAME, data, { ...jobOptions, jobId: id, priority, timestamp: queuedAt });
      // The claim is left to expire: once the job exists, the EXISTS check answers first.
      (reqLog ?? log).info({ evaluationId: id, profile: data.profile, priority }, 'evaluation queued');
      return { evaluationId: id, duplicate: false, status: 'queued' as const };
    });
}
