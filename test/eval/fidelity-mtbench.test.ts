/**
 * Replays real GPT-4 judgments of a real model (../shared/mt-bench/golden) through the whole engine
 * over HTTP: the judge fake only answers a user prompt that is byte-identical to one GPT-4 saw, so
 * prompt choice, template filling, reference answers, parsing and aggregation are all checked.
 */
import { skipWithoutShared } from '../helpers/shared.js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBenchmark } from '../../src/benchdata/index.js';
import { fastChatFiles, runEvaluation, type Benchmark } from '../../src/eval/index.js';
import { createOpenAIChatClient } from '../../src/llm/openai-chat.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';
import { hasShared, memoryCache, memoryStore, readJsonl, sharedPath, SKIP_REASON } from './support.js';

const GOLDEN = 'mt-bench/golden/dreaming-panda-mtbench';
const present = hasShared(GOLDEN) && hasShared('mt-bench/question.jsonl');
const MODEL = 'Meta-Llama-3-8B-Instruct-Griffin';
const TEMPS: Record<string, number> = {
  writing: 0.7,
  roleplay: 0.7,
  reasoning: 0,
  math: 0,
  coding: 0,
  extraction: 0,
  stem: 0.1,
  humanities: 0.1,
};

describe.skipIf(skipWithoutShared(present, 'MT-Bench golden data'))(
  `MT-Bench golden replay (${present ? 'data present' : SKIP_REASON})`,
  () => {
    let bench: Benchmark;
    let candidate: FakeOpenAI;
    let judge: FakeOpenAI;
    const goldenJudgments = new Map<string, { judgment: string; score: number; qid: number; turn: number }>();
    let expected: {
      results: Array<{ per_category_mean_of_rows_fastchat_style: Record<string, Record<string, number>> }>;
    };

    // Read in beforeAll, not in the describe body: a skipped describe's body still runs at collection.
    beforeAll(async () => {
      expected = JSON.parse(
        readFileSync(sharedPath('mt-bench/golden/expected_aggregates.json'), 'utf8'),
      ) as typeof expected;
      bench = await loadBenchmark('mt-bench', {
        dataDir: sharedPath('mt-bench'),
        cacheDir: '/nonexistent-cache-not-used',
      });
      const answers = new Map<string, string[]>();
      for (const row of readJsonl(sharedPath(GOLDEN, 'model_answer', `${MODEL}.jsonl`))) {
        const choices = row.choices as Array<{ turns: string[] }>;
        answers.set(String(row.question_id), choices[0]!.turns);
      }
      for (const row of readJsonl(sharedPath(GOLDEN, 'model_judgment', 'gpt-4_single.jsonl'))) {
        goldenJudgments.set(row.user_prompt as string, {
          judgment: row.judgment as string,
          score: row.score as number,
          qid: row.question_id as number,
          turn: row.turn as number,
        });
      }
      const byFirstTurn = new Map(bench.questions.map((q) => [q.turns[0]!, q]));
      candidate = await startFakeOpenAI({
        respond: (body) => {
          const users = body.messages.filter((m) => m.role === 'user');
          const q = byFirstTurn.get(users[0]!.content)!;
          const recorded = answers.get(String(q.questionId))!;
          // Turn 2 must carry the model's own turn-1 answer in the history.
          if (users.length === 2)
            expect(body.messages).toEqual([
              { role: 'user', content: q.turns[0] },
              { role: 'assistant', content: recorded[0] },
              { role: 'user', content: q.turns[1] },
            ]);
          return recorded[users.length - 1]!;
        },
      });
      judge = await startFakeOpenAI({ respond: (body) => goldenJudgments.get(body.messages[1]!.content)!.judgment });
      judge.failWhen((body) =>
        goldenJudgments.has(body.messages[1]?.content ?? '')
          ? undefined
          : {
              status: 400,
              body: {
                error: {
                  message: 'judge prompt differs from every prompt GPT-4 saw',
                  type: 'invalid_request_error',
                  param: null,
                  code: null,
                },
              },
            },
      );
    });
    afterAll(async () => {
      await candidate?.close();
      await judge?.close();
    });

    it('reproduces FastChat 3.1375 / 2.2625 / 2.7 exactly, with 160 real judge calls, then 0 on a rerun', async () => {
      const store = memoryStore();
      const cache = memoryCache();
      const opts = {
        benchmark: bench,
        candidate: {
          client: createOpenAIChatClient({ baseURL: candidate.url, apiKey: 'x', role: 'candidate' }),
          model: MODEL,
          concurrency: 8,
        },
        judge: {
          client: createOpenAIChatClient({ baseURL: judge.url, apiKey: 'x', role: 'judge' }),
          model: 'gpt-4',
          concurrency: 8,
        },
        store,
        cache,
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      };
      const result = await runEvaluation(opts);
      const s = result.summary;
      expect([s.scores.turn1, s.scores.turn2, s.scores.average]).toEqual([3.1375, 2.2625, 2.7]);
      expect(s.scores.categories).toEqual(expected.results[0]!.per_category_mean_of_rows_fastchat_style[MODEL]);
      expect(s.counts).toMatchObject({
        judgeCalls: 160,
        candidateCalls: 160,
        cacheHits: 0,
        resumed: 0,
        invalid: 0,
        judgments: 160,
        answers: 160,
      });
      expect(s.referenceSet).toContain('gpt-4');
      expect(s.scores.ci95.average![0]).toBeLessThan(2.7);
      expect(s.scores.ci95.average![1]).toBeGreaterThan(2.7);

      // Exact request parameters: judge greedy with 2048 tokens; candidate per-category temperature, 1024 tokens.
      expect(
        judge.requests.every((r) => r.body.temperature === 0 && r.body.max_tokens === 2048 && r.body.model === 'gpt-4'),
      ).toBe(true);
      const cat = new Map(bench.questions.map((q) => [q.turns[0]!, q.category]));
      for (const r of candidate.requests)
        expect(r.body).toMatchObject({ temperature: TEMPS[cat.get(r.body.messages[0]!.content)!], max_tokens: 1024 });

      // Every score equals the stored FastChat score, and the exported file carries them.
      const files = fastChatFiles(result);
      const single = files.find((f) => f.path === 'model_judgment/gpt-4_single.jsonl')!;
      const rows = single.content
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { user_prompt: string; score: number; judge: [string, string] });
      expect(rows).toHaveLength(160);
      for (const row of rows) expect(row.score).toBe(goldenJudgments.get(row.user_prompt)!.score);
      expect(files.map((f) => f.path)).toEqual([
        `model_answer/${MODEL}.jsonl`,
        'model_judgment/gpt-4_single.jsonl',
        'summary.json',
      ]);

      const again = await runEvaluation(opts);
      expect(again.summary.counts).toMatchObject({
        judgeCalls: 0,
        candidateCalls: 0,
        resumed: 160,
        answersResumed: 160,
      });
      expect(again.summary.scores.average).toBe(2.7);
      expect(judge.requests).toHaveLength(160);

      // Same answers, fresh store but warm cache: judging costs nothing either.
      const third = await runEvaluation({
        ...opts,
        store: memoryStore(store.records.filter((r) => r.kind === 'answer')),
      });
      expect(third.summary.counts).toMatchObject({ judgeCalls: 0, cacheHits: 160 });
      expect(third.summary.tokens.judge).toEqual({ promptTokens: 0, completionTokens: 0 });
    });
  },
);
