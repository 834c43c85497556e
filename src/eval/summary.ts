/** Turns a finished run's records and counters into the EvalResult the pipeline and reporter consume. */
import { aggregatePairwise, aggregateSingle, bootstrapInterval, categoryIntervals } from './aggregate.js';
import {
  FASTCHAT_MAX_NEW_TOKENS,
  JUDGE_MAX_TOKENS,
  NEED_REF_CATS,
  generationTemperature,
  sentTemperature,
} from './benchmark.js';
import { costOf } from './cost.js';
import { DEFAULT_RETRY } from './execution.js';
import type { EvalResult, RunEvaluationOptions } from './options.js';
import type { TokenUsage } from './ports.js';
import type { AnswerRecord, EvalRecord, EvalSummary, JudgmentRecord, PairwiseRecord, QuestionId } from './types.js';

export interface RunCounters {
  judgeCalls: number;
  candidateCalls: number;
  cacheHits: number;
  resumed: number;
  answersResumed: number;
  retries: number;
  parseRetries: number;
  /** Records the store held more than once for the same key (last wins). */
  duplicates: number;
}

/** A run's counters before anything has happened. */
export const zeroCounters = (): RunCounters => ({
  judgeCalls: 0,
  candidateCalls: 0,
  cacheHits: 0,
  resumed: 0,
  answersResumed: 0,
  retries: 0,
  parseRetries: 0,
  duplicates: 0,
});

const ZERO: TokenUsage = { promptTokens: 0, completionTokens: 0 };
const sum = (xs: readonly TokenUsage[]): TokenUsage =>
  xs.reduce(
    (a, b) => ({
      promptTokens: a.promptTokens + b.promptTokens,
      completionTokens: a.completionTokens + b.completionTokens,
    }),
    ZERO,
  );

/** Stable order for outputs: by question id (numeric when both are), then turn. */
export function byQuestionTurn(
  a: { questionId: QuestionId; turn: number },
  b: { questionId: QuestionId; turn: number },
): number {
  const qa = a.questionId;
  const qb = b.questionId;
  const cmp =
    typeof qa === 'number' && typeof qb === 'number'
      ? qa - qb
      : String(qa).localeCompare(String(qb), undefined, { numeric: true });
  return cmp || a.turn - b.turn;
}

export function buildSummary(input: {
  opts: RunEvaluationOptions;
  mode: 'single' | 'pairwise-baseline';
  answers: AnswerRecord[];
  judged: Array<JudgmentRecord | PairwiseRecord>;
  counters: RunCounters;
  wallMs: number;
}): EvalResult {
  const { opts, mode, counters: c } = input;
  const bench = opts.benchmark;
  const answers = [...input.answers].sort(byQuestionTurn);
  const judged = [...input.judged].sort(byQuestionTurn);
  const singles = judged.filter((r): r is JudgmentRecord => r.kind === 'judgment');
  const pairs = judged.filter((r): r is PairwiseRecord => r.kind === 'pairwise');
  const catOf = new Map(bench.questions.map((q) => [String(q.questionId), q.category]));
  const categoryOf = (id: QuestionId) => catOf.get(String(id));

  const agg = aggregateSingle(singles, categoryOf);
  const boot = opts.bootstrap ?? {};
  const tally = mode === 'pairwise-baseline' ? aggregatePairwise(pairs) : undefined;
  const candTokens = sum(answers.map((a) => a.usage));
  // Cache hits were paid for by an earlier run; only count tokens spent to produce this result.
  const judgeTokens = sum(judged.filter((r) => !r.cached).map((r) => r.usage));
  const temperatures = Object.fromEntries(
    [...new Set(bench.questions.map((q) => q.category))].map((cat) => [
      cat,
      sentTemperature(generationTemperature(bench, cat)),
    ]),
  );

  const summary: EvalSummary = {
    benchmark: bench.name,
    referenceSet: bench.referenceSet,
    promptSet: bench.promptSet,
    dataChecksums: bench.dataChecksums,
    model: opts.candidate.model,
    judgeModel: opts.judge.model,
    mode,
    generation: {
      temperatures,
      greedyBelow: 1e-4,
      max_tokens: bench.maxTokens ?? FASTCHAT_MAX_NEW_TOKENS,
      system_prompt: opts.candidate.systemPrompt ?? null,
      max_turns: bench.maxTurns ?? null,
      ref_categories: bench.refCategories ?? NEED_REF_CATS,
      judge: {
        temperature: 0,
        max_tokens: JUDGE_MAX_TOKENS,
        structured: opts.judge.structured ?? false,
        parse_retries: opts.judge.parseRetries ?? 0,
      },
      aggregation:
        'dedupe last-wins per (question, turn, judge); score -1 dropped and counted; average pooled over valid rows (FastChat show_result)',
      retry: opts.retry ?? DEFAULT_RETRY,
      concurrency: { candidate: opts.candidate.concurrency, judge: opts.judge.concurrency },
    },
    scores: {
      turn1: agg.turn1,
      turn2: agg.turn2,
      average: agg.average,
      categories: agg.categories,
      ci95: { average: bootstrapInterval(agg.rows, boot), categories: categoryIntervals(agg.rows, categoryOf, boot) },
    },
    ...(tally && opts.baseline
      ? {
          pairwise: {
            baseline: opts.baseline.model,
            win: tally.win,
            loss: tally.loss,
            tie: tally.tie,
            winRate: tally.winRate,
            winRateAdjusted: tally.winRateAdjusted,
          },
        }
      : {}),
    counts: {
      questions: bench.questions.length,
      answers: answers.length,
      judgments: judged.length,
      invalid: mode === 'single' ? agg.invalid : (tally?.excluded ?? 0),
      duplicates: c.duplicates,
      judgeCalls: c.judgeCalls,
      cacheHits: c.cacheHits,
      resumed: c.resumed,
      candidateCalls: c.candidateCalls,
      answersResumed: c.answersResumed,
      retries: c.retries,
      parseRetries: c.parseRetries,
    },
    tokens: { candidate: candTokens, judge: judgeTokens },
    // The judge's bill: the candidate is served on the team's own hardware (see src/judge-prices.ts).
    costUsd: opts.judge.prices ? costOf(judgeTokens, opts.judge.prices) : null,
    wallMs: input.wallMs,
  };
  const records: EvalRecord[] = [...answers, ...judged];
  return { summary, records, questions: bench.questions };
}
