/** Engine under failure: retries and Retry-After, fail-fast, abort, timeouts, resume without repeats. */
import { afterEach, describe, expect, it } from 'vitest';
import { EndpointError } from '../../src/eval/errors.js';
import { runEvaluation, type RunEvaluationOptions } from '../../src/eval/index.js';
import type { ChatRequest } from '../../src/eval/ports.js';
import { createOpenAIChatClient } from '../../src/llm/openai-chat.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';
import { memoryCache, memoryStore, scriptedClient, untilAborted } from './support.js';
import { qOf, syntheticBenchmark } from './synthetic.js';

const turnOf = (req: ChatRequest) => req.messages.filter((m) => m.role === 'user').length;
const answerFor = (req: ChatRequest) => `A${qOf(req.messages.at(-1)!.content)}T${turnOf(req)}`;
const judgeScore = (req: ChatRequest) => `[[${(qOf(req.messages[1]!.content) % 10) + 1}]]`;
const noWait = { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 };

async function rejection(p: Promise<unknown>): Promise<EndpointError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EndpointError);
  return err as EndpointError;
}

const fakes: FakeOpenAI[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

function opts(over: Partial<RunEvaluationOptions>): RunEvaluationOptions {
  return {
    benchmark: syntheticBenchmark(1),
    candidate: { client: scriptedClient(answerFor).client, model: 'c', concurrency: 2 },
    judge: { client: scriptedClient(judgeScore).client, model: 'j', concurrency: 2 },
    retry: noWait,
    ...over,
  };
}

describe('retries', () => {
  it('waits exactly what Retry-After asks (via the injected sleep), over real HTTP', async () => {
    const judge = await startFakeOpenAI({ respond: () => 'Rating: [[5]]' });
    fakes.push(judge);
    judge.fail({ status: 429, retryAfter: '7' });
    judge.fail({ status: 503 });
    const slept: number[] = [];
    const r = await runEvaluation(
      opts({
        judge: {
          client: createOpenAIChatClient({ baseURL: judge.url, apiKey: 'k', role: 'judge' }),
          model: 'j',
          concurrency: 1,
        },
        sleep: async (ms) => void slept.push(ms),
        random: () => 0,
      }),
    );
    // 429 -> exactly the server's 7 s; 503 (no Retry-After) -> first backoff = 100 ms * (0.5 + 0/2)
    expect([...slept].sort((a, b) => a - b)).toEqual([50, 7000]);
    expect(r.summary.counts).toMatchObject({ judgeCalls: 16, retries: 2 });
    expect(judge.requests).toHaveLength(18);
  });

  it('rejects with the last EndpointError once attempts are exhausted, keeping what was saved', async () => {
    const store = memoryStore();
    const judge = scriptedClient((req) => {
      if (qOf(req.messages[1]!.content) === 3)
        throw new EndpointError('judge HTTP 503', 'server', { status: 503, role: 'judge' });
      return judgeScore(req);
    });
    const err = await rejection(
      runEvaluation(
        opts({ judge: { client: judge.client, model: 'j', concurrency: 1 }, store, sleep: async () => undefined }),
      ),
    );
    expect(err).toMatchObject({ kind: 'server', status: 503 });
    // 3 attempts for the judgment that exhausted first (the other turn of q3 may have been mid-retry)
    expect(judge.calls.filter((c) => qOf(c.req.messages[1]!.content) === 3).length).toBeGreaterThanOrEqual(3);
    expect(store.records.some((r) => r.kind === 'answer')).toBe(true);
  });

  it('times out a call that never returns and retries it', async () => {
    let first = true;
    const cand = scriptedClient(async (req) => {
      if (first) {
        first = false;
        return new Promise<never>(() => undefined); // ignores its signal on purpose
      }
      return answerFor(req);
    });
    const r = await runEvaluation(
      opts({
        candidate: { client: cand.client, model: 'c', concurrency: 2 },
        callTimeoutMs: 50,
        sleep: async () => undefined,
      }),
    );
    expect(r.summary.counts).toMatchObject({ retries: 1, answers: 16 });
  });
});

describe('fail fast and abort', () => {
  it('an unrecoverable 401 from the judge rejects the run at once and aborts in-flight calls', async () => {
    const judge = await startFakeOpenAI({ apiKey: 'right' });
    fakes.push(judge);
    const aborted: boolean[] = [];
    const cand = scriptedClient(async (req, o) => {
      if (turnOf(req) === 2) {
        await untilAborted(o.signal).catch(() => aborted.push(true));
        throw new EndpointError('aborted', 'aborted');
      }
      return answerFor(req);
    });
    const started = Date.now();
    const err = await rejection(
      runEvaluation(
        opts({
          candidate: { client: cand.client, model: 'c', concurrency: 4 },
          judge: {
            client: createOpenAIChatClient({ baseURL: judge.url, apiKey: 'wrong', role: 'judge' }),
            model: 'j',
            concurrency: 1,
          },
          sleep: () => new Promise(() => undefined), // a retry would hang the test: there must be none
        }),
      ),
    );
    expect(err).toMatchObject({ kind: 'unrecoverable', status: 401 });
    expect(err.message).toContain('Incorrect API key');
    expect(judge.requests).toHaveLength(1);
    expect(aborted.length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('an AbortSignal cancels every call in flight and rejects as aborted', async () => {
    const ac = new AbortController();
    const signals: AbortSignal[] = [];
    const cand = scriptedClient((_req, o) => {
      signals.push(o.signal!);
      if (signals.length === 4) queueMicrotask(() => ac.abort());
      return untilAborted(o.signal);
    });
    const err = await rejection(
      runEvaluation(opts({ candidate: { client: cand.client, model: 'c', concurrency: 4 }, signal: ac.signal })),
    );
    expect(err.kind).toBe('aborted');
    expect(signals).toHaveLength(4);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('rejects immediately when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const cand = scriptedClient(answerFor);
    expect(
      (
        await rejection(
          runEvaluation(opts({ candidate: { client: cand.client, model: 'c', concurrency: 1 }, signal: ac.signal })),
        )
      ).kind,
    ).toBe('aborted');
    expect(cand.calls).toHaveLength(0);
  });
});

describe('resume', () => {
  it('a run aborted midway and rerun with the same store repeats no finished call and scores like a clean run', async () => {
    const store = memoryStore();
    const cache = memoryCache();
    const key = (req: ChatRequest) => JSON.stringify(req);
    const done = new Set<string>();
    const ac = new AbortController();
    let judged = 0;
    const client = (f: (r: ChatRequest) => string) =>
      scriptedClient((req) => {
        const out = f(req);
        done.add(key(req));
        return out;
      }).client;
    const err = await rejection(
      runEvaluation(
        opts({
          benchmark: syntheticBenchmark(),
          candidate: { client: client(answerFor), model: 'c', concurrency: 3 },
          judge: { client: client(judgeScore), model: 'j', concurrency: 2 },
          store,
          onRecord: (r) => {
            if (r.kind === 'judgment' && ++judged === 50) ac.abort();
          },
          signal: ac.signal,
        }),
      ),
    );
    expect(err.kind).toBe('aborted');
    const saved = store.records.length;
    expect(saved).toBeGreaterThan(50);
    expect(saved).toBeLessThan(320);

    const repeated: string[] = [];
    const again = (f: (r: ChatRequest) => string) =>
      scriptedClient((req) => {
        // a finished call is one whose result was saved; calls cut off by the abort may rerun
        if (
          done.has(key(req)) &&
          store.records.some((r) =>
            r.kind === 'answer'
              ? r.content === f(req)
              : r.kind === 'judgment' && r.userPrompt === req.messages[1]!.content,
          )
        )
          repeated.push(key(req));
        return f(req);
      });
    const cand2 = again(answerFor);
    const judge2 = again(judgeScore);
    const r = await runEvaluation(
      opts({
        benchmark: syntheticBenchmark(),
        candidate: { client: cand2.client, model: 'c', concurrency: 3 },
        judge: { client: judge2.client, model: 'j', concurrency: 2 },
        store,
        cache,
      }),
    );
    expect(repeated).toEqual([]);
    expect((r.summary.counts.candidateCalls ?? 0) + (r.summary.counts.answersResumed ?? 0)).toBe(160);
    expect(r.summary.counts.judgeCalls + r.summary.counts.resumed).toBe(160);
    expect(r.summary.counts.resumed).toBeGreaterThanOrEqual(50);
    expect(r.summary.scores.average).toBe(5.5);
  });

  it('ignores corrupt or foreign store records and counts duplicates (last wins)', async () => {
    const first = await runEvaluation(opts({ store: memoryStore() }));
    const answers = first.records.filter((r) => r.kind === 'answer');
    const store = memoryStore([...answers, ...answers.slice(0, 2)]);
    store.records.push({ ...answers[0]!, model: 'someone-else', key: 'answer/1/1' });
    (store.records as unknown[]).push({ kind: 'answer', key: 'broken' });
    const r = await runEvaluation(opts({ store }));
    expect(r.summary.counts).toMatchObject({ duplicates: 3, judgeCalls: 16 });
    expect(r.summary.counts.candidateCalls).toBe(2); // answer/1/1 was foreign, so q1's two turns regenerate
  });
});

describe('judge cache outage', () => {
  it('judges for real when the cache cannot be read or written', async () => {
    const broken = {
      get: () => Promise.reject(new Error('redis down')),
      set: () => Promise.reject(new Error('redis down')),
    };
    const r = await runEvaluation(opts({ cache: broken }));
    expect(r.summary.counts).toMatchObject({ judgeCalls: 16, cacheHits: 0 });
  });
});
