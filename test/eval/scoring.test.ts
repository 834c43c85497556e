import { describe, expect, it } from 'vitest';
import {
  gameWinner,
  matchOutcome,
  parseSingleScore,
  parseStructuredScore,
  parseVerdict,
  structuredResponseFormat,
} from '../../src/eval/index.js';

describe('single score extraction (spec 4.4)', () => {
  it.each([
    ['Rating: [[8]]', 8],
    ['Rating: [[8]] ... later [[3]]', 8], // first match wins
    ['[[8.5]]', 8.5],
    ['[[8.]]', 8], // literal_eval("8.") == 8.0
    ['[[0]]', -1], // outside MT-Bench's 1-10 scale: invalid, not averaged in
    ['[[100]]', -1],
    ['[[1000]]', -1],
    ['[[10]]', 10],
    ['[[1]]', 1],
    ['[[ 7 ]]', -1],
    ['[[7/10]]', -1],
    ['see [1] and then rating [6]', 1], // backup takes the first single-bracket number
    ['[6] but also [[9]]', 9], // backup only if the primary finds nothing
    ['$ERROR$', -1],
    ['', -1],
    ['[[08]]', -1], // Python literal_eval: leading-zero int is a SyntaxError
    ['[[00]]', -1], // a valid literal, but 0 is off the scale
    ['[[08.5]]', 8.5], // ...and so is a float with leading zero
    ['[[８]]', -1], // full-width digits are not ASCII [0-9]
    ['[[８]] then [5]', 5],
    ['評価：[[5]]', 5],
    ['[[-3]]', -1],
    ['[[1e3]]', -1],
    ['Rating: [[7]].', 7],
  ])('%j -> %d', (text, score) => {
    expect(parseSingleScore(text)).toBe(score);
  });
});

describe('pairwise verdicts and tie rules (spec 4.5, 5.2)', () => {
  it('tests [[A]] then [[B]] then [[C]]', () => {
    expect(parseVerdict('... [[B]] ... [[A]]')).toBe('A');
    expect(parseVerdict('[[B]]')).toBe('B');
    expect(parseVerdict('[[C]]')).toBe('tie');
    expect(parseVerdict('[A]')).toBe('error');
  });
  it('maps game 2 back through the position swap', () => {
    expect(gameWinner('A', 1)).toBe('model_1');
    expect(gameWinner('B', 1)).toBe('model_2');
    expect(gameWinner('A', 2)).toBe('model_2');
    expect(gameWinner('B', 2)).toBe('model_1');
    expect(gameWinner('tie', 2)).toBe('tie');
    expect(gameWinner('error', 1)).toBe('error');
  });
  it('wins only when both games agree; disagreement or a g1 tie is a tie; errors are excluded', () => {
    expect(matchOutcome('model_1', 'model_1')).toBe('win');
    expect(matchOutcome('model_2', 'model_2')).toBe('loss');
    expect(matchOutcome('model_1', 'model_2')).toBe('tie');
    expect(matchOutcome('tie', 'tie')).toBe('tie');
    expect(matchOutcome('tie', 'model_1')).toBe('tie');
    expect(matchOutcome('model_1', 'tie')).toBe('tie');
    expect(matchOutcome('error', 'model_1')).toBe('excluded');
    expect(matchOutcome('model_1', 'error')).toBe('excluded');
  });
});

describe('structured judge', () => {
  it('asks for a strict JSON schema and parses it with zod, falling back to the regexes', () => {
    const rf = structuredResponseFormat();
    expect(rf.type).toBe('json_schema');
    expect(rf.json_schema.schema).toMatchObject({
      type: 'object',
      required: ['explanation', 'rating'],
      additionalProperties: false,
    });
    expect(parseStructuredScore('{"explanation":"ok","rating":7}')).toBe(7);
    expect(parseStructuredScore('{"explanation":"ok","rating":11}')).toBe(-1);
    expect(parseStructuredScore('not json, Rating: [[4]]')).toBe(4);
  });
});
