/**
 * The evaluation as BullMQ holds it: job data (the trigger), job progress (stage, counts, timings),
 * the return value (scores), and what the launch settled. The producer (webhook/admin API) and the
 * worker both speak this; the admin API's views are built from it. Redis key names: keys.ts.
 */
import { createHash } from 'node:crypto';
import type { Job, Queue, Worker } from 'bullmq';
import { z } from 'zod';
import { EvalProgress } from '../eval/types.js';

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

/** The engine's counters, each 0 until the engine reports (a progress written before generating still reads). */
const counters = Object.fromEntries(
  Object.entries(EvalProgress.shape).map(([name, count]) => [name, count.default(0)]),
) as {
  [K in keyof EvalProgress]: z.ZodDefault<(typeof EvalProgress.shape)[K]>;
};

/** job.progress: rewritten by the worker as the evaluation moves. */
export const EvaluationProgress = z.object({
  stage: Stage,
  ...counters,
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

/** Where an evaluation starts: queued, nothing counted, no stage entered yet. */
export const initialProgress = (): EvaluationProgress => EvaluationProgress.parse({ stage: 'queued' });

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
  dashboard: z
    .object({ workspaceUrl: z.string().optional(), reportUrl: z.string().optional(), localDir: z.string().optional() })
    .optional(),
  /** Things that went wrong without failing the evaluation (e.g. a dashboard W&B refused to write). */
  warnings: z.array(z.string()).optional(),
});
export type EvaluationResult = z.infer<typeof EvaluationResult>;

/** BullMQ's classes typed with what the evaluation queue holds: job data in, EvaluationResult out. */
export type EvaluationQueue = Queue<EvaluationJobData, EvaluationResult, typeof JOB_NAME>;
export type EvaluationJob = Job<EvaluationJobData, EvaluationResult, typeof JOB_NAME>;
export type EvaluationBullWorker = Worker<EvaluationJobData, EvaluationResult, typeof JOB_NAME>;

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
 * Same artifact version + same profile => same id (BullMQ job id: no ':', not an integer).
 * The node id is preferred over the name since aliases move; names are normalised.
 */
export function evaluationIdFor(artifact: { id?: string; name?: string }, profile: string): string {
  const subject = artifact.id ? `id=${artifact.id}` : `name=${(artifact.name ?? '').trim()}`;
  return `ev-${createHash('sha256').update(`${subject}\n${profile}`).digest('hex').slice(0, 24)}`;
}
