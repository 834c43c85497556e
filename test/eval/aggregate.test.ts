import { describe, expect, it } from 'vitest';
import {
  aggregatePairwise,
  aggregateSingle,
  bootstrapInterval,
  categoryIntervals,
  fillTemplate,
  type ScoreRow,
} from '../../src/eval/index.js';

const cat = (id: ScoreRow['questionId']) => (Number(id) <= 2 ? 'writing' : 'math');
const row = (questionId: number, turn: number, score: number): ScoreRow => ({
  questionId,
  turn,
  score,
  model: 'm',
  judgeModel: 'j',
});

describe('single aggregation (spec 5.1)', () => {
  it('pools the average over valid rows (not the mean of turn means) and drops -1 with a count', () => {
    const s = aggregateSingle([row(1, 1, 8), row(2, 1, 6), row(3, 1, -1), row(1, 2, 4)], cat);
    expect(s.turn1).toBe(7);
    expect(s.turn2).toBe(4);
    expect(s.average).toBe(6); // (8+6+4)/3, while the mean of turn means would be 5.5
    expect(s.invalid).toBe(1);
    expect(s.n).toEqual({ turn1: 2, turn2: 1, all: 3 });
    expect(s.categories).toEqual({ writing: 6 });
  });

  it('de-duplicates last-wins per (model, question, turn, judge) by default; dedupe:false is show_result exactly', () => {
    const rows = [row(1, 1, 2), row(1, 1, 9), row(2, 1, 5)];
    expect(aggregateSingle(rows, cat)).toMatchObject({ turn1: 7, duplicates: 1 });
    expect(aggregateSingle(rows, cat, { dedupe: false })).toMatchObject({ turn1: 16 / 3, duplicates: 0 });
    // a duplicate whose last row is -1 removes the earlier valid score, then counts as invalid
    expect(aggregateSingle([row(1, 1, 9), row(1, 1, -1)], cat)).toMatchObject({
      turn1: null,
      invalid: 1,
      duplicates: 1,
    });
    // same question and turn under a different judge is not a duplicate
    expect(aggregateSingle([row(1, 1, 2), { ...row(1, 1, 4), judgeModel: 'other' }], cat).duplicates).toBe(0);
  });

  it('returns nulls when nothing is valid', () => {
    expect(aggregateSingle([row(1, 1, -1)], cat)).toMatchObject({
      turn1: null,
      turn2: null,
      average: null,
      categories: {},
    });
  });
});

describe('bootstrap interval', () => {
  const rows = Array.from({ length: 40 }, (_, i) => row(i + 1, 1 + (i % 2), (i * 7) % 10));
  it('is reproducible for a seed and changes with the seed', () => {
    const a = bootstrapInterval(rows, { seed: 42, samples: 500 });
    expect(bootstrapInterval(rows, { seed: 42, samples: 500 })).toEqual(a);
    expect(bootstrapInterval(rows, { seed: 43, samples: 500 })).not.toEqual(a);
    const mean = rows.reduce((s, r) => s + r.score, 0) / rows.length;
    expect(a![0]).toBeLessThan(mean);
    expect(a![1]).toBeGreaterThan(mean);
    expect(bootstrapInterval([])).toBeNull();
  });
  it('gives one interval per category', () => {
    expect(Object.keys(categoryIntervals(rows, cat, { seed: 1 }))).toEqual(['math', 'writing']);
  });
});

describe('pairwise win rates (spec 5.2)', () => {
  it('counts wins, losses, ties and excludes errors', () => {
    const t = aggregatePairwise([
      { g1Winner: 'model_1', g2Winner: 'model_1' },
      { g1Winner: 'model_2', g2Winner: 'model_2' },
      { g1Winner: 'model_1', g2Winner: 'model_2' },
      { g1Winner: 'tie', g2Winner: 'model_1' },
      { g1Winner: 'error', g2Winner: 'model_1' },
    ]);
    expect(t).toMatchObject({
      win: 1,
      loss: 1,
      tie: 2,
      excluded: 1,
      winRate: 0.25,
      lossRate: 0.25,
      winRateAdjusted: 0.5,
    });
  });
});

describe('template filling', () => {
  it('inserts answers literally even with $&, $1, $$ and braces', () => {
    const answer = 'x.replace(/a/g, "$&$&") costs $$1 and {question} and {}';
    expect(fillTemplate('[Q]{question}[A]{answer}[E]', { question: 'q?', answer })).toBe(`[Q]q?[A]${answer}[E]`);
    expect(() => fillTemplate('{nope}', {})).toThrow(/nope/);
  });
});
