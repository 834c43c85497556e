/** Benchmark loading: local layouts, pinned downloads with sha256 + cache, and validation messages. */
import { skipWithoutShared } from '../helpers/shared.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCHMARK_SOURCES, loadBenchmark } from '../../src/benchdata/index.js';
import { hasShared, sharedPath, SKIP_REASON } from './support.js';
import { tempDir } from '../helpers/tmp.js';

const present =
  hasShared('mt-bench/question.jsonl') && hasShared('mt-bench-ja/stability-ai-jp-stable/question_full.jsonl');
const tmp = () => tempDir('benchdata');

/** Serves the pinned URLs from the ../shared copies, counting downloads. */
function sharedFetch(map: Record<string, string>, tamper = false) {
  const hits: string[] = [];
  const f = (async (input: string | URL | Request) => {
    const url = String(input);
    hits.push(url);
    const file = map[url];
    if (!file) return new Response('not found', { status: 404 });
    const bytes = readFileSync(file);
    return new Response(tamper ? Buffer.concat([bytes, Buffer.from(' ')]) : bytes, { status: 200 });
  }) as typeof fetch;
  return { f, hits };
}

describe.skipIf(skipWithoutShared(present, 'MT-Bench and Japanese MT-Bench question files'))(
  `loadBenchmark with real data (${present ? 'data present' : SKIP_REASON})`,
  () => {
    const en = BENCHMARK_SOURCES['mt-bench'];
    const urls = {
      [en.questions.url]: sharedPath('mt-bench/question.jsonl'),
      [en.judgePrompts.url]: sharedPath('mt-bench/judge_prompts.jsonl'),
      [en.references['gpt-4'].url]: sharedPath('mt-bench/reference_answer/gpt-4.jsonl'),
    };

    it('loads FastChat mt-bench from a local directory and records the pinned provenance', async () => {
      const b = await loadBenchmark('mt-bench', { dataDir: sharedPath('mt-bench'), cacheDir: tmp() });
      expect(b.questions).toHaveLength(80);
      expect(b.questions.filter((q) => q.reference)).toHaveLength(30);
      expect(Object.keys(b.judgePrompts).sort()).toHaveLength(8);
      expect(b.referenceSet).toMatch(/^gpt-4: lm-sys\/FastChat@b494d0c6/);
      expect(b.dataChecksums['question.jsonl']).toBe(en.questions.sha256);
    });

    it('loads Japanese MT-Bench (SAI questions, Apache-2.0 Japanese-aware prompts, chosen reference set)', async () => {
      const b = await loadBenchmark('japanese-mt-bench', { dataDir: sharedPath('mt-bench-ja'), cacheDir: tmp() });
      expect(b.questions.map((q) => q.questionId)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
      expect(b.referenceSet).toMatch(/^base-gpt4o-with-human-annotation: Stability-AI/);
      expect(b.promptSet).toMatch(/swallow-evaluation/);
      const n4 = await loadBenchmark('japanese-mt-bench', {
        dataDir: sharedPath('mt-bench-ja'),
        cacheDir: tmp(),
        reference: 'gpt-4o-2024-08-06',
      });
      expect(n4.referenceSet).toMatch(/^gpt-4o-2024-08-06: swallow/);
    });

    it('downloads pinned files once, verifies sha256, and serves later loads from the cache', async () => {
      const cacheDir = tmp();
      const { f, hits } = sharedFetch(urls);
      const b = await loadBenchmark('mt-bench', { cacheDir, fetch: f });
      expect(b.questions).toHaveLength(80);
      expect(hits).toHaveLength(3);
      await loadBenchmark('mt-bench', { cacheDir, fetch: f });
      expect(hits).toHaveLength(3);
    });

    it('refuses a download whose checksum does not match', async () => {
      const { f } = sharedFetch(urls, true);
      await expect(loadBenchmark('mt-bench', { cacheDir: tmp(), fetch: f })).rejects.toThrow(
        /checksum mismatch for question.jsonl .* expected sha256 119565ad/,
      );
    });
  },
);

describe('loadBenchmark validation', () => {
  const CATS = ['writing', 'roleplay', 'reasoning', 'math', 'coding', 'extraction', 'stem', 'humanities'];
  const NAMES = [
    'single-v1',
    'single-math-v1',
    'single-v1-multi-turn',
    'single-math-v1-multi-turn',
    'pair-v2',
    'pair-math-v1',
    'pair-v2-multi-turn',
    'pair-math-v1-multi-turn',
  ];
  function write(
    over: {
      questions?: (lines: string[]) => string[];
      prompts?: (lines: string[]) => string[];
      refs?: (lines: string[]) => string[];
    } = {},
  ) {
    const dir = tmp();
    const q: string[] = [];
    const r: string[] = [];
    CATS.forEach((category, c) => {
      for (let i = 0; i < 10; i++) {
        const id = 81 + c * 10 + i;
        q.push(JSON.stringify({ question_id: id, category, turns: [`t1 ${id}`, `t2 ${id}`] }));
        if (['math', 'reasoning', 'coding'].includes(category))
          r.push(JSON.stringify({ question_id: id, choices: [{ index: 0, turns: ['r1', 'r2'] }] }));
      }
    });
    const p = NAMES.map((name) =>
      JSON.stringify({
        name,
        type: name.startsWith('pair') ? 'pairwise' : 'single',
        system_prompt: 's',
        prompt_template: '{question}',
        output_format: '[[rating]]',
      }),
    );
    mkdirSync(join(dir, 'reference_answer'));
    writeFileSync(join(dir, 'question.jsonl'), (over.questions ?? ((x) => x))(q).join('\n'));
    writeFileSync(join(dir, 'judge_prompts.jsonl'), (over.prompts ?? ((x) => x))(p).join('\n'));
    writeFileSync(join(dir, 'reference_answer/gpt-4.jsonl'), (over.refs ?? ((x) => x))(r).join('\n'));
    return dir;
  }
  const load = (dir: string) =>
    loadBenchmark('mt-bench', {
      dataDir: dir,
      cacheDir: tmp(),
      fetch: (async () => new Response('', { status: 500 })) as typeof fetch,
    });

  it('accepts a well-formed local directory and marks it as not the pinned upstream data', async () => {
    const b = await load(write());
    expect(b.referenceSet).toContain('not the pinned upstream file');
  });
  it.each([
    [
      'bad JSON',
      { questions: (l: string[]) => [...l.slice(0, 4), '{oops', ...l.slice(5)] },
      /question\.jsonl:5: invalid JSON/,
    ],
    [
      'a one-turn question',
      {
        questions: (l: string[]) => [
          l[0]!,
          JSON.stringify({ question_id: 82, category: 'writing', turns: ['x'] }),
          ...l.slice(2),
        ],
      },
      /question\.jsonl:2: question 82 has 1 turn/,
    ],
    [
      'a missing field',
      {
        questions: (l: string[]) => [
          ...l.slice(0, 2),
          JSON.stringify({ question_id: 83, turns: ['a', 'b'] }),
          ...l.slice(3),
        ],
      },
      /question\.jsonl:3: category/,
    ],
    ['79 questions', { questions: (l: string[]) => l.slice(1) }, /79 questions, expected 80/],
    [
      'a duplicate id',
      { questions: (l: string[]) => [l[0]!, l[0]!, ...l.slice(2)] },
      /question\.jsonl:2: duplicate question_id 81/,
    ],
    [
      'a missing prompt',
      { prompts: (l: string[]) => l.slice(1) },
      /judge_prompts\.jsonl: missing judge prompt\(s\) single-v1/,
    ],
    [
      'a missing reference',
      { refs: (l: string[]) => l.slice(1) },
      /gpt-4\.jsonl: no reference answer for question 101 \(reasoning\)/,
    ],
  ])('names the file and line for %s', async (_label, over, message) => {
    await expect(load(write(over))).rejects.toThrow(message);
  });
});
