/** The resume rules on their own: which stored records a run may reuse, and how an untrusted store is read. */
import { describe, expect, it } from 'vitest';
import { loadStored, reusableAnswer, reusableJudgment, reusablePair } from '../../src/eval/resume.js';
import { zeroCounters } from '../../src/eval/summary.js';
import type { AnswerRecord, EvalRecord, JudgmentRecord, PairwiseRecord } from '../../src/eval/types.js';

const usage = { promptTokens: 1, completionTokens: 1 };
const answer = (turn: number, content: string, model = 'cand'): AnswerRecord => ({
  kind: 'answer',
  key: `answer/81/${turn}`,
  questionId: 81,
  turn,
  model,
  content,
  params: { model, temperature: 0.7, max_tokens: 1024 },
  usage,
  tstamp: 1,
});
const judgment: JudgmentRecord = {
  kind: 'judgment',
  key: 'judgment/81/1',
  questionId: 81,
  turn: 1,
  model: 'cand',
  judgeModel: 'judge',
  promptName: 'single-v1',
  userPrompt: 'P',
  judgment: '[[7]]',
  score: 7,
  usage,
  cached: false,
  tstamp: 1,
};
const pair: PairwiseRecord = {
  kind: 'pairwise',
  key: 'pairwise/81/1',
  questionId: 81,
  turn: 1,
  model1: 'cand',
  model2: 'base',
  judgeModel: 'judge',
  promptName: 'pair-v2',
  g1Winner: 'model_1',
  g2Winner: 'model_1',
  g1UserPrompt: 'G1',
  g1Judgment: '[[A]]',
  g2UserPrompt: 'G2',
  g2Judgment: '[[B]]',
  usage,
  tstamp: 1,
};
const storeOf = (records: unknown[]) => ({ load: async () => records as EvalRecord[], save: async () => undefined });

describe('loadStored', () => {
  it('skips what does not parse, keeps the last record per key and counts the repeats', async () => {
    const c = zeroCounters();
    const stored = await loadStored(
      storeOf([answer(1, 'old'), { kind: 'answer', key: 'answer/81/1' }, answer(1, 'new'), 'junk']),
      c,
    );
    expect(stored.size).toBe(1);
    expect(stored.get('answer/81/1')).toMatchObject({ content: 'new' });
    expect(c.duplicates).toBe(1);
  });

  it('reads nothing without a store', async () => {
    expect((await loadStored(undefined, zeroCounters())).size).toBe(0);
  });
});

describe('reuse rules', () => {
  it('an answer is reused for the same model only, and turn 2 only on top of the turn 1 it was generated from', async () => {
    const t1 = answer(1, 'one');
    const t2 = { ...answer(2, 'two'), key: 'answer/81/2' };
    const stored = await loadStored(storeOf([t1, t2]), zeroCounters());
    const storedT1 = stored.get(t1.key) as AnswerRecord;
    expect(reusableAnswer(stored, t1.key, 'cand', [])).toEqual(t1);
    expect(reusableAnswer(stored, t1.key, 'other-model', [])).toBeUndefined();
    expect(reusableAnswer(stored, t2.key, 'cand', [storedT1])).toEqual(t2);
    // Turn 1 was generated again in this run: the stored turn 2 answered another conversation.
    expect(reusableAnswer(stored, t2.key, 'cand', [answer(1, 'one')])).toBeUndefined();
    expect(reusableAnswer(stored, 'answer/82/1', 'cand', [])).toBeUndefined();
  });

  it('a judgment is reused for the same judge, candidate and prompt only', async () => {
    const stored = await loadStored(storeOf([judgment]), zeroCounters());
    const want = { judgeModel: 'judge', model: 'cand', userPrompt: 'P' };
    expect(reusableJudgment(stored, judgment.key, want)).toEqual(judgment);
    expect(reusableJudgment(stored, judgment.key, { ...want, judgeModel: 'other-judge' })).toBeUndefined();
    expect(reusableJudgment(stored, judgment.key, { ...want, model: 'other' })).toBeUndefined();
    expect(reusableJudgment(stored, judgment.key, { ...want, userPrompt: 'P with another answer' })).toBeUndefined();
  });

  it('a pairwise record is reused when both games were asked the same way', async () => {
    const stored = await loadStored(storeOf([pair, judgment]), zeroCounters());
    const want = { judgeModel: 'judge', model1: 'cand', g1UserPrompt: 'G1', g2UserPrompt: 'G2' };
    expect(reusablePair(stored, pair.key, want)).toEqual(pair);
    expect(reusablePair(stored, pair.key, { ...want, g2UserPrompt: 'G2 with another baseline' })).toBeUndefined();
    expect(reusablePair(stored, pair.key, { ...want, judgeModel: 'other-judge' })).toBeUndefined();
    // A record of another kind under the key is never taken for a pair.
    expect(reusablePair(stored, judgment.key, want)).toBeUndefined();
  });
});
