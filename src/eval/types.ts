/**
 * Shared shapes of the eval core. Records are JSON-serialisable and have zod schemas because they
 * travel through Redis (untrusted on the way back) and into W&B tables.
 */
import { z } from 'zod';

export const QuestionId = z.union([z.number().int(), z.string().min(1)]);
export type QuestionId = z.infer<typeof QuestionId>;

export const Usage = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
});

/** Exact request parameters, recorded with every answer/judgment (no messages: they are derivable). */
export const RecordedParams = z.object({
  model: z.string(),
  temperature: z.number(),
  max_tokens: z.number().int(),
});

/** One generated turn of the candidate model. key = `answer/<qid>/<turn>` */
export const AnswerRecord = z.object({
  kind: z.literal('answer'),
  key: z.string(),
  questionId: QuestionId,
  turn: z.number().int().min(1),
  model: z.string(),
  content: z.string(),
  /** Set when the endpoint refused this turn (e.g. a 400 for context overflow): content is FastChat's `$ERROR$`. */
  error: z.string().optional(),
  params: RecordedParams,
  usage: Usage,
  tstamp: z.number(),
});
export type AnswerRecord = z.infer<typeof AnswerRecord>;

/** One single-grading judgment. key = `judgment/<qid>/<turn>`. score -1 = could not be extracted. */
export const JudgmentRecord = z.object({
  kind: z.literal('judgment'),
  key: z.string(),
  questionId: QuestionId,
  turn: z.number().int().min(1),
  model: z.string(),
  judgeModel: z.string(),
  promptName: z.string(),
  userPrompt: z.string(),
  judgment: z.string(),
  score: z.number(),
  /** Why score is -1: no parsable score, out of range, or the answer itself was an error (not judged). */
  invalidReason: z.string().optional(),
  usage: Usage,
  cached: z.boolean(),
  tstamp: z.number(),
});
export type JudgmentRecord = z.infer<typeof JudgmentRecord>;

/** One pairwise comparison against a baseline, both position orders. key = `pairwise/<qid>/<turn>` */
export const PairwiseRecord = z.object({
  kind: z.literal('pairwise'),
  key: z.string(),
  questionId: QuestionId,
  turn: z.number().int().min(1),
  model1: z.string(),
  model2: z.string(),
  judgeModel: z.string(),
  promptName: z.string(),
  g1Winner: z.string(),
  g2Winner: z.string(),
  g1UserPrompt: z.string(),
  g1Judgment: z.string(),
  g2UserPrompt: z.string(),
  g2Judgment: z.string(),
  usage: Usage,
  /** Both games came from the judge cache (no tokens paid in this run). */
  cached: z.boolean().optional(),
  tstamp: z.number(),
});
export type PairwiseRecord = z.infer<typeof PairwiseRecord>;

export const EvalRecord = z.discriminatedUnion('kind', [AnswerRecord, JudgmentRecord, PairwiseRecord]);
export type EvalRecord = z.infer<typeof EvalRecord>;

export const Interval = z.tuple([z.number(), z.number()]);

export const EvalSummary = z.object({
  benchmark: z.string(),
  /** Which reference-answer set and judge-prompt set were used, and the data files' sha256. */
  referenceSet: z.string(),
  promptSet: z.string(),
  dataChecksums: z.record(z.string(), z.string()),
  model: z.string(),
  judgeModel: z.string(),
  mode: z.enum(['single', 'pairwise-baseline']),
  generation: z.record(z.string(), z.unknown()),
  scores: z.object({
    turn1: z.number().nullable(),
    turn2: z.number().nullable(),
    average: z.number().nullable(),
    categories: z.record(z.string(), z.number()),
    ci95: z.object({ average: Interval.nullable(), categories: z.record(z.string(), Interval) }),
  }),
  pairwise: z
    .object({
      baseline: z.string(),
      win: z.number(),
      loss: z.number(),
      tie: z.number(),
      winRate: z.number(),
      winRateAdjusted: z.number(),
    })
    .optional(),
  counts: z.object({
    questions: z.number().int(),
    answers: z.number().int(),
    judgments: z.number().int(),
    invalid: z.number().int(),
    duplicates: z.number().int(),
    judgeCalls: z.number().int(),
    cacheHits: z.number().int(),
    resumed: z.number().int(),
    /** Candidate calls made in this run, answers reused from the store, retried calls, judge re-asks after -1. */
    candidateCalls: z.number().int().optional(),
    answersResumed: z.number().int().optional(),
    retries: z.number().int().optional(),
    parseRetries: z.number().int().optional(),
  }),
  tokens: z.object({ candidate: Usage, judge: Usage }),
  costUsd: z.number().nullable(),
  wallMs: z.number(),
});
export type EvalSummary = z.infer<typeof EvalSummary>;

/**
 * Progress counters: the one schema the engine reports, the job progress stores (jobs/job-data.ts)
 * and the admin API replies (jobs/views.ts).
 */
export const EvalProgress = z.object({
  answersDone: z.number().int(),
  answersTotal: z.number().int(),
  judgmentsDone: z.number().int(),
  judgmentsTotal: z.number().int(),
  invalid: z.number().int(),
});
export type EvalProgress = z.infer<typeof EvalProgress>;

/** A benchmark question as results and W&B tables need it. */
export const BenchmarkQuestion = z.object({
  questionId: QuestionId,
  category: z.string(),
  turns: z.array(z.string()),
  /** Reference answers per turn, when the category uses them. */
  reference: z.array(z.string()).optional(),
});
export type BenchmarkQuestion = z.infer<typeof BenchmarkQuestion>;
