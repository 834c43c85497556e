/**
 * Japanese MT-Bench golden (Stability-AI jp-stable, first turn, 7 models, 2023-09 GPT-4 judgments).
 * Those judgments predate the current data: the judge prompt then lacked the answer-language
 * sentence and some questions/references were worded differently. So the replay rebuilds the
 * 2023-09 prompt (current SAI prompt minus that sentence, gpt-4-raw references) and the judge fake
 * answers byte-identical prompts from the record; for questions reworded since, it checks the
 * prompt's structure and the embedded answer instead (counted separately).
 */
import { skipWithoutShared } from '../helpers/shared.js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBenchmark } from '../../src/benchdata/index.js';
import {
  aggregateSingle,
  parseSingleScore,
  runEvaluation,
  type Benchmark,
  type JudgePrompt,
} from '../../src/eval/index.js';
import { createOpenAIChatClient } from '../../src/llm/openai-chat.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';
import { hasShared, memoryStore, readJsonl, sharedPath, SKIP_REASON } from './support.js';

const GOLDEN = 'mt-bench-ja/golden/stability-ai-jp-stable';
const present = hasShared(GOLDEN) && hasShared('mt-bench-ja/stability-ai-jp-stable/judge_ja_prompts.jsonl');

interface Row {
  question_id: string;
  model: string;
  judge: [string, string];
  user_prompt: string;
  judgment: string;
  score: number;
  turn: number;
}

describe.skipIf(skipWithoutShared(present, 'Japanese MT-Bench golden data'))(
  `Japanese MT-Bench golden replay (${present ? 'data present' : SKIP_REASON})`,
  () => {
    let rows: Row[];
    let expected: {
      fastchat_show_result: Record<string, { first_turn: number; n_first: number }>;
      fastchat_show_result_after_dedup_last_wins: Record<string, { first_turn: number; n_first: number }>;
    };
    let bench: Benchmark;
    let candidate: FakeOpenAI;
    let judge: FakeOpenAI;

    beforeAll(async () => {
      rows = readJsonl(sharedPath(GOLDEN, 'model_judgment/gpt-4_single.jsonl')) as unknown as Row[];
      expected = (
        JSON.parse(readFileSync(sharedPath('mt-bench-ja/golden/expected_aggregates.json'), 'utf8')) as {
          results: Array<typeof expected>;
        }
      ).results[0]!;
      const loaded = await loadBenchmark('japanese-mt-bench', {
        dataDir: sharedPath('mt-bench-ja'),
        cacheDir: '/nonexistent-cache-not-used',
      });
      const prompts: Record<string, JudgePrompt> = {};
      for (const p of readJsonl(
        sharedPath('mt-bench-ja/stability-ai-jp-stable/judge_ja_prompts.jsonl'),
      ) as unknown as JudgePrompt[]) {
        // 2023-09 wording: drop the one sentence about the answer's language (added later).
        prompts[p.name] = {
          ...p,
          prompt_template: p.prompt_template
            .split('。')
            .filter((s) => !s.includes('言語'))
            .join('。'),
        };
      }
      const refs = new Map(
        readJsonl(sharedPath('mt-bench-ja/stability-ai-jp-stable/reference_answer/gpt-4-raw.jsonl')).map((r) => [
          String(r.question_id),
          (r.choices as Array<{ turns: string[] }>)[0]!.turns,
        ]),
      );
      bench = {
        ...loaded,
        judgePrompts: prompts,
        maxTurns: 1,
        questions: loaded.questions.map((q) => ({ ...q, reference: refs.get(String(q.questionId)) })),
      };
      candidate = await startFakeOpenAI();
      judge = await startFakeOpenAI();
    });
    afterAll(async () => {
      await candidate?.close();
      await judge?.close();
    });

    it('the score regexes reproduce every stored score, and show_result means match with and without de-duplication', () => {
      for (const r of rows) expect(parseSingleScore(r.judgment)).toBe(r.score);
      const cat = new Map(bench.questions.map((q) => [String(q.questionId), q.category]));
      for (const [model, want] of Object.entries(expected.fastchat_show_result)) {
        const mine = rows
          .filter((r) => r.model === model)
          .map((r) => ({ model, questionId: r.question_id, turn: r.turn, score: r.score, judgeModel: r.judge[0] }));
        const raw = aggregateSingle(mine, (id) => cat.get(String(id)), { dedupe: false });
        expect([raw.turn1, raw.n.turn1]).toEqual([want.first_turn, want.n_first]);
        const dedup = aggregateSingle(mine, (id) => cat.get(String(id)));
        const after = expected.fastchat_show_result_after_dedup_last_wins[model]!;
        expect([dedup.turn1, dedup.n.turn1, dedup.duplicates]).toEqual([
          after.first_turn,
          after.n_first,
          want.n_first - after.n_first,
        ]);
      }
    });

    it("the engine reproduces every model's first-turn score (last judgment wins) from the recorded answers", async () => {
      const byText = new Map(bench.questions.map((q) => [q.turns[0]!, String(q.questionId)]));
      let exact = 0;
      let structural = 0;
      for (const [model, want] of Object.entries(expected.fastchat_show_result_after_dedup_last_wins)) {
        const answers = new Map(
          readJsonl(sharedPath(GOLDEN, 'model_answer', `${model}.jsonl`)).map((r) => [
            String(r.question_id),
            (r.choices as Array<{ turns: string[] }>)[0]!.turns[0]!,
          ]),
        );
        const mine = rows.filter((r) => r.model === model);
        const byPrompt = new Map(mine.map((r) => [r.user_prompt, r]));
        const lastByQ = new Map(mine.map((r) => [r.question_id, r]));
        candidate.setRespond((body) => answers.get(byText.get(body.messages[0]!.content)!)!);
        judge.setRespond((body) => {
          const prompt = body.messages[1]!.content;
          const hit = byPrompt.get(prompt);
          if (hit) {
            exact += 1;
            return lastByQ.get(hit.question_id)!.judgment;
          }
          const qid = [...byText.entries()].find(([text]) => prompt.includes(`\n${text}\n`))?.[1];
          const rec = qid === undefined ? undefined : lastByQ.get(qid);
          const prefix = bench.judgePrompts[rec?.judge[1] ?? 'single-v1']!.prompt_template.split('{')[0]!;
          if (
            !rec ||
            !prompt.startsWith(prefix) ||
            !prompt.endsWith(`\n${answers.get(qid!)}\n[アシスタントの回答の終了]`)
          )
            throw new Error(`unexpected judge prompt: ${prompt.slice(0, 200)}`);
          structural += 1;
          return rec.judgment;
        });
        const result = await runEvaluation({
          benchmark: bench,
          candidate: {
            client: createOpenAIChatClient({ baseURL: candidate.url, apiKey: 'x', role: 'candidate' }),
            model,
            concurrency: 8,
          },
          judge: {
            client: createOpenAIChatClient({ baseURL: judge.url, apiKey: 'x', role: 'judge' }),
            model: 'gpt-4',
            concurrency: 8,
          },
          store: memoryStore(),
          retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
        });
        expect(result.summary.scores.turn1).toBe(want.first_turn);
        expect(result.summary.scores.turn2).toBeNull();
        expect(result.summary.counts.judgeCalls).toBe(80);
      }
      expect(exact + structural).toBe(560);
      // Most prompts are rebuilt byte for byte; the rest belong to questions reworded since 2023-09.
      expect(exact).toBe(180);
      console.info(
        `Japanese golden: ${exact} judge prompts byte-identical to the record, ${structural} matched structurally (question reworded since)`,
      );
    });
  },
);
