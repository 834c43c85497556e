/**
 * The evaluation service: the producer side of the evaluation queue, used by the webhook and the
 * admin API. It composes intake (enqueue.ts: enqueue with dedupe), reads (listing.ts: view, list),
 * actions (lifecycle.ts: cancel, retry) and /metrics reads (queue-metrics.ts) over three
 * connections, each call under the Redis deadline of redis-guard.ts. Webhook intake has its own
 * connection so admin and metrics traffic cannot delay it.
 */
import { Queue } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { createEnqueue, jobOptionsFor, type Enqueue } from './enqueue.js';
import type { EvaluationQueue } from './job-data.js';
import { QUEUE_NAME, keys } from './keys.js';
import { createLifecycleActions } from './lifecycle.js';
import { createEvaluationReads, type ListQuery } from './listing.js';
import { createQueueMetrics } from './queue-metrics.js';
import { createRedisGuard, DEFAULT_DEADLINE_MS, failFastConnection } from './redis-guard.js';
import { createStatusIndex } from './status-index.js';
import type { EvaluationView } from './views.js';

export { PRIORITY } from './enqueue.js';
export {
  EvaluationConflictError,
  EvaluationNotFoundError,
  OperationTimeoutError,
  QueueFullError,
  QueueUnavailableError,
} from './service-errors.js';

export interface EvaluationService {
  queue: EvaluationQueue;
  /** The webhook intake's own connection (also carries the webhook rate-limit counters). */
  intakeRedis: Redis;
  enqueue: Enqueue;
  get(id: string): Promise<EvaluationView | undefined>;
  list(query: ListQuery): Promise<{ items: EvaluationView[]; nextCursor: string | null }>;
  cancel(id: string, by?: string): Promise<EvaluationView>;
  retry(id: string): Promise<EvaluationView>;
  /** BullMQ counts by state; cached COUNTS_CACHE_MS and single-flight, so scrapers cannot multiply the cost. */
  countsByState(): Promise<Record<string, number>>;
  /** The evaluation-duration histogram the workers keep (keys(prefix).durations). */
  durations(): Promise<Record<string, number>>;
  /** Counters the worker keeps in keys(prefix).stats. */
  stats(): Promise<Record<string, number>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface EvaluationServiceOptions {
  connection: string | RedisOptions;
  prefix: string;
  logger: Logger;
  /** Job-level retries for retryable failures (JOB_ATTEMPTS / JOB_BACKOFF_MS). */
  attempts?: number;
  backoffMs?: number;
  /** REDIS_DEADLINE_MS. */
  deadlineMs?: number;
  /** MAX_QUEUED. */
  maxQueued?: number;
}

export function createEvaluationService(opts: EvaluationServiceOptions): EvaluationService {
  const log = opts.logger.child({ component: 'producer' });
  const k = keys(opts.prefix);
  let lastErrorLog = 0;
  const onError = (err: Error) => {
    // ioredis reports every failed reconnect; one line per 10 s is enough to see an outage.
    if (Date.now() - lastErrorLog > 10_000) {
      lastErrorLog = Date.now();
      log.warn({ err: { message: err.message } }, 'redis connection error');
    }
  };
  // admin + metrics | webhook intake | health probe: a slow list cannot delay a delivery or a PING.
  const client = failFastConnection(opts.connection);
  const intakeRedis = failFastConnection(opts.connection);
  const probe = failFastConnection(opts.connection);
  for (const c of [client, intakeRedis, probe]) c.on('error', onError);
  const queue: EvaluationQueue = new Queue(QUEUE_NAME, { connection: client, prefix: opts.prefix });
  const intakeQueue: EvaluationQueue = new Queue(QUEUE_NAME, { connection: intakeRedis, prefix: opts.prefix });
  for (const q of [queue, intakeQueue]) q.on('error', onError);
  const { guard, pong } = createRedisGuard(opts.deadlineMs ?? DEFAULT_DEADLINE_MS, probe);

  const context = { client, queue, index: createStatusIndex(client, opts.prefix), k, log, guard };
  const reads = createEvaluationReads(context);
  const actions = createLifecycleActions(context, reads);
  return {
    queue,
    intakeRedis,
    enqueue: createEnqueue({
      intakeRedis,
      intakeQueue,
      intakeIndex: createStatusIndex(intakeRedis, opts.prefix),
      k,
      log,
      guard,
      maxQueued: opts.maxQueued ?? 10_000,
      jobOptions: jobOptionsFor(opts.attempts, opts.backoffMs),
    }),
    get: reads.get,
    list: reads.list,
    cancel: actions.cancel,
    retry: actions.retry,
    ...createQueueMetrics(context),
    ping: pong,
    close: memo(async () => {
      for (const q of [queue, intakeQueue])
        await q.close().catch((err: unknown) => log.warn({ err }, 'queue close failed'));
      for (const c of [client, intakeRedis, probe]) await c.quit().catch(() => c.disconnect());
    }),
  };
}

function memo(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
