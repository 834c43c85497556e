/**
 * FastChat's API_ERROR_OUTPUT in the engine: a candidate call refused with 400 (a question over the
 * server's context) becomes the answer `$ERROR$`, is never shown to the judge, and counts as invalid
 * with the endpoint's message, in single and pairwise modes; any other refusal still stops the run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EndpointError } from '../../src/eval/errors.js';
import { runEvaluation, type RunEvaluationOptions } from '../../src/eval/index.js';
import type { ChatRequest } from '../../src/eval/ports.js';
import { createOpenAIChatClient } from '../../src/llm/openai-chat.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';
import { scriptedClient } from './support.js';
import { qOf, syntheticBenchmark } from './synthetic.js';

const fakes: FakeOpenAI[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

const overflow = {
  status: 400,
  body: {
    error: {
      message: "This model's maximum context length is 2048 tokens. However, you requested 2100 tokens.",
      type: 'BadRequestError',
      param: null,
      code: 400,
    },
  },
};

async function candidateOverflowingOn(text: string, status = 400): Promise<FakeOpenAI> {
  const fake = await startFakeOpenAI({ respond: (b) => `ans ${b.messages.at(-1)?.content ?? ''}` });
  fakes.push(fake);
  fake.failWhen((b) => (b.messages.at(-1)?.content === text ? { ...overflow, status } : undefined));
  return fake;
}

function opts(
  candidateUrl: string,
  judgeCalls: ChatRequest[],
  over: Partial<RunEvaluationOptions> = {},
): RunEvaluationOptions {
  const judge = scriptedClient((req) => {
    judgeCalls.push(req);
    return req.messages[1]!.content.startsWith('pair') ? '[[A]]' : '[[6]]';
  });
  return {
    benchmark: syntheticBenchmark(1),
    candidate: {
      client: createOpenAIChatClient({ baseURL: candidateUrl, apiKey: 'k', role: 'candidate' }),
      model: 'c',
      concurrency: 2,
    },
    judge: { client: judge.client, model: 'j', concurrency: 2 },
    retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
    ...over,
  };
}

describe('a 400 for one question (FastChat $ERROR$)', () => {
  it('single: records $ERROR$, judges nothing for it, counts it invalid with the reason, and finishes', async () => {
    const fake = await candidateOverflowingOn('Q3T1');
    const judged: ChatRequest[] = [];
    const r = await runEvaluation(opts(fake.url, judged));
    const answer = r.records.find((x) => x.key === 'answer/3/1');
    expect(answer).toMatchObject({ content: '$ERROR$', error: expect.stringContaining('maximum context length') });
    expect(r.records.find((x) => x.key === 'judgment/3/1')).toMatchObject({
      score: -1,
      judgment: '',
      invalidReason: expect.stringMatching(/^answer error: candidate endpoint returned HTTP 400/),
    });
    expect(judged).toHaveLength(15);
    expect(judged.some((j) => qOf(j.messages[1]!.content) === 3 && !j.messages[1]!.content.includes('Q3T2'))).toBe(
      false,
    );
    expect(r.summary.counts).toMatchObject({ judgments: 16, invalid: 1 });
    expect(r.summary.scores.average).toBe(6);
    expect(fake.requests.filter((q) => q.body.messages.at(-1)?.content === 'Q3T1')).toHaveLength(1); // not retried
  });

  it('pairwise: the refused turn is an error match, excluded like FastChat, with no judge calls', async () => {
    const fake = await candidateOverflowingOn('Q2T1');
    const judged: ChatRequest[] = [];
    const bench = syntheticBenchmark(1);
    const answers = bench.questions.flatMap((q) =>
      [1, 2].map((turn) => ({
        kind: 'answer' as const,
        key: `answer/${String(q.questionId)}/${turn}`,
        questionId: q.questionId,
        turn,
        model: 'base',
        content: `base ${String(q.questionId)}.${turn}`,
        params: { model: 'base', temperature: 0.7, max_tokens: 1024 },
        usage: { promptTokens: 0, completionTokens: 0 },
        tstamp: 0,
      })),
    );
    const r = await runEvaluation(
      opts(fake.url, judged, { mode: 'pairwise-baseline', baseline: { model: 'base', answers } }),
    );
    expect(r.records.find((x) => x.key === 'pairwise/2/1')).toMatchObject({
      g1Winner: 'error',
      g2Winner: 'error',
      g1Judgment: expect.stringContaining('answer error'),
    });
    expect(judged).toHaveLength(30); // 15 matches, two games each
    expect(r.summary.counts.invalid).toBe(1);
  });

  it('any other refusal (401) still stops the whole run', async () => {
    const fake = await candidateOverflowingOn('Q3T1', 401);
    const err = await runEvaluation(opts(fake.url, [])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EndpointError);
    expect(err).toMatchObject({ kind: 'unrecoverable', status: 401 });
  });
});
