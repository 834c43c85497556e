/**
 * Every name evalhook writes in Redis besides BullMQ's own (the queue's, the keys of keys(), the
 * counters), and how each is kept from growing forever.
 */
import type { EvaluationStatus } from './job-data.js';

export const QUEUE_NAME = 'evaluations';

/**
 * Redis keys we own besides BullMQ's, under the same prefix: every key evalhook writes is named
 * here, with how it is kept from growing forever (KEY_LIFETIMES below, tested against this list).
 */
export function keys(prefix: string) {
  return {
    /** zset evaluationId -> queued ms, every evaluation (the admin list without a status filter). */
    indexAll: `${prefix}:index:all`,
    /** zset per status, evaluationId -> queued ms (the admin list's pages; MAX_QUEUED counts BullMQ's own lists). */
    index: (status: EvaluationStatus) => `${prefix}:index:${status}`,
    /** Set once jobs queued before the index existed have been indexed (the sweep's one-off backfill). */
    indexBackfilled: `${prefix}:index:backfilled`,
    /** Short-lived claim that makes concurrent deliveries of one new id enqueue it once. */
    dedupeClaim: (evaluationId: string) => `${prefix}:dedupe-claim:${evaluationId}`,
    /** hash outcome:field -> number: evaluation-duration histogram written by workers as jobs end. */
    durations: `${prefix}:durations`,
    /** @fastify/rate-limit counters (WEBHOOK_RATE_LIMIT), one per client address. */
    rateLimit: `${prefix}:rate-limit:`,
    /** The maintenance queue (BullMQ) that runs the scheduled sweep. */
    maintenanceQueue: 'maintenance',
    /** hash evaluationId -> JSON {at, by}: cancellation requests (checked at pickup, broadcast live). */
    cancelled: `${prefix}:cancelled`,
    /** pub/sub channel carrying evaluation ids to cancel. */
    cancelChannel: `${prefix}:cancel-events`,
    /** hash per evaluation: record key -> EvalRecord JSON (answers/judgments, written as they complete). */
    records: (evaluationId: string) => `${prefix}:records:${evaluationId}`,
    /** The finished EvalSummary: once present, a retry only re-runs reporting. */
    summary: (evaluationId: string) => `${prefix}:summary:${evaluationId}`,
    /** JSON ServedFacts of the attempt that produced the summary (what was evaluated, bytes downloaded). */
    served: (evaluationId: string) => `${prefix}:served:${evaluationId}`,
    /** hash cache key -> ChatResult JSON: the content-addressed judge cache shared by all workers. */
    judgeCache: `${prefix}:judge-cache`,
    /** hash of counters for /metrics: judge_calls, judge_prompt_tokens, judge_completion_tokens, ... */
    stats: `${prefix}:stats`,
    /** limiter keys per endpoint */
    limiter: (name: string) => `${prefix}:limit:${name}`,
    gpuPool: `${prefix}:gpus`,
    /** hash `<entity>/<project>` (and `preset:<entity>`) -> dashboard state JSON: view ids, spec hashes, report's last write. */
    dashboards: `${prefix}:dashboards`,
    /** One dashboard update per project at a time. */
    dashboardLock: (name: string) => `${prefix}:dashboard-lock:${name}`,
  };
}

/**
 * How each key of keys() stops growing. `ttl`: a Redis expiry set when written; `sweep`: entries
 * removed by the scheduled sweep (src/jobs/sweep.ts); `bounded`: a fixed, small set of fields.
 */
export const KEY_LIFETIMES: Record<keyof ReturnType<typeof keys>, string> = {
  indexAll: 'sweep: entries of jobs BullMQ no longer holds are removed',
  index: 'sweep: as indexAll',
  indexBackfilled: 'bounded: one string',
  dedupeClaim: 'ttl: 10 s',
  durations: 'bounded: buckets x outcomes',
  rateLimit: 'ttl: one rate window',
  maintenanceQueue: 'bounded: one repeatable job, finished runs removed',
  cancelled: 'sweep: flags of jobs BullMQ no longer holds are removed',
  cancelChannel: 'pub/sub: stores nothing',
  records: 'ttl: CHECKPOINT_TTL_DAYS after the evaluation ends (succeeded, failed or cancelled)',
  summary: 'ttl: CHECKPOINT_TTL_DAYS, as records',
  served: 'ttl: CHECKPOINT_TTL_DAYS, as records',
  dashboards: 'bounded: one field per W&B project and one preset per entity',
  dashboardLock: 'ttl: the lock time (2 min), released when the update ends',
  judgeCache: 'ttl per entry (JUDGE_CACHE_TTL_DAYS), expired entries removed by the sweep',
  stats: 'bounded: STAT_FIELDS',
  limiter: 'ttl: set by the limiter scripts',
  gpuPool: 'bounded: one lease per GPU',
};

/** How long finished jobs (the evaluation record and the dedupe memory) stay in BullMQ. */
export const FINISHED_JOB_RETENTION = { ageSeconds: 180 * 24 * 3600, count: 50_000 } as const;

/** Counter names in keys().stats, read by /metrics. */
export const STAT_FIELDS = [
  'judge_calls',
  'judge_cache_hits',
  'judge_prompt_tokens',
  'judge_completion_tokens',
  'candidate_calls',
  'candidate_prompt_tokens',
  'candidate_completion_tokens',
] as const;
