/**
 * The producer side of the evaluation queue: enqueue with dedupe, views, list, cancel, retry.
 * Used by the webhook and the admin API. Its Redis connection fails fast (no offline queue, one
 * retry, a deadline on every call) so a Redis outage becomes a 503 in well under 2 s, never a hang.
 */
import { Queue, type Job, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { EvaluationJobData, EvaluationStatus, JOB_NAME, QUEUE_NAME, evaluationIdFor, keys } from './model.js';
import { CancelFlagSchema, decodeCursor, paginate, statesFor, statusOf, toView, type CancelFlag, type EvaluationView, type QueueState } from './views.js';

/** Every Redis call gets this long before we call Redis unavailable (the API promises 503 < 2 s). */
const DEADLINE_MS = 1_200;
/** Listing scans every job; a big queue may need longer, and a down Redis still fails at once. */
const LIST_DEADLINE_MS = 5_000;
/** How long a claimed-but-not-yet-added job id blocks other deliveries (covers a crashed claimer). */
const CLAIM_TTL_MS = 10_000;
const LIST_MAX_LIMIT = 100;

export const PRIORITY = { urgent: 1, normal: 10 } as const;

const JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 30_000 },
  // Finished jobs are the evaluation record and the dedupe memory: keep them long.
  removeOnComplete: { age: 180 * 24 * 3600, count: 50_000 },
  removeOnFail: { age: 180 * 24 * 3600, count: 50_000 },
};

/**
 * Atomic claim: nobody may add a job that already exists, and of N concurrent deliveries of a new
 * id exactly one gets the claim (SET NX). The claim expires so a claimer that died before its add
 * does not block the id forever. KEYS[1] job hash, KEYS[2] claim key; ARGV[1] ttl ms.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0`;

export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
  readonly statusCode = 503;
  readonly code = 'EVALHOOK_ERR_QUEUE_UNAVAILABLE';
  constructor(cause?: unknown) {
    super('the job queue (Redis) is unavailable', { cause });
  }
}

export class EvaluationNotFoundError extends Error {
  override readonly name = 'EvaluationNotFoundError';
  readonly statusCode = 404;
  readonly code = 'EVALHOOK_ERR_NOT_FOUND';
  constructor(id: string) {
    super(`evaluation ${id} not found`);
  }
}

export class EvaluationConflictError extends Error {
  override readonly name = 'EvaluationConflictError';
  readonly statusCode = 409;
  readonly code = 'EVALHOOK_ERR_CONFLICT';
}

export interface EnqueueResult {
  evaluationId: string;
  duplicate: boolean;
  status: EvaluationStatus;
}

export interface ListQuery {
  status?: EvaluationStatus | undefined;
  /** Case-insensitive substring of the artifact name or id. */
  artifact?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

export interface EvaluationService {
  queue: Queue;
  /** `log`: the caller's (request) logger, so the queued line carries its reqId. */
  enqueue(data: EvaluationJobData, opts?: { priority?: number; log?: Pick<Logger, 'info'> }): Promise<EnqueueResult>;
  get(id: string): Promise<EvaluationView | undefined>;
  list(query: ListQuery): Promise<{ items: EvaluationView[]; nextCursor: string | null }>;
  cancel(id: string, by?: string): Promise<EvaluationView>;
  retry(id: string): Promise<EvaluationView>;
  countsByState(): Promise<Record<string, number>>;
  /** Finished jobs (newest first) for the duration histogram. */
  recentlyFinished(limit: number): Promise<Array<{ id: string; outcome: 'succeeded' | 'failed'; startedAt: number; finishedAt: number }>>;
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
}

const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  connectTimeout: 1_000,
  maxRetriesPerRequest: 1,
  // Keep reconnecting (a restarted Redis must be picked up again) but never wait long between tries.
  retryStrategy: (times) => Math.min(times * 100, 1_000),
};

export function createEvaluationService(opts: EvaluationServiceOptions): EvaluationService {
  const log = opts.logger.child({ component: 'producer' });
  const k = keys(opts.prefix);
  const jobOptions: JobsOptions = {
    ...JOB_OPTIONS,
    attempts: opts.attempts ?? JOB_OPTIONS.attempts,
    backoff: { type: 'exponential', delay: opts.backoffMs ?? 30_000, jitter: 0.5 },
  };
  const client =
    typeof opts.connection === 'string'
      ? new Redis(opts.connection, { ...FAIL_FAST })
      : new Redis({ ...opts.connection, ...FAIL_FAST });
  let lastErrorLog = 0;
  const onError = (err: Error) => {
    // ioredis reports every failed reconnect; one line per 10 s is enough to see an outage.
    if (Date.now() - lastErrorLog > 10_000) {
      lastErrorLog = Date.now();
      log.warn({ err: { message: err.message } }, 'redis connection error');
    }
  };
  client.on('error', onError);
  const queue = new Queue(QUEUE_NAME, { connection: client, prefix: opts.prefix });
  queue.on('error', onError);
  // Outside BullMQ's `<prefix>:<queue>:` namespace so no BullMQ scan or cleanup ever mistakes it for a job.
  const claimKey = (id: string) => `${opts.prefix}:dedupe-claim:${id}`;

  /** Deadline + classification: connection trouble becomes QueueUnavailableError, bugs stay bugs. */
  async function guard<T>(op: () => Promise<T>, ms = DEADLINE_MS): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new QueueUnavailableError(new Error(`no answer within ${ms} ms`))), ms);
    });
    try {
      // Before the first connect, BullMQ's init (wait for ready, load scripts) must finish; with no
      // offline queue a command sent earlier would fail. Bounded by the same deadline.
      return await Promise.race([queue.waitUntilReady().then(op), deadline]);
    } catch (err) {
      if (err instanceof QueueUnavailableError) throw err;
      if (client.status !== 'ready' || isConnectionError(err)) throw new QueueUnavailableError(err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async function cancelFlag(id: string): Promise<CancelFlag | undefined> {
    const raw = await client.hget(k.cancelled, id);
    return parseFlag(raw);
  }

  async function load(id: string): Promise<{ job: Job; state: QueueState } | undefined> {
    const job = await queue.getJob(id);
    if (!job) return undefined;
    return { job, state: (await job.getState()) as QueueState };
  }

  async function viewOf(id: string): Promise<EvaluationView | undefined> {
    const [found, flag] = await Promise.all([load(id), cancelFlag(id)]);
    return found ? toView(found.job, found.state, flag) : undefined;
  }

  async function mustView(id: string): Promise<EvaluationView> {
    const view = await viewOf(id);
    if (!view) throw new EvaluationNotFoundError(id);
    return view;
  }

  const service: EvaluationService = {
    queue,

    enqueue: (input, { priority = PRIORITY.normal, log: reqLog } = {}) =>
      guard(async () => {
        const id = evaluationIdFor(input.artifact, input.profile);
        const data = EvaluationJobData.parse({ ...input, evaluationId: id });
        const won = await client.eval(CLAIM_SCRIPT, 2, queue.toKey(id), claimKey(id), String(CLAIM_TTL_MS));
        if (won !== 1) {
          // Someone else owns this id; it may still be mid-add ('unknown'), which is "queued" all the same.
          const [state, cancelled] = await Promise.all([queue.getJobState(id), client.hexists(k.cancelled, id)]);
          return { evaluationId: id, duplicate: true, status: statusOf(state, cancelled === 1) };
        }
        try {
          // Resolves only once BullMQ's add script has run in Redis: the job is stored.
          await queue.add(JOB_NAME, data, { ...jobOptions, jobId: id, priority });
        } catch (err) {
          await client.del(claimKey(id)).catch(() => undefined);
          throw err;
        }
        // The claim is left to expire: once the job exists, the EXISTS check answers first.
        (reqLog ?? log).info({ evaluationId: id, profile: data.profile, priority }, 'evaluation queued');
        return { evaluationId: id, duplicate: false, status: 'queued' as const };
      }),

    get: (id) => guard(() => viewOf(id)),

    list: (query) =>
      guard(async () => {
        const limit = Math.max(1, Math.min(LIST_MAX_LIMIT, query.limit));
        if (query.cursor !== undefined) decodeCursor(query.cursor); // a bad cursor is a 400 before any scan
        const needle = query.artifact?.toLowerCase();
        const states = statesFor(query.status);
        const [perState, flags] = await Promise.all([
          Promise.all(states.map(async (s) => ({ state: s, jobs: await queue.getJobs([s], 0, -1) }))),
          client.hgetall(k.cancelled),
        ]);
        const views: EvaluationView[] = [];
        for (const { state, jobs } of perState) {
          for (const job of jobs) {
            if (!job?.id) continue;
            const view = toView(job, state, parseFlag(flags[job.id]));
            if (!view || (query.status && view.status !== query.status)) continue;
            const hay = `${view.artifact.name ?? ''}\n${view.artifact.id ?? ''}\n${view.artifact.fullName ?? ''}`.toLowerCase();
            if (needle && !hay.includes(needle)) continue;
            views.push(view);
          }
        }
        return paginate(views, query.cursor, limit);
      }, LIST_DEADLINE_MS),

    cancel: (id, by = 'admin') =>
      guard(async () => {
        const view = await mustView(id);
        if (view.status === 'cancelled') return view;
        if (view.status === 'succeeded' || view.status === 'failed') {
          throw new EvaluationConflictError(`evaluation ${id} is already ${view.status}; nothing to cancel`);
        }
        // Flag first (workers check it at pickup), then broadcast so a running worker aborts now.
        await client.multi().hset(k.cancelled, id, JSON.stringify({ at: Date.now(), by })).publish(k.cancelChannel, id).exec();
        log.info({ evaluationId: id, by }, 'evaluation cancelled');
        return mustView(id);
      }),

    retry: (id) =>
      guard(async () => {
        const found = await load(id);
        const flag = await cancelFlag(id);
        const view = found ? toView(found.job, found.state, flag) : undefined;
        if (!found || !view) throw new EvaluationNotFoundError(id);
        if (view.status !== 'failed' && view.status !== 'cancelled') {
          throw new EvaluationConflictError(`evaluation ${id} is ${view.status}; only failed or cancelled evaluations can be retried`);
        }
        await client.hdel(k.cancelled, id);
        // A cancelled job that never ran is still queued: clearing the flag is the whole retry.
        if (found.state === 'failed') await found.job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        log.info({ evaluationId: id }, 'evaluation retried');
        return mustView(id);
      }),

    countsByState: () => guard(() => queue.getJobCounts('waiting', 'prioritized', 'delayed', 'waiting-children', 'active', 'completed', 'failed')),

    recentlyFinished: (limit) =>
      guard(async () => {
        const [done, failed] = await Promise.all([queue.getJobs(['completed'], 0, limit - 1), queue.getJobs(['failed'], 0, limit - 1)]);
        const rows = [
          ...done.map((j) => ({ j, outcome: 'succeeded' as const })),
          ...failed.map((j) => ({ j, outcome: 'failed' as const })),
        ];
        return rows.flatMap(({ j, outcome }) =>
          j?.id && j.processedOn && j.finishedOn ? [{ id: j.id, outcome, startedAt: j.processedOn, finishedAt: j.finishedOn }] : [],
        );
      }),

    stats: () =>
      guard(async () => {
        const raw = await client.hgetall(k.stats);
        const out: Record<string, number> = {};
        for (const [field, v] of Object.entries(raw)) {
          const n = Number(v);
          if (Number.isFinite(n)) out[field] = n;
        }
        return out;
      }),

    ping: () => guard(async () => void (await client.ping())),

    close: memo(async () => {
      await queue.close().catch((err: unknown) => log.warn({ err }, 'queue close failed'));
      await client.quit().catch(() => client.disconnect());
    }),
  };
  return service;
}

/**
 * Redis could not serve the call (as opposed to a bug or a script refusing): ioredis' fail-fast
 * errors (the status may still read 'ready' in the tick after the socket dies), socket errors, and
 * the replies of a Redis that is up but cannot serve (loading, read-only replica, busy script).
 */
const CONNECTION_MESSAGE = /Stream isn't writeable|Connection is closed|MaxRetriesPerRequest|^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|BUSY|TRYAGAIN)\b/;
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : '';
  return err.name === 'MaxRetriesPerRequestError' || CONNECTION_CODES.has(code) || CONNECTION_MESSAGE.test(err.message);
}

function parseFlag(raw: string | null | undefined): CancelFlag | undefined {
  if (raw === null || raw === undefined) return undefined;
  try {
    const parsed = CancelFlagSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : { at: 0 };
  } catch {
    return { at: 0 }; // a flag we cannot read still means "cancelled"
  }
}

function memo(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
