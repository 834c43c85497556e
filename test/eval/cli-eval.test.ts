/** `evalhook eval` end to end against fake endpoints and a synthetic FastChat-layout data dir. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalCommand, type EvalCommandIO } from '../../src/cli/eval.js';
import { EvalSummary } from '../../src/eval/types.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';
import { writeSyntheticBench } from '../helpers/synthetic-bench.js';
import { tempDir } from '../helpers/tmp.js';

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const value: EvalCommandIO = {
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s), isTTY: false },
    env,
    signal: new AbortController().signal,
  };
  return { value, out: () => out.join(''), err: () => err.join('') };
}

describe('evalhook eval', () => {
  let cand: FakeOpenAI;
  let judge: FakeOpenAI;
  let dataDir: string;
  beforeAll(async () => {
    cand = await startFakeOpenAI({ apiKey: 'cand-key', respond: (b) => `answer to ${b.messages.at(-1)!.content}` });
    judge = await startFakeOpenAI({ apiKey: 'judge-key', respond: () => 'Fine. Rating: [[7]]' });
    dataDir = writeSyntheticBench(tempDir('bench'));
  });
  afterAll(async () => {
    await cand?.close();
    await judge?.close();
  });

  const args = (out: string) => [
    '--model-base-url',
    cand.url,
    '--model',
    'org/my-model',
    '--judge-base-url',
    judge.url,
    '--judge-model',
    'gpt-4-0613',
    '--data-dir',
    dataDir,
    '--out',
    out,
    '--concurrency',
    '4',
  ];

  it('runs, writes FastChat files, prints the summary as the last stdout line, and resumes on rerun', async () => {
    const outDir = tempDir('cli');
    const env = { INFERENCE_API_KEY: 'cand-key', OPENAI_API_KEY: 'judge-key' };
    const a = io(env);
    expect(await evalCommand(args(outDir), a.value)).toBe(0);
    const summary = EvalSummary.parse(JSON.parse(a.out().trim().split('\n').at(-1)!));
    expect(summary).toMatchObject({
      model: 'org/my-model',
      judgeModel: 'gpt-4-0613',
      scores: { average: 7 },
      counts: { judgeCalls: 160 },
    });
    expect(existsSync(join(outDir, 'model_answer/org--my-model.jsonl'))).toBe(true);
    const rows = readFileSync(join(outDir, 'model_judgment/gpt-4-0613_single.jsonl'), 'utf8').trim().split('\n');
    expect(rows).toHaveLength(160);
    expect(JSON.parse(rows[0]!)).toMatchObject({
      model: 'org--my-model',
      judge: ['gpt-4-0613', 'single-v1'],
      score: 7,
      turn: 1,
    });
    expect(cand.requests.every((r) => r.headers.authorization === 'Bearer cand-key')).toBe(true);

    const b = io(env);
    expect(await evalCommand(args(outDir), b.value)).toBe(0);
    expect(JSON.parse(b.out().trim().split('\n').at(-1)!)).toMatchObject({ counts: { judgeCalls: 0, resumed: 160 } });
  });

  /** The flags `evalhook eval` cannot run without, all valid, so the flag after them is what is wrong. */
  const REQUIRED = [
    '--model-base-url',
    'http://m',
    '--model',
    'm',
    '--judge-base-url',
    'http://j',
    '--judge-model',
    'j',
  ];
  it.each([
    [['--model', 'x'], /--model-base-url is required/],
    [['--bogus'], /Unknown option '--bogus'/],
    [
      ['--model-base-url', 'u', '--model', 'm', '--judge-base-url', 'http://j', '--judge-model', 'j'],
      /--model-base-url is not a URL/,
    ],
    [[...REQUIRED, '--concurrency', '0'], /--concurrency must be a positive integer/],
    [[...REQUIRED, '--bench', 'arena'], /--bench must be/],
  ])('exits 2 with a clear message for bad flags %#', async (argv, message) => {
    const c = io();
    expect(await evalCommand(argv, c.value)).toBe(2);
    expect(c.err()).toMatch(message);
    expect(c.out()).toBe('');
  });

  it('exits 1 naming the cause when the judge rejects the key', async () => {
    const c = io({ INFERENCE_API_KEY: 'cand-key', JUDGE_API_KEY: 'wrong' });
    expect(await evalCommand(args(tempDir('cli')), c.value)).toBe(1);
    expect(c.err()).toMatch(/judge endpoint returned HTTP 401: Incorrect API key/);
  });
});
