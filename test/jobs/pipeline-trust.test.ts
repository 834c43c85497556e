/**
 * Points 10 and 11 of "Trust the score" through the worker (real Redis, fake endpoints, offline
 * reporter): a judge score off MT-Bench's 1-10 scale is invalid, not averaged in; a question the
 * candidate endpoint refuses with 400 is recorded as FastChat's `$ERROR$`, not judged, counted
 * invalid with its reason, and maxInvalidShare decides.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EvalRecord } from '../../src/eval/types.js';
import { redisUrl } from '../helpers/redis.js';
import { evaluateOnce, startStack, type Stack } from '../helpers/stack.js';

async function records(stack: Stack, id: string): Promise<EvalRecord[]> {
  const raw = await stack.redis.hvals(`${stack.env.QUEUE_PREFIX}:records:${id}`);
  return raw.map((r) => EvalRecord.parse(JSON.parse(r)));
}

const contextError = (want: number) => ({
  status: 400,
  body: {
    error: {
      message: `This model's maximum context length is 1024 tokens. However, you requested ${want} tokens. Please reduce the length of the messages or completion.`,
      type: 'BadRequestError',
      param: null,
      code: 400,
    },
  },
});

describe('trust the score: judge range and per-question errors (pipeline)', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('point 10: a judge score of [[1000]] counts as invalid (-1) with its reason and cannot lift the average', async () => {
    stack = await startStack({
      redisUrl: redisUrl(),
      judge: {
        respond: (b) =>
          b.messages.at(-1)?.content.includes('q81 turn 1') && !b.messages.at(-1)?.content.includes('q81 turn 2')
            ? 'Superb. [[1000]]'
            : 'Fine. [[7]]',
      },
    });
    await stack.startWorker();
    const { id, outcome, view } = await evaluateOnce(stack);
    expect(outcome).toBe('completed');
    expect(view?.scores?.average).toBe(7);
    expect(view?.progress.invalid).toBe(1);
    const j = (await records(stack, id)).find((r) => r.key === 'judgment/81/1');
    expect(j).toMatchObject({ score: -1, invalidReason: 'score 1000 outside 1-10', judgment: 'Superb. [[1000]]' });
  });

  it('point 11: one question over the context limit gets $ERROR$, is not judged, counts as invalid, and the evaluation completes', async () => {
    stack = await startStack({ redisUrl: redisUrl() });
    stack.candidate.failWhen((b) =>
      b.messages.at(-1)?.content === 'synthetic writing q81 turn 1' ? contextError(1500) : undefined,
    );
    await stack.startWorker();
    const { id, outcome, view } = await evaluateOnce(stack);
    expect(outcome).toBe('completed');
    expect(view?.attempts).toBe(1);
    expect(view?.progress.invalid).toBe(1);
    expect(view?.scores?.average).toBe(7);
    expect(stack.judge.requests).toHaveLength(159); // the $ERROR$ answer was never shown to the judge
    const all = await records(stack, id);
    expect(all.find((r) => r.key === 'answer/81/1')).toMatchObject({
      content: '$ERROR$',
      error: expect.stringContaining('maximum context length'),
    });
    expect(all.find((r) => r.key === 'judgment/81/1')).toMatchObject({
      score: -1,
      invalidReason: expect.stringMatching(/^answer error: .*HTTP 400/),
    });
    // FastChat goes on to turn 2 with $ERROR$ in the history; that answer is judged normally.
    expect(all.find((r) => r.key === 'answer/81/2')).toMatchObject({ content: 'answer: synthetic writing q81 turn 2' });
  });

  it('point 11: when every question overflows the vLLM context, maxInvalidShare fails the evaluation with the reason', async () => {
    stack = await startStack({ redisUrl: redisUrl(), vllm: { maxModelLen: 512 } }); // max_tokens 1024 alone is over
    await stack.startWorker();
    const { outcome, view } = await evaluateOnce(stack);
    expect(outcome).toBe('failed');
    expect(view?.attempts).toBe(1);
    expect(view?.error?.reason).toMatch(
      /160 of 160 judgments are invalid \(160 answer error; 100\.0 % > allowed 10\.0 % maxInvalidShare\)/,
    );
    expect(stack.judge.requests).toHaveLength(0);
  });
});
