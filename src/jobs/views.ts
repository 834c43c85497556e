/**
 * What operators see of an evaluation: one flat view built from the BullMQ job (state, data,
 * progress, return value) plus our cancel flag. The same zod schema is the admin API's reply, so the
 * view cannot drift from the OpenAPI document.
 */
import { z } from 'zod';
import { EvalhookError } from '../errors.js';
import { EvalProgress } from '../eval/types.js';
import {
  EvaluationJobData,
  EvaluationProgress,
  EvaluationResult,
  EvaluationStatus,
  initialProgress,
  Stage,
} from './job-data.js';

const iso = z.string().describe('ISO 8601 timestamp');

export const EvaluationView = z.object({
  id: z.string(),
  status: EvaluationStatus,
  stage: Stage,
  progress: EvalProgress,
  artifact: z.object({ id: z.string().optional(), name: z.string().optional(), fullName: z.string().optional() }),
  profile: z.string(),
  trigger: EvaluationJobData.shape.trigger.extend({ receivedAt: iso }),
  timings: z.object({
    queuedAt: iso,
    startedAt: iso.optional(),
    finishedAt: iso.optional(),
    cancelledAt: iso.optional(),
    /** When each stage was entered. */
    stages: z.record(z.string(), iso),
  }),
  attempts: z.number().int(),
  scores: EvaluationResult.shape.scores.optional(),
  judgeCalls: z.number().int().optional(),
  runUrl: z.string().optional(),
  localDir: z.string().optional(),
  writeBack: z.array(z.string()).optional(),
  /** Artifact bytes downloaded for this evaluation. */
  bytesDownloaded: z.number().int().optional(),
  /**
   * Present when the profile's inference.fallbackToModel evaluated the configured model instead of
   * the artifact: the score is that model's, and nothing was written back to the registry.
   */
  fallback: z.object({ evaluatedModel: z.string(), reason: z.string() }).optional(),
  dashboard: EvaluationResult.shape.dashboard,
  warnings: z.array(z.string()).optional(),
  error: z.object({ reason: z.string() }).optional(),
});
export type EvaluationView = z.infer<typeof EvaluationView>;

/** BullMQ's job states, as getState()/getJobs() name them. */
export type ListableState = 'wait' | 'prioritized' | 'delayed' | 'waiting-children' | 'active' | 'completed' | 'failed';
export type QueueState = ListableState | 'waiting' | 'unknown';

/** The subset of a BullMQ Job the view reads (keeps this module free of bullmq). */
export interface JobLike {
  id?: string | undefined;
  data: unknown;
  progress: unknown;
  returnvalue: unknown;
  timestamp: number;
  processedOn?: number | undefined;
  finishedOn?: number | undefined;
  attemptsMade: number;
  failedReason?: string | undefined;
}

export interface CancelFlag {
  at: number;
  by?: string | undefined;
}

export const CancelFlagSchema = z.object({ at: z.number(), by: z.string().optional() });

export function statusOf(state: QueueState, cancelled: boolean): EvaluationStatus {
  if (state === 'completed') return 'succeeded';
  // A cancel request wins over every other state: the worker aborts on it at pickup or live.
  if (cancelled) return 'cancelled';
  if (state === 'active') return 'running';
  if (state === 'failed') return 'failed';
  return 'queued';
}

const toIso = (ms: number | undefined) =>
  ms === undefined || !Number.isFinite(ms) ? undefined : new Date(ms).toISOString();

/** undefined when the job's data is not ours (Redis content is untrusted input). */
export function toView(job: JobLike, state: QueueState, cancel: CancelFlag | undefined): EvaluationView | undefined {
  const data = EvaluationJobData.safeParse(job.data);
  if (!data.success || !job.id) return undefined;
  const progress = EvaluationProgress.safeParse(job.progress);
  const p = progress.success ? progress.data : undefined;
  const status = statusOf(state, cancel !== undefined);
  const result = state === 'completed' ? EvaluationResult.safeParse(job.returnvalue) : undefined;
  const r = result?.success ? result.data : undefined;
  const stages: Record<string, string> = {};
  for (const [name, at] of Object.entries(p?.stages ?? {})) {
    const s = toIso(at);
    if (s) stages[name] = s;
  }
  const { trigger, artifact, profile } = data.data;
  return {
    id: job.id,
    status,
    stage: status === 'succeeded' ? 'done' : (p?.stage ?? 'queued'),
    progress: EvalProgress.parse(p ?? initialProgress()),
    artifact: { ...artifact, fullName: p?.artifactFullName },
    profile,
    trigger: { ...trigger, receivedAt: toIso(trigger.receivedAt) ?? new Date(0).toISOString() },
    timings: {
      queuedAt: toIso(job.timestamp) ?? new Date(0).toISOString(),
      startedAt: toIso(job.processedOn),
      finishedAt: state === 'completed' || state === 'failed' ? toIso(job.finishedOn) : undefined,
      cancelledAt: toIso(cancel?.at),
      stages,
    },
    attempts: job.attemptsMade,
    scores: r?.scores,
    judgeCalls: r?.judgeCalls,
    runUrl: r?.runUrl ?? p?.runUrl,
    localDir: r?.localDir ?? p?.localDir,
    writeBack: r?.writeBack,
    bytesDownloaded: p?.bytesDownloaded,
    fallback: p?.evaluatedModel ? { evaluatedModel: p.evaluatedModel, reason: p.fallbackReason ?? '' } : undefined,
    dashboard: r?.dashboard,
    warnings: r?.warnings?.length ? r.warnings : undefined,
    error:
      status === 'failed' || (status === 'cancelled' && job.failedReason)
        ? { reason: job.failedReason || 'unknown failure' }
        : undefined,
  };
}

/** A bad cursor is the client's mistake: 400. */
export class InvalidCursorError extends EvalhookError {
  override name = 'InvalidCursorError';
  constructor() {
    super('EVALHOOK_ERR_CURSOR', 'cursor: not a cursor returned by this API');
  }
}

/** Position in the list order (queuedAt desc, id desc); opaque to clients as base64url JSON. */
type CursorKey = readonly [number, string];

export function encodeCursor([t, id]: CursorKey): string {
  return Buffer.from(JSON.stringify([t, id])).toString('base64url');
}

export function decodeCursor(cursor: string): CursorKey {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    /* fall through */
  }
  throw new InvalidCursorError();
}
