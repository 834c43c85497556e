/**
 * The evaluation as it lives in Redis: BullMQ job data (the trigger), job progress (stage, counts,
 * timings), the return value (scores), plus a few keys of our own. The producer (webhook/admin API)
 * and the worker both speak this; the admin API's views are built from it.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const QUEUE_NAME = 'evaluations';
export const JOB_NAME = 'eval.run';

export const EventType = z.enum(['LINK_ARTIFACT', 'LINK_MODEL', 'ADD_ARTIFACT_ALIAS', 'CREATE_ARTIFACT', 'MANUAL']);

export const EvaluationJobData = z.object({
  evaluationId: z.string(),
  profile: z.string(),
  artifact: z.object({
    id: z.string().optional(),
    /** Full name as given by the trigger (`[org/]entity/project/collection:vN|alias`). */
    name: z.string().optional(),
  }),
  trigger: z.object({
    source: z.enum(['webhook', 'manual']),
    eventType: EventType,
    alias: z.string().optional(),
    author: z.string().optional(),
    receivedAt: z.number(),
  }),
});
export type EvaluationJobData = z.infer<typeof EvaluationJobData>;

export const Stage = z.enum(['queued', 'preparing', 'launching', 'generating', 'judging', 'reporting', 'done']);
export type Stage = z.infer<typeof Stage>;

/** job.progress: rewritten by the worker as the evaluation moves. */
export const EvaluationProgress = z.object({
  stage: Stage,
  answersDone: z.number().int().default(0),
  answersTotal: z.number().int().default(0),
  judgmentsDone: z.number().int().default(0),
  judgmentsTotal: z.number().int().default(0),
  invalid: z.number().int().default(0),
  /** ms epoch of the evaluation's first start; kept across retries and workers (the W&B run's runtime counts from it). */
  startedAt: z.number().optional(),
  /** ms epoch when each stage was entered. */
  stages: z.record(z.string(), z.number()).default({}),
  artifactFullName: z.string().optional(),
  runUrl: z.string().optional(),
  localDir: z.string().optional(),
  /** Artifact bytes fetched for this evaluation (0 on a cache hit; only the adapter when a LoRA is served). */
  bytesDownloaded: z.number().int().nonnegative().optional(),
  /** Set when inference.fallbackToModel evaluated this model instead of the artifact: nothing is written back. */
  evaluatedModel: z.string().optional(),
  fallbackReason: z.string().optional(),
});
export type EvaluationProgress = z.infer<typeof EvaluationProgress>;

/** job.returnvalue */
export const EvaluationResult = z.object({
  scores: z.object({
    average: z.number().nullable(),
    turn1: z.number().nullable(),
    turn2: z.number().nullable(),
    categories: z.record(z.string(), z.number()),
  }),
  invalid: z.number().int(),
  judgeCalls: z.number().int(),
  runUrl: z.string().optional(),
  localDir: z.string().optional(),
  writeBack: z.array(z.string()).default([]),
  /** The project's dashboard in W&B (or its specs' directory offline). */
  dashboard: z.object({ workspaceUrl: z.string().optional(), reportUrl: z.string().optional(), localDir: z.string().optional() }).optional(),
  /** Things that went wrong without failing the evaluation (e.g. a dashboard W&B refused to write). */
  warnings: z.array(z.string()).optional(),
});
export type EvaluationResult = z.infer<typeof EvaluationResult>;

/** What the launch settled that reporting and write-back depend on, kept for a reporting-only retry. */
export const ServedFacts = z.object({
  inference: z.record(z.string(), z.unknown()),
  bytesDownloaded: z.number().int().nonnegative(),
  fallback: z.object({ evaluatedModel: z.string(), reason: z.string() }).optional(),
});
export type ServedFacts = z.infer<typeof ServedFacts>;

export const EvaluationStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type EvaluationStatus = z.infer<typeof EvaluationStatus>;

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

/**
 * Same artifact version + same profile => same id (BullMQ job id: no ':', not an integer).
 * The node id is preferred over the name since aliases move; names are normalised.
 */
export function evaluationIdFor(artifact: { id?: string; name?: string }, profile: string): string {
  const subject = artifact.id ? `id=${artifact.id}` : `name=${(artifact.name ?? '').trim()}`;
  return `ev-${createHash('sha256').update(`${subject}\n${profile}`).digest('hex').slice(0, 24)}`;
}
