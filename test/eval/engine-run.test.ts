/** Engine behaviour on a synthetic benchmark: call counts, caching, pipelining, parameters, modes. */
import { describe, expect, it } from 'vitest';
import { fastChatFiles, runEvaluation, type RunEvaluationOptions } from '../../src/eval/index.js';
import type { ChatRequest } from '../../src/eval/ports.js';
import type { AnswerRecord } from '../../src/eval/types.js';
import { memoryCache, memoryStore, scriptedClient } from './support.js';
import { qOf, syntheticBenchmark } from './synthetic.js';

const turnOf = (req: ChatRequest) => req.messages.filter((m) => m.role === 'user').length;
const answerFor = (req: ChatRequest) => `A${qOf(req.messages.at(-1)!.content)}T${turnOf(req)} $& {}`;
const judgeScore = (req: ChatRequest) => `Rating: [[${(qOf(req.messages[1]!.content) % 10) + 1}]]`;

function base(over: Partial<RunEvaluationOptions> = {}): RunEvaluationOptions {
  return {
    benchmark: syntheticBenchmark(),
    candidate: { client: scriptedClient(answerFor).client, model: 'cand', concurrency: 4 },
    judge: { client: scriptedClient(judgeScore).client, model: 'judge', concurrency: 4 },
    ...over,
  };
}

describe('runEvaluation', () => {
  it('makes exactly 160 judge calls on a clean run and none when rerun over the same store/cache', async () => {
    const cand = scriptedClient(answerFor);
    const judge = scriptedClient(judgeScore);
    const store = memoryStore();
    const cache = memoryCache();
    const opts = base({
      candidate: { client: cand.client, model: 'cand', concurrency: 4 },
      judge: { client: judge.client, model: 'judge', concurrency: 4 },
      store,
      cache,
    });
    const first = await runEvaluation(opts);
    expect(first.summary.counts).toMatchObject({
      judgeCalls: 160,
      candidateCalls: 160,
      judgments: 160,
      answers: 160,
      cacheHits: 0,
      resumed: 0,
    });
    expect(store.records).toHaveLength(320);
    expect(first.summary.scores.average).toBe(5.5);
    const second = await runEvaluation(opts);
    expect(second.summary.counts).toMatchObject({
      judgeCalls: 0,
      candidateCalls: 0,
      resumed: 160,
      answersResumed: 160,
    });
    expect(second.summary.scores).toEqual(first.summary.scores);
    expect(judge.calls).toHaveLength(160);
    expect(cand.calls).toHaveLength(160);
  });

  it('sends FastChat parameters: per-category temperature, greedy below 1e-4, 1024 tokens, own turn-1 answer and the system prompt in turn 2', async () => {
    const cand = scriptedClient(answerFor);
    const judge = scriptedClient(judgeScore);
    const bench = {
      ...syntheticBenchmark(1),
      temperatures: { writing: 0.7, roleplay: 0.00001, reasoning: 0, math: 0, coding: 0, extraction: 0, stem: 0.1 },
    };
    const r = await runEvaluation(
      base({
        benchmark: bench,
        candidate: { client: cand.client, model: 'cand', concurrency: 2, systemPrompt: 'Be brief.' },
        judge: { client: judge.client, model: 'judge', concurrency: 2 },
      }),
    );
    const temps = Object.fromEntries(cand.calls.map((c) => [qOf(c.req.messages[1]!.content), c.req.temperature]));
    expect(temps).toEqual({ 1: 0.7, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0.1, 8: 0.7 }); // humanities missing from table -> 0.7
    const t2 = cand.calls.find((c) => turnOf(c.req) === 2 && qOf(c.req.messages[1]!.content) === 1)!.req;
    expect(t2).toEqual({
      model: 'cand',
      temperature: 0.7,
      max_tokens: 1024,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Q1T1' },
        { role: 'assistant', content: 'A1T1 $& {}' },
        { role: 'user', content: 'Q1T2' },
      ],
    });
    const answer = r.records.find((x): x is AnswerRecord => x.kind === 'answer' && x.questionId === 1 && x.turn === 2)!;
    expect(answer.params).toEqual({ model: 'cand', temperature: 0.7, max_tokens: 1024 });
    // judge: system + user, temperature 0, 2048 tokens, right prompt per category/turn, `$&` kept literally
    const j = judge.calls.map((c) => c.req);
    expect(j.every((x) => x.temperature === 0 && x.max_tokens === 2048 && x.messages.length === 2)).toBe(true);
    expect(
      j.find(
        (x) => x.messages[0]!.content === 'sys:single-math-v1-multi-turn' && x.messages[1]!.content.includes('Q4T'),
      )!.messages[1]!.content,
    ).toBe('single-math-v1-multi-turn|Q4T1|A4T1 $& {}|Q4T2|A4T2 $& {}|ref:R4T1/R4T2');
    expect(
      j.find((x) => x.messages[0]!.content === 'sys:single-v1' && x.messages[1]!.content.includes('Q1T'))!.messages[1]!
        .content,
    ).toBe('single-v1|Q1T1|A1T1 $& {}');
    expect(r.summary.generation).toMatchObject({ system_prompt: 'Be brief.', max_tokens: 1024 });
  });

  it('judges turn 1 while turn 2 is still generating', async () => {
    const judgedTurn1 = new Map<number, () => void>();
    const seen = new Map<number, Promise<void>>();
    const waitJudge = (q: number) => {
      if (!seen.has(q)) seen.set(q, new Promise<void>((r) => judgedTurn1.set(q, r)));
      return seen.get(q)!;
    };
    const cand = scriptedClient(async (req) => {
      // Turn 2 of a question is only answered once its turn-1 judgment has been requested: a
      // phase-by-phase engine would deadlock here.
      if (turnOf(req) === 2) await waitJudge(qOf(req.messages[0]!.content));
      return answerFor(req);
    });
    const judge = scriptedClient((req) => {
      if (req.messages[0]!.content.endsWith('single-v1') || req.messages[0]!.content.endsWith('single-math-v1')) {
        void waitJudge(qOf(req.messages[1]!.content));
        judgedTurn1.get(qOf(req.messages[1]!.content))!();
      }
      return judgeScore(req);
    });
    const r = await runEvaluation(
      base({
        benchmark: syntheticBenchmark(1),
        candidate: { client: cand.client, model: 'c', concurrency: 8 },
        judge: { client: judge.client, model: 'j', concurrency: 8 },
      }),
    );
    expect(r.summary.counts.judgments).toBe(16);
  });

  it('keeps each endpoint under its concurrency cap', async () => {
    const live = { candidate: 0, judge: 0, maxCandidate: 0, maxJudge: 0 };
    const slow = (role: 'candidate' | 'judge', f: (r: ChatRequest) => string) =>
      scriptedClient(async (req) => {
        live[role] += 1;
        if (role === 'candidate') live.maxCandidate = Math.max(live.maxCandidate, live.candidate);
        else live.maxJudge = Math.max(live.maxJudge, live.judge);
        await new Promise((r) => setImmediate(r));
        live[role] -= 1;
        return f(req);
      }).client;
    await runEvaluation(
      base({
        candidate: { client: slow('candidate', answerFor), model: 'c', concurrency: 3 },
        judge: { client: slow('judge', judgeScore), model: 'j', concurrency: 5 },
      }),
    );
    expect(live.maxCandidate).toBe(3);
    expect(live.maxJudge).toBeLessThanOrEqual(5);
    expect(live.maxJudge).toBeGreaterThan(1);
  });

  it('re-asks an unparseable judgment (bypassing the cache) and counts -1 when it stays unparseable', async () => {
    let n = 0;
    const judge = scriptedClient((req) => {
      const q = qOf(req.messages[1]!.content);
      if (q === 1) return 'no rating here';
      if (q === 2 && n++ === 0) return 'I forgot the format';
      return judgeScore(req);
    });
    const cache = memoryCache();
    const r = await runEvaluation(
      base({
        benchmark: syntheticBenchmark(1),
        judge: { client: judge.client, model: 'j', concurrency: 1, parseRetries: 2 },
        cache,
      }),
    );
    expect(r.summary.counts).toMatchObject({ invalid: 2, parseRetries: 5, judgeCalls: 21 }); // q1: 2 turns x 2 re-asks; q2: 1
    expect(r.summary.scores.turn1).toBeCloseTo((3 + 4 + 5 + 6 + 7 + 8 + 9) / 7, 12);
  });

  it('structured judge: sends a JSON schema and parses the JSON reply', async () => {
    const judge = scriptedClient((req) =>
      JSON.stringify({ explanation: 'fine', rating: qOf(req.messages[1]!.content) }),
    );
    const r = await runEvaluation(
      base({
        benchmark: syntheticBenchmark(1),
        judge: { client: judge.client, model: 'j', concurrency: 2, structured: true },
      }),
    );
    expect(judge.calls[0]!.req.response_format?.type).toBe('json_schema');
    expect(r.summary.scores.average).toBe(4.5);
  });

  it('pairwise-baseline: both position orders, FastChat tie rules, win rates, 2 calls per match', async () => {
    const baseline: AnswerRecord[] = syntheticBenchmark(1).questions.flatMap((q) =>
      [1, 2].map((turn) => ({
        kind: 'answer' as const,
        key: `answer/${q.questionId}/${turn}`,
        questionId: q.questionId,
        turn,
        model: 'base',
        content: `BASE${q.questionId}`,
        params: { model: 'base', temperature: 0, max_tokens: 1 },
        usage: { promptTokens: 0, completionTokens: 0 },
        tstamp: 0,
      })),
    );
    // q1-4: candidate always wins; q5-6: position bias (A always wins) -> tie; q7-8: baseline wins
    const judge = scriptedClient((req) => {
      const p = req.messages[1]!.content;
      const q = qOf(p);
      const candIsA = /A:A\d/.test(p);
      if (q <= 4) return candIsA ? '[[A]]' : '[[B]]';
      if (q <= 6) return '[[A]]';
      return candIsA ? '[[B]]' : '[[A]]';
    });
    const r = await runEvaluation(
      base({
        benchmark: syntheticBenchmark(1),
        mode: 'pairwise-baseline',
        baseline: { model: 'base', answers: baseline },
        judge: { client: judge.client, model: 'j', concurrency: 4 },
      }),
    );
    expect(r.summary.counts.judgeCalls).toBe(32);
    expect(r.summary.pairwise).toEqual({
      baseline: 'base',
      win: 8,
      loss: 4,
      tie: 4,
      winRate: 0.5,
      winRateAdjusted: 0.625,
    });
    expect(judge.calls.some((c) => c.req.messages[0]!.content === 'sys:pair-math-v1-multi-turn')).toBe(true);
    const pairFile = fastChatFiles(r).find((f) => f.path === 'model_judgment/j_pair.jsonl')!;
    const first = JSON.parse(pairFile.content.split('\n')[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({
      question_id: 1,
      model_1: 'cand',
      model_2: 'base',
      g1_winner: 'model_1',
      g2_winner: 'model_1',
      judge: ['j', 'pair-v2'],
      turn: 1,
    });
  });

  it('sums tokens and prices the judge (the candidate is self-hosted); cost is null without a price', async () => {
    const r = await runEvaluation(
      base({
        benchmark: syntheticBenchmark(1),
        judge: {
          client: scriptedClient(judgeScore).client,
          model: 'judge',
          concurrency: 4,
          prices: { input: 10, output: 20 },
        },
      }),
    );
    expect(r.summary.tokens).toEqual({
      candidate: { promptTokens: 160, completionTokens: 80 },
      judge: { promptTokens: 160, completionTokens: 80 },
    });
    expect(r.summary.costUsd).toBeCloseTo((160 * 10 + 80 * 20) / 1e6, 12);
    expect((await runEvaluation(base({ benchmark: syntheticBenchmark(1) }))).summary.costUsd).toBeNull();
  });
});
