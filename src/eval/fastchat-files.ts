/**
 * FastChat's on-disk formats (llm_judge data/<bench>/model_answer and model_judgment), so results
 * can be inspected or re-scored with show_result.py, plus summary.json.
 */
import { createHash } from 'node:crypto';
import type { EvalResult } from './options.js';
import { byQuestionTurn } from './summary.js';
import type { AnswerRecord, JudgmentRecord, PairwiseRecord, QuestionId } from './types.js';

/** FastChat names models by answer-file basename, so a model name must be a safe file name. */
export function fileSafeModelName(model: string): string {
  return model.replace(/[/\\]/g, '--').replace(/[^A-Za-z0-9._\-+=@]/g, '_');
}

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'; // shortuuid's 57 symbols

/** A 22-char shortuuid-looking id, deterministic so re-exports are byte-identical. */
function answerId(model: string, qid: QuestionId): string {
  const bytes = createHash('sha256')
    .update(`${model}\u0000${String(qid)}`)
    .digest();
  let out = '';
  for (let i = 0; i < 22; i++) out += ALPHABET[bytes[i]! % ALPHABET.length];
  return out;
}

const jsonl = (rows: readonly unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');

export function fastChatFiles(result: EvalResult): Array<{ path: string; content: string }> {
  const { summary, records } = result;
  const model = fileSafeModelName(summary.model);
  const judge = fileSafeModelName(summary.judgeModel);
  const answers = records.filter((r): r is AnswerRecord => r.kind === 'answer').sort(byQuestionTurn);
  const byQ = new Map<string, AnswerRecord[]>();
  for (const a of answers) byQ.set(String(a.questionId), [...(byQ.get(String(a.questionId)) ?? []), a]);
  const answerRows = [...byQ.values()].map((turns) => ({
    question_id: turns[0]!.questionId,
    answer_id: answerId(summary.model, turns[0]!.questionId),
    model_id: summary.model,
    choices: [{ index: 0, turns: turns.map((t) => t.content) }],
    tstamp: Math.max(...turns.map((t) => t.tstamp)),
  }));
  const files = [{ path: `model_answer/${model}.jsonl`, content: jsonl(answerRows) }];

  const singles = records.filter((r): r is JudgmentRecord => r.kind === 'judgment').sort(byQuestionTurn);
  if (singles.length) {
    const rows = singles.map((j) => ({
      question_id: j.questionId,
      model,
      judge: [summary.judgeModel, j.promptName],
      user_prompt: j.userPrompt,
      judgment: j.judgment,
      score: j.score,
      turn: j.turn,
      tstamp: j.tstamp,
    }));
    files.push({ path: `model_judgment/${judge}_single.jsonl`, content: jsonl(rows) });
  }
  const pairs = records.filter((r): r is PairwiseRecord => r.kind === 'pairwise').sort(byQuestionTurn);
  if (pairs.length) {
    const rows = pairs.map((p) => ({
      question_id: p.questionId,
      model_1: model,
      model_2: fileSafeModelName(p.model2),
      g1_winner: p.g1Winner,
      g2_winner: p.g2Winner,
      judge: [summary.judgeModel, p.promptName],
      g1_user_prompt: p.g1UserPrompt,
      g1_judgment: p.g1Judgment,
      g2_user_prompt: p.g2UserPrompt,
      g2_judgment: p.g2Judgment,
      turn: p.turn,
      tstamp: p.tstamp,
    }));
    files.push({ path: `model_judgment/${judge}_pair.jsonl`, content: jsonl(rows) });
  }
  files.push({ path: 'summary.json', content: `${JSON.stringify(summary, null, 2)}\n` });
  return files;
}
