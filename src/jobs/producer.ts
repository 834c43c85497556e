/**
 * The producer side of the evaluation queue: enqueue with dedupe, views, list, cancel, retry.
 * Used by the webhook and the admin API. Webhook intake has its own Redis connection so admin and
 * metrics traffic cannot delay it. Connections fail fast (no offline queue); a call that finds
 * Redis disconnected waits for it to come back until REDIS_DEADLINE_MS, and only then answers 503.
 * A call that overruns its deadline while Redis still answers a PING is a 504 naming the operation.
 */
import { randomUUID } from 'node:crypto';
import { Queue, type Job, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { EvaluationJobData, EvaluationStatus, FINISHED_JOB_RETENTION, JOB_NAME, QUEUE_NAME, evaluationIdFor, keys } from './model.js';
import { createStatusIndex } from './status-index.js';
import { CancelFlagSchema, decodeCursor, encodeCursor, statusOf, toView, type CancelFlag, type EvaluationView, type QueueState } from './views.js';

/** REDIS_DEADLINE_MS default: rides out a Redis restart; W&B documents no webhook retries. */
export const DEFAULT_DEADLINE_MS = 5_000;
/** How long a claimed-but-not-yet-added job id blocks other deliveries (covers a crashed claimer). */
const CLAIM_TTL_MS = 10_000;
const LIST_MAX_LIMIT = 100;
/** Index entries one list call reads at most (artifact filters skip entries): bounds its cost. */
const LIST_SCAN_BUDGET = 2_000;
const LIST_BATCH = 200;
/** Queue counts for /metrics are shared for this long, whatever the number of scrapers. */
const COUNTS_CACHE_MS = 5_000;

export const PRIORITY = { urgent: 1, normal: 10 } as const;

const JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 30_000 },
  // Finished jobs are the evaluation record and the dedupe memory: keep them long.
  removeOnComplete: { age: FINISHED_JOB_RETENTION.ageSeconds, count: FINISHED_JOB_RETENTION.count },
  removeOnFail: { age: FINISHED_JOB_RETENTION.ageSeconds, count: FINISHED_JOB_RETENTION.count },
};

/**
 * Atomic admission: nobody may add a job that already exists (0); a full queue admits nothing (-1,
 * nothing written); of N concurrent deliveries of a new id exactly one gets the claim (1). The claim
 * holds the claimer's token, so the same claimer may try again after a dropped connection; it
 * expires so a claimer that died before its add does not block the id forever. The index entry is
 * written with the claim, so every job that can exist is listed (a failed add is dropped on read).
 * KEYS: job hash, claim, wait, paused, prioritized, delayed, then the index keys (all, per status).
 * ARGV: ttl ms, token, max queued, queued-at ms, id, queued status number.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local held = redis.call('GET', KEYS[2])
if held == ARGV[2] then return 1 end
if held then return 0 end
local waiting = redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4]) + redis.call('ZCARD', KEYS[5]) + redis.call('ZCARD', KEYS[6])
if waiting >= tonumber(ARGV[3]) then return -1 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[7 + tonumber(ARGV[6])], ARGV[4], ARGV[5])
return 1`;

export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
  readonly statusCode = 503;
  readonly code = 'EVALHOOK_ERR_QUEUE_UNAVAILABLE';
  constructor(cause?: unknown) {
    super('the job queue (Redis) is unavailable', { cause });
  }
}

/** Redis answers, but this operation did not finish in time: 504, never "Redis unavailable". */
export class OperationTimeoutError extends Error {
  override readonly name = 'OperationTimeoutError';
  readonly statusCode = 504;
  readonly code = 'EVALHOOK_ERR_TIMEOUT';
  constructor(
    readonly operation: string,
    ms: number,
  ) {
    super(`${operation} did not finish within ${ms} ms (Redis is up; the operation was abandoned)`);
  }
}

/** MAX_QUEUED reached: the sender should come back later; nothing was written. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  readonly statusCode = 429;
  readonly code = 'EVALHOOK_ERR_QUEUE_FULL';
  readonly retryAfterSeconds = 60;
  constructor(max: number) {
    super(`the evaluation queue is full (${max} waiting evaluations, MAX_QUEUED); try again later`);
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
  /** The webhook intake's own connection (also carries the webhook rate-limit counters). */
  intakeRedis: Redis;
  /** `log`: the caller's (request) logger, so the queued line carries its reqId. */
  enqueue(data: EvaluationJobData, opts?: { priority?: number; log?: Pick<Logger, 'info'> }): Promise<EnqueueResult>;
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

const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  connectTimeout: 1_000,
  maxRetriesPerRequest: 1,
  // Keep reconnecting (a restarted Redis must be picked up again) but never wait long between tries.
  retryStrategy: (times) => Math.min(times * 100, 1_000),
};

/** Longest wait for a PING that decides "slow operation" (504) from "Redis unresponsive" (503). */
const PROBE_MS = 1_000;

export function createEvaluationService(opts: EvaluationServiceOptions): EvaluationService {
  const log = opts.logger.child({ component: 'producer' });
  const k = keys(opts.prefix);
  const deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const maxQueued = opts.maxQueued ?? 10_000;
  const jobOptions: JobsOptions = {
    ...JOB_OPTIONS,
    attempts: opts.attempts ?? JOB_OPTIONS.attempts,
    backoff: { type: 'exponential', delay: opts.backoffMs ?? 30_000, jitter: 0.5 },
  };
  const connect = () =>
    typeof opts.connection === 'string' ? new Redis(opts.connection, { ...FAIL_FAST }) : new Redis({ ...opts.connection, ...FAIL_FAST });
  let lastErrorLog = 0;
  const onError = (err: Error) => {
    // ioredis reports every failed reconnect; one line per 10 s is enough to see an outage.
    if (Date.now() - lastErrorLog > 10_000) {
      lastErrorLog = Date.now();
      log.warn({ err: { message: err.message } }, 'redis connection error');
    }
  };
  // admin + metrics | webhook intake | health probe: a slow list cannot delay a delivery or a PING.
  const client = connect();
  const intakeRedis = connect();
  const probe = connect();
  for (const c of [client, intakeRedis, probe]) c.on('error', onError);
  const queue = new Queue(QUEUE_NAME, { connection: client, prefix: opts.prefix });
  const intakeQueue = new Queue(QUEUE_NAME, { connection: intakeRedis, prefix: opts.prefix });
  for (const q of [queue, intakeQueue]) q.on('error', onError);
  const index = createStatusIndex(client, opts.prefix);
  const intakeIndex = createStatusIndex(intakeRedis, opts.prefix);

  /**
   * Deadline + classification. Connection trouble is retried once Redis is back, until the
   * deadline; then it is a 503. An overrun while Redis answers a PING is a 504 naming `operation`,
   * and `signal` tells the operation to stop issuing commands. Bugs stay bugs.
   */
  async function guard<T>(operation: string, conn: Redis, q: Queue, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), deadlineMs);
    const overrun = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true }));
    overrun.catch(() => undefined);
    try {
      for (;;) {
        try {
          // Before the first connect, BullMQ's init (wait for ready, load scripts) must finish; with
          // no offline queue a command sent earlier would fail.
          return await Promise.race([q.waitUntilReady().then(() => op(abort.signal)), overrun]);
        } catch (err) {
          if (abort.signal.aborted) throw await classifyOverrun(operation, conn, err);
          if (!(conn.status !== 'ready' || isConnectionError(err))) throw err;
          // Disconnected: wait for the reconnect (or the deadline), then try again.
          await untilReady(conn, abort.signal);
          if (abort.signal.aborted) throw new QueueUnavailableError(err);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async function classifyOverrun(operation: string, conn: Redis, cause: unknown): Promise<Error> {
    if (conn.status !== 'ready') return new QueueUnavailableError(cause);
    const alive = await pong().then(() => true, () => false);
    return alive ? new OperationTimeoutError(operation, deadlineMs) : new QueueUnavailableError(new Error(`no answer within ${deadlineMs} ms`));
  }

  /** PING on the probe connection (waiting for its connect), within PROBE_MS. */
  async function pong(): Promise<void> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), PROBE_MS);
    try {
      for (;;) {
        if (probe.status === 'ready') {
          const ok = await Promise.race([probe.ping().then(() => true, () => false), new Promise<false>((r) => abort.signal.addEventListener('abort', () => r(false)))]);
          if (ok) return;
        }
        await untilReady(probe, abort.signal);
        if (abort.signal.aborted) throw new QueueUnavailableError(new Error(`no PONG within ${PROBE_MS} ms`));
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async function cancelFlag(id: string): Promise<CancelFlag | undefined> {
    return parseFlag(await client.hget(k.cancelled, id));
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

  /** Re-file an evaluation under its current status (after cancel/retry, or a stale entry found on read). */
  async function reindex(view: EvaluationView): Promise<void> {
    await index.move(view.id, view.status);
  }

  let counts: { at: number; value: Promise<Record<string, number>> } | undefined;

  const service: EvaluationService = {
    queue,
    intakeRedis,

    enqueue: (input, { priority = PRIORITY.normal, log: reqLog } = {}) =>
      guard('enqueue', intakeRedis, intakeQueue, async () => {
        const id = evaluationIdFor(input.artifact, input.profile);
        const data = EvaluationJobData.parse({ ...input, evaluationId: id });
        const token = randomUUID();
        const queuedAt = Date.now();
        const claimKeys = [intakeQueue.toKey(id), k.dedupeClaim(id), ...['wait', 'paused', 'prioritized', 'delayed'].map((t) => intakeQueue.toKey(t)), ...intakeIndex.keys];
        const claimArgs = [String(CLAIM_TTL_MS), token, String(maxQueued), String(queuedAt), id, String(intakeIndex.statusNumber('queued'))];
        const won = await intakeRedis.eval(CLAIM_SCRIPT, claimKeys.length, ...claimKeys, ...claimArgs);
        if (won === -1) throw new QueueFullError(maxQueued);
        if (won !== 1) {
          // Someone else owns this id; it may still be mid-add ('unknown'), which is "queued" all the same.
          const [state, cancelled] = await Promise.all([intakeQueue.getJobState(id), intakeRedis.hexists(k.cancelled, id)]);
          return { evaluationId: id, duplicate: true, status: statusOf(state, cancelled === 1) };
        }
        // Resolves only once BullMQ's add script has run in Redis: the job is stored. Adding an
        // existing job id is a no-op, so a retry after a lost reply cannot make a second job.
        await intakeQueue.add(JOB_NAME, data, { ...jobOptions, jobId: id, priority, timestamp: queuedAt });
        // The claim is left to expire: once the job exists, the EXISTS check answers first.
        (reqLog ?? log).info({ evaluationId: id, profile: data.profile, priority }, 'evaluation queued');
        return { evaluationId: id, duplicate: false, status: 'queued' as const };
      }),

    get: (id) => guard('get evaluation', client, queue, () => viewOf(id)),

    list: (query) =>
      guard('list evaluations', client, queue, async (signal) => {
        const limit = Math.max(1, Math.min(LIST_MAX_LIMIT, query.limit));
        const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
        const needle = query.artifact?.toLowerCase();
        const items: EvaluationView[] = [];
        let scanned = 0;
        let lastScanned: readonly [number, string] | undefined;
        let exhausted = false;
        for (let offset = 0; items.length <= limit && scanned < LIST_SCAN_BUDGET; ) {
          if (signal.aborted) return { items: [], nextCursor: null };
          // Unfiltered, read just what the page still needs (+1 to know whether more follow).
          const want = needle ? LIST_BATCH : Math.min(LIST_BATCH, limit + 1 - items.length);
          const batch = await index.page(query.status, after, offset, want);
          offset += batch.length;
          if (batch.length < want) exhausted = true;
          const fresh = batch.filter((e) => !after || e.queuedAt < after[0] || (e.queuedAt === after[0] && e.id < after[1]));
          const [found, flags] = await Promise.all([
            Promise.all(fresh.map((e) => load(e.id))),
            fresh.length ? client.hmget(k.cancelled, ...fresh.map((e) => e.id)) : Promise.resolve([]),
          ]);
          const gone: string[] = [];
          for (let i = 0; i < fresh.length && items.length <= limit; i++) {
            const entry = fresh[i]!;
            scanned++;
            lastScanned = [entry.queuedAt, entry.id];
            const f = found[i];
            const view = f ? toView(f.job, f.state, parseFlag(flags[i])) : undefined;
            if (!f) gone.push(entry.id);
            if (!view) continue;
            if (query.status && view.status !== query.status) {
              void reindex(view).catch(() => undefined); // stale entry: file it where it belongs now
              continue;
            }
            const hay = `${view.artifact.name ?? ''}\n${view.artifact.id ?? ''}\n${view.artifact.fullName ?? ''}`.toLowerCase();
            if (needle && !hay.includes(needle)) continue;
            items.push(view);
          }
          // Jobs BullMQ removed (retention) leave the index here rather than in a full scan.
          if (gone.length) void index.remove(gone).catch(() => undefined);
          if (exhausted) break;
        }
        if (items.length > limit) {
          items.length = limit;
          const last = items[limit - 1]!;
          return { items, nextCursor: encodeCursor([Date.parse(last.timings.queuedAt), last.id]) };
        }
        // The scan budget ran out before the page filled: continue from the last entry looked at.
        return { items, nextCursor: !exhausted && lastScanned ? encodeCursor(lastScanned) : null };
      }),

    cancel: (id, by = 'admin') =>
      guard('cancel evaluation', client, queue, async () => {
        const view = await mustView(id);
        if (view.status === 'cancelled') return view;
        if (view.status === 'succeeded' || view.status === 'failed') {
          throw new EvaluationConflictError(`evaluation ${id} is already ${view.status}; nothing to cancel`);
        }
        // Flag first (workers check it at pickup), then broadcast so a running worker aborts now.
        await client.multi().hset(k.cancelled, id, JSON.stringify({ at: Date.now(), by })).publish(k.cancelChannel, id).exec();
        log.info({ evaluationId: id, by }, 'evaluation cancelled');
        const after = await mustView(id);
        await reindex(after);
        return after;
      }),

    retry: (id) =>
      guard('retry evaluation', client, queue, async () => {
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
        const after = await mustView(id);
        await reindex(after);
        return after;
      }),

    countsByState() {
      const now = Date.now();
      if (!counts || now - counts.at > COUNTS_CACHE_MS) {
        const value = guard('count jobs', client, queue, () => queue.getJobCounts('waiting', 'prioritized', 'delayed', 'waiting-children', 'active', 'completed', 'failed'));
        counts = { at: now, value };
        // A failure is not cached: the next scrape asks again.
        value.catch(() => {
          if (counts?.value === value) counts = undefined;
        });
      }
      return counts.value;
    },

    durations: () => guard('read durations', client, queue, () => numbers(client.hgetall(k.durations))),

    stats: () => guard('read stats', client, queue, () => numbers(client.hgetall(k.stats))),

    ping: pong,

    close: memo(async () => {
      for (const q of [queue, intakeQueue]) await q.close().catch((err: unknown) => log.warn({ err }, 'queue close failed'));
      for (const c of [client, intakeRedis, probe]) await c.quit().catch(() => c.disconnect());
    }),
  };
  return service;
}

async function numbers(raw: Promise<Record<string, string>>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [field, v] of Object.entries(await raw)) {
    const n = Number(v);
    if (Number.isFinite(n)) out[field] = n;
  }
  return out;
}

/** Resolves when `conn` is (re)connected or `signal` aborts; a 'ready' connection gets a short pause. */
function untilReady(conn: Redis, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      conn.off('ready', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', done, { once: true });
    if (conn.status === 'ready') timer = setTimeout(done, 50);
    else conn.once('ready', done);
  });
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
