/** The continuous-batching latency model behind the fake server and bench:eval (virtual time). */
import { describe, expect, it } from 'vitest';
import { fastChatMs, optimumMs } from '../../bench/schedules.js';
import { BatchingModel, H100_8B, outputTokens, type BatchingParams } from '../fakes/batching.js';

const P: BatchingParams = { ttftMs: 10, perTokenMs: 1, saturation: 4, maxBatch: 8 };

/** Finish time of every request submitted at 0 with the given token counts. */
function finishTimes(p: BatchingParams, tokens: number[]): number[] {
  const m = new BatchingModel(p);
  tokens.forEach((n, id) => m.add(id, n, 0));
  const at: number[] = [];
  while (m.inFlight) {
    const t = m.nextEventAt()!;
    for (const id of m.advance(t)) at[id] = t;
  }
  return at;
}

describe('continuous-batching latency model', () => {
  it('a lone request takes TTFT + tokens x per-token time', () => {
    expect(finishTimes(P, [100])).toEqual([110]);
  });

  it('per-token time grows with the batch, so a batch is slower each but faster in total', () => {
    const four = finishTimes(P, [100, 100, 100, 100]);
    // 4 in the batch: 1 + 3/4 = 1.75 ms per token
    for (const t of four) expect(t).toBeCloseTo(10 + 175, 6);
    expect(Math.max(...four)).toBeLessThan(4 * 110); // far better than one after another
  });

  it('a short request leaves the batch early and the rest speed up', () => {
    const [short, long] = finishTimes(P, [10, 100]);
    expect(short).toBeCloseTo(10 + 10 * 1.25, 6);
    // the long one did 10 tokens at 1.25 ms, then 90 alone at 1 ms
    expect(long).toBeCloseTo(10 + 12.5 + 90, 6);
  });

  it('past the max batch requests queue until a slot frees', () => {
    const times = finishTimes(
      P,
      Array.from({ length: 9 }, () => 50),
    );
    const first8 = times.slice(0, 8);
    expect(new Set(first8.map((t) => t.toFixed(6))).size).toBe(1);
    expect(times[8]).toBeGreaterThan(first8[0]! + P.ttftMs); // the ninth started only after them
  });

  it('output lengths are stable per prompt and inside the range', () => {
    expect(outputTokens('Compose a travel blog post', 64, 900)).toBe(
      outputTokens('Compose a travel blog post', 64, 900),
    );
    for (const s of ['a', 'b', 'question 7', '日本語の質問']) {
      const n = outputTokens(s, 64, 900);
      expect(n).toBeGreaterThanOrEqual(64);
      expect(n).toBeLessThanOrEqual(900);
    }
  });

  it('the optimum schedule beats FastChat’s phase-by-phase schedule on the same model', () => {
    const questions = Array.from({ length: 20 }, (_, i) => [`q${i} turn 1`, `q${i} turn 2`]);
    const input = {
      questions,
      candidate: H100_8B,
      judge: { ttftMs: 500, perTokenMs: 12, saturation: 1e9, maxBatch: 1e9 },
      candidateTokens: (q: string) => outputTokens(q, 64, 900),
      judgeTokens: 250,
    };
    const optimum = optimumMs(input);
    const fastchat = fastChatMs(input, 16);
    expect(optimum).toBeGreaterThan(0);
    expect(optimum).toBeLessThan(fastchat);
    // never below one question's chain: turn 1, turn 2, then its judgment
    expect(optimum).toBeGreaterThanOrEqual(H100_8B.ttftMs * 2 + 500 + 250 * 12);
  });
});
