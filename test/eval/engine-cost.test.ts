/**
 * judge.maxCostUsd: the engine knows the judge's running cost before each judge call and fails
 * the evaluation (final) before the cap could be crossed, counting what earlier attempts paid.
 */
import { describe, expect, it } from 'vitest';
import { capJudgeCost } from '../../src/eval/cost.js';
import { EndpointError } from '../../src/eval/errors.js';
import { runEvaluation, type RunEvaluationOptions } from '../../src/eval/index.js';
import type { ChatRequest, ChatResult } from '../../src/eval/ports.js';
import { memoryStore, scriptedClient } from './support.js';
import { qOf, syntheticBenchmark } from './synthetic.js';

const PRICES = { input: 1, output: 1 }; // USD per million tokens: cost = tokens / 1e6
/** The test's own upper bound of a request: one token per byte of the messages' JSON, plus max_tokens. */
const worstTokens = (req: ChatRequest) => Buffer.byteLength(JSON.stringify(req.messages)) + req.max_tokens;
/** A judge that bills every request at that worst case, so the spend reaches the cap as fast as it can. */
const billedJudge = () =>
  scriptedClient((req): ChatResult => ({
    content: `Rating: [[${(qOf(req.messages[1]!.content) % 10) + 1}]]`,
    usage: { promptTokens: Buffer.byteLength(JSON.stringify(req.messages)), completionTokens: req.max_tokens },
  }));
const spentUsd = (calls: Array<{ req: ChatRequest }>) => calls.reduce((n, c) => n + worstTokens(c.req), 0) / 1e6;

function opts(
  judge: ReturnType<typeof billedJudge>,
  over: Partial<RunEvaluationOptions['judge']> = {},
  rest: Partial<RunEvaluationOptions> = {},
): RunEvaluationOptions {
  return {
    benchmark: syntheticBenchmark(1),
    candidate: {
      client: scriptedClient((req) => `answer ${req.messages.at(-1)!.content}`).client,
      model: 'cand',
      concurrency: 4,
    },
    judge: { client: judge.client, model: 'judge', concurrency: 3, prices: PRICES, ...over },
    ...rest,
  };
}

describe('judge.maxCostUsd', () => {
  it('fails with a final reason before the cap is crossed; what was sent never costs more than the cap', async () => {
    const free = billedJudge();
    const full = await runEvaluation(opts(free));
    const total = spentUsd(free.calls);
    expect(full.summary.costUsd).toBeCloseTo(total, 9);

    const judge = billedJudge();
    const cap = total / 2;
    const err = await runEvaluation(opts(judge, { maxCostUsd: cap })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EndpointError);
    expect((err as EndpointError).retryable).toBe(false);
    expect((err as EndpointError).message).toMatch(/judge\.maxCostUsd \$\d+\.\d{4} would be exceeded/);
    expect(judge.calls.length).toBeGreaterThan(0);
    expect(judge.calls.length).toBeLessThan(free.calls.length);
    expect(spentUsd(judge.calls)).toBeLessThanOrEqual(cap);
  });

  it('runs to the end when the cap leaves room for every call', async () => {
    const free = billedJudge();
    await runEvaluation(opts(free));
    const judge = billedJudge();
    const r = await runEvaluation(opts(judge, { maxCostUsd: spentUsd(free.calls) * 1.01 }));
    expect(r.summary.counts.judgments).toBe(16);
    expect(judge.calls).toHaveLength(16);
  });

  it('counts what earlier attempts paid: a retry from the store never takes the total past the cap', async () => {
    const free = billedJudge();
    await runEvaluation(opts(free));
    const cap = spentUsd(free.calls) / 2;
    const store = memoryStore();
    // One judge call at a time, so every call that was paid for is in the store when the attempt stops.
    const first = billedJudge();
    await expect(runEvaluation(opts(first, { maxCostUsd: cap, concurrency: 1 }, { store }))).rejects.toBeInstanceOf(
      EndpointError,
    );
    expect(store.records.some((r) => r.kind === 'judgment')).toBe(true);
    const retry = billedJudge();
    await expect(runEvaluation(opts(retry, { maxCostUsd: cap, concurrency: 1 }, { store }))).rejects.toBeInstanceOf(
      EndpointError,
    );
    expect(spentUsd(first.calls) + spentUsd(retry.calls)).toBeLessThanOrEqual(cap);
    // The same retry with a cap that covers the rest finishes, judging only what is missing.
    const rest = billedJudge();
    const done = await runEvaluation(
      opts(rest, { maxCostUsd: spentUsd(free.calls) * 1.01, concurrency: 1 }, { store }),
    );
    expect(done.summary.counts.judgments).toBe(16);
    expect(first.calls.length + retry.calls.length + rest.calls.length).toBe(16);
  });

  it("keeps the judge client's adaptive in-flight limit visible to the engine", () => {
    const judge = billedJudge();
    const adaptive = { ...judge.client, inFlightLimit: () => 3 };
    expect(capJudgeCost(adaptive, { prices: PRICES, maxCostUsd: 1, spentUsd: 0 }).inFlightLimit?.()).toBe(3);
    expect(capJudgeCost(judge.client, { prices: PRICES, maxCostUsd: 1, spentUsd: 0 }).inFlightLimit).toBeUndefined();
  });

  it('refuses a cap without a price before any call', async () => {
    const judge = billedJudge();
    await expect(runEvaluation(opts(judge, { prices: undefined, maxCostUsd: 1 }))).rejects.toThrow(
      /judge\.maxCostUsd needs judge\.prices/,
    );
    expect(judge.calls).toHaveLength(0);
  });
});
