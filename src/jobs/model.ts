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

/** Redis keys we own besides BullMQ's, under the same prefix. */
export function keys(prefix: string) {
  return {
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
    /** string with a TTL: the worker that set it sweeps expired judge-cache entries this period. */
    judgeCacheSweep: `${prefix}:judge-cache-sweep`,
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
