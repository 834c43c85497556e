/**
 * Turning judge text into numbers: FastChat's score regexes (ASCII digits, first match, backup only
 * if the primary finds nothing, -1 on failure), the pairwise verdict rules, and the opt-in
 * structured-output judge schema.
 */
import { z } from 'zod';
import type { ChatRequest } from './ports.js';

// common.py one_score_pattern / one_score_pattern_backup with \d narrowed to ASCII: Python's
// Unicode \d would match full-width digits and then crash in literal_eval.
const ONE_SCORE = /\[\[([0-9]+\.?[0-9]*)\]\]/;
const ONE_SCORE_BACKUP = /\[([0-9]+\.?[0-9]*)\]/;

/**
 * Mirrors ast.literal_eval of the capture: an int literal with a leading zero ("08") is a
 * SyntaxError in Python (so -1 here), while "00", "08.5" and "8." are valid literals.
 */
function literalNumber(text: string): number {
  if (!text.includes('.') && /^0+[1-9]/.test(text)) return -1;
  const n = Number(text);
  return Number.isFinite(n) ? n : -1;
}

/** MT-Bench's single-grading scale: "rate the response on a scale of 1 to 10". */
const SCORE_RANGE = { min: 1, max: 10 } as const;

/**
 * FastChat's extraction, plus a range check FastChat lacks: `[[1000]]` would otherwise be averaged
 * in (and could pass a write-back threshold). Out-of-range scores count as invalid (-1), like an
 * unparsable judgment; FastChat's recorded GPT-4 judgments hold none, so fidelity is unchanged.
 */
export function parseSingleScore(judgment: string): number {
  const m = ONE_SCORE.exec(judgment) ?? ONE_SCORE_BACKUP.exec(judgment);
  const n = m ? literalNumber(m[1]!) : -1;
  return n >= SCORE_RANGE.min && n <= SCORE_RANGE.max ? n : -1;
}

/** Why a judgment counts as invalid, for the record (undefined when it has a usable score). */
export function invalidScoreReason(judgment: string, score: number): string | undefined {
  if (score !== -1) return undefined;
  const m = ONE_SCORE.exec(judgment) ?? ONE_SCORE_BACKUP.exec(judgment);
  if (m && literalNumber(m[1]!) !== -1) return `score ${m[1]!} outside ${SCORE_RANGE.min}-${SCORE_RANGE.max}`;
  return 'no parsable score';
}

export type Verdict = 'A' | 'B' | 'tie' | 'error';

/** common.py run_judge_pair: substring tests in this order. */
export function parseVerdict(judgment: string): Verdict {
  if (judgment.includes('[[A]]')) return 'A';
  if (judgment.includes('[[B]]')) return 'B';
  if (judgment.includes('[[C]]')) return 'tie';
  return 'error';
}

export type Winner = 'model_1' | 'model_2' | 'tie' | 'error';

/** Game 1 shows model_1 as A; game 2 is swapped, so A means model_2 there. */
export function gameWinner(verdict: Verdict, game: 1 | 2): Winner {
  if (verdict === 'tie' || verdict === 'error') return verdict;
  if (game === 1) return verdict === 'A' ? 'model_1' : 'model_2';
  return verdict === 'A' ? 'model_2' : 'model_1';
}

/** show_result.py pairwise rule for one match, from model_1's point of view. */
export function matchOutcome(g1: string, g2: string): 'win' | 'loss' | 'tie' | 'excluded' {
  if (g1 === 'error' || g2 === 'error') return 'excluded';
  if (g1 === 'tie' || g1 !== g2) return 'tie';
  return g1 === 'model_1' ? 'win' : 'loss';
}

/** Structured judge output: an explanation then an integer rating (Nejumi 4 style, 0 allowed). */
export const StructuredJudgment = z.object({
  explanation: z.string(),
  rating: z.number().int().min(0).max(10),
});
export type StructuredJudgment = z.infer<typeof StructuredJudgment>;

export function structuredResponseFormat(): NonNullable<ChatRequest['response_format']> {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(StructuredJudgment) as Record<string, unknown>;
  return { type: 'json_schema', json_schema: { name: 'judgment', schema, strict: true } };
}

/** Parses a structured reply; falls back to the regexes so a judge that ignored the schema still scores. */
export function parseStructuredScore(content: string): number {
  try {
    const parsed = StructuredJudgment.safeParse(JSON.parse(content));
    if (parsed.success) return parsed.data.rating;
  } catch {
    // not JSON: fall through to the text patterns
  }
  return parseSingleScore(content);
}
