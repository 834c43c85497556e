/** Admin API and webhook reply/request contracts for evaluations (they also feed /openapi.json). */
import { z } from 'zod';
import { EvaluationStatus } from '../../jobs/job-data.js';
import { EvaluationView } from '../../jobs/views.js';

export { EvaluationView };

export const EvaluationId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'an evaluation id (letters, digits, - and _)')
  .describe('Evaluation id, e.g. ev-0123456789abcdef01234567');

export const IdParams = z.object({ id: EvaluationId });

/** One evaluation a trigger created or found. */
export const EvaluationRef = z.object({
  evaluationId: z.string(),
  profile: z.string(),
  status: EvaluationStatus,
  duplicate: z.boolean(),
  statusUrl: z.string(),
});
export type EvaluationRef = z.infer<typeof EvaluationRef>;

const TriggerReply = z.object({
  evaluationId: z.string(),
  status: EvaluationStatus,
  statusUrl: z.string(),
  evaluations: z.array(EvaluationRef).optional(),
});

/** 202: at least one new evaluation was queued. `evaluations` lists all when several profiles matched. */
export const TriggerAccepted = TriggerReply.extend({ duplicate: z.literal(false) });

/** 200: every matching evaluation already existed (a redelivery). */
export const TriggerDuplicate = TriggerReply.extend({ duplicate: z.literal(true) });

export const ManualTriggerBody = z.object({
  artifact: z
    .string()
    .min(1)
    .max(1024)
    .describe('Full artifact path `[org/]entity/project/collection:vN|alias`, or `wandb-artifact://_id/<id>`'),
  profile: z
    .string()
    .min(1)
    .max(63)
    .optional()
    .describe('Profile name; default: what the routing rules pick, else the default profile'),
});

export const ListQuery = z.object({
  status: EvaluationStatus.optional(),
  artifact: z.string().min(1).max(512).optional().describe('Substring of the artifact name or id'),
  cursor: z.string().min(1).max(512).optional().describe('nextCursor from the previous page'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export const ListReply = z.object({
  items: z.array(EvaluationView),
  nextCursor: z.string().nullable(),
});
