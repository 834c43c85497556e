/**
 * What an evaluation result looks like in W&B, shared by the online and offline reporters: the
 * summary keys (`mtbench/...`) and Nejumi's two tables (mtbench.md §7.2).
 */
import type { BenchmarkQuestion, EvalRecord, EvalSummary } from '../eval/types.js';

export interface EvalOutcome {
  summary: EvalSummary;
  records: EvalRecord[];
  questions: BenchmarkQuestion[];
}

export interface Table {
  columns: string[];
  data: unknown[][];
}

/** Nejumi 4 columns of mtbench_output_table: one row per judge call. */
export const OUTPUT_COLUMNS = [
  'model_name',
  'question_id',
  'category',
  'question',
  'answer',
  'judge_model',
  'judge_prompt_template',
  'judge_prompt',
  'judgment',
  'score',
  'turn',
  'tstamp',
  'sub_category',
] as const;

/** Nejumi 4's sub_category mapping. */
const SUB_CATEGORY: Record<string, string> = {
  writing: 'creation',
  roleplay: 'creation',
  extraction: 'stem',
  math: 'stem',
  coding: 'stem',
  reasoning: 'stem',
  stem: 'stem',
  humanities: 'humanities',
};

export function outputTable(o: EvalOutcome): Table {
  const questions = new Map(o.questions.map((q) => [String(q.questionId), q]));
  const answers = new Map<string, string>();
  for (const r of o.records) if (r.kind === 'answer') answers.set(`${r.questionId}/${r.turn}`, r.content);
  const rows: unknown[][] = [];
  for (const r of o.records) {
    const q = questions.get(String(r.questionId));
    const category = q?.category ?? '';
    const base = {
      question_id: r.questionId,
      category,
      question: q?.turns[r.turn - 1] ?? '',
      answer: answers.get(`${r.questionId}/${r.turn}`) ?? '',
      turn: r.turn,
      tstamp: r.tstamp,
      sub_category: SUB_CATEGORY[category] ?? category,
    };
    if (r.kind === 'judgment') {
      rows.push(
        row({
          ...base,
          model_name: r.model,
          judge_model: r.judgeModel,
          judge_prompt_template: r.promptName,
          judge_prompt: r.userPrompt,
          judgment: r.judgment,
          score: r.score,
        }),
      );
    } else if (r.kind === 'pairwise') {
      // Two judge calls per comparison (both position orders): two rows; no numeric score.
      const common = {
        ...base,
        model_name: r.model1,
        judge_model: r.judgeModel,
        judge_prompt_template: r.promptName,
        score: null,
      };
      rows.push(row({ ...common, judge_prompt: r.g1UserPrompt, judgment: `[${r.g1Winner}] ${r.g1Judgment}` }));
      rows.push(row({ ...common, judge_prompt: r.g2UserPrompt, judgment: `[${r.g2Winner}] ${r.g2Judgment}` }));
    }
  }
  return { columns: [...OUTPUT_COLUMNS], data: rows };
}

function row(v: Record<(typeof OUTPUT_COLUMNS)[number], unknown>): unknown[] {
  return OUTPUT_COLUMNS.map((c) => v[c] ?? null);
}

/** mtbench_radar_table: (category, score), 1-10 scale like Nejumi 3 and FastChat. */
export function radarTable(s: EvalSummary): Table {
  return {
    columns: ['category', 'score'],
    data: Object.entries(s.scores.categories)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([c, v]) => [c, v]),
  };
}

/** Flat summary keys (no secrets): scores, intervals, counts, tokens, cost, checkpoint position. */
export function summaryMetrics(
  s: EvalSummary,
  checkpoint: { epoch?: number; step?: number } | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    'mtbench/score': s.scores.average,
    'mtbench/turn1': s.scores.turn1,
    'mtbench/turn2': s.scores.turn2,
  };
  for (const [c, v] of Object.entries(s.scores.categories)) out[`mtbench/${c}`] = v;
  const ci = s.scores.ci95.average;
  if (ci) Object.assign(out, { 'mtbench/score_ci95_low': ci[0], 'mtbench/score_ci95_high': ci[1] });
  for (const [c, [lo, hi]] of Object.entries(s.scores.ci95.categories))
    Object.assign(out, { [`mtbench/${c}_ci95_low`]: lo, [`mtbench/${c}_ci95_high`]: hi });
  Object.assign(out, {
    'mtbench/n_questions': s.counts.questions,
    'mtbench/n_judged': s.counts.judgments,
    'mtbench/n_invalid': s.counts.invalid,
    'mtbench/n_duplicates': s.counts.duplicates,
    'judge/calls': s.counts.judgeCalls,
    'judge/cache_hits': s.counts.cacheHits,
    'judge/model': s.judgeModel,
    'tokens/candidate_prompt': s.tokens.candidate.promptTokens,
    'tokens/candidate_completion': s.tokens.candidate.completionTokens,
    'tokens/judge_prompt': s.tokens.judge.promptTokens,
    'tokens/judge_completion': s.tokens.judge.completionTokens,
    'cost/usd': s.costUsd,
    'eval/wall_seconds': s.wallMs / 1000,
  });
  if (s.pairwise) {
    const p = s.pairwise;
    Object.assign(out, {
      'pairwise/baseline': p.baseline,
      'pairwise/win': p.win,
      'pairwise/loss': p.loss,
      'pairwise/tie': p.tie,
      'pairwise/win_rate': p.winRate,
      'pairwise/win_rate_adjusted': p.winRateAdjusted,
    });
  }
  if (checkpoint?.epoch !== undefined) out.epoch = checkpoint.epoch;
  if (checkpoint?.step !== undefined) out.step = checkpoint.step;
  return out;
}
