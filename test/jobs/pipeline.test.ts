import { SHARED, hasShared, skipWithoutShared } from '../helpers/shared.js';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { redisUrl } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { evaluateOnce, repeatedJudgeCalls, startStack, type Stack } from '../helpers/stack.js';

describe('evaluation pipeline (real Redis, fake endpoints, offline reporter)', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('queued → succeeded: 160 answers, 160 judgments, scores and a local result directory', async () => {
    stack = await startStack({ redisUrl: redisUrl() });
    await stack.startWorker();
    const { id, outcome, view } = await evaluateOnce(stack);
    expect(outcome).toBe('completed');
    expect(view?.status).toBe('succeeded');
    expect(view?.scores?.average).toBe(7);
    expect(stack.candidate.requests).toHaveLength(160);
    expect(stack.judge.requests).toHaveLength(160);
    expect(view?.localDir && existsSync(view.localDir)).toBe(true);
    expect(readdirSync(view!.localDir!).length).toBeGreaterThan(0);
    // The judge key is a secret: it must not be in job data or results.
    const job = await stack.service.queue.getJob(id);
    expect(JSON.stringify(job?.data)).not.toContain('sk-judge-secret-key');
    expect(JSON.stringify(job?.returnvalue)).not.toContain('sk-judge-secret-key');
    // Checkpoints of a finished evaluation expire (CHECKPOINT_TTL_DAYS) instead of growing Redis.
    const ttl = await stack.redis.ttl(`${stack.env.QUEUE_PREFIX}:records:${id}`);
    expect(ttl).toBeGreaterThan(6 * 86_400);
    expect(ttl).toBeLessThanOrEqual(7 * 86_400);
  });

  it('judge 5xx bursts and timeouts: completes with all 160 judgments', async () => {
    // A 1 s timeout counts any slow call as a fault: keep the in-process fakes' load at the old fixed
    // limits so a busy machine does not add timeouts of its own (the faults are what is tested here).
    stack = await startStack({
      redisUrl: redisUrl(),
      env: { CALL_TIMEOUT_MS: '1000', INFERENCE_CONCURRENCY: '8', JUDGE_CONCURRENCY: '16' },
    });
    stack.judge.fail({ status: 503 }, 5);
    stack.judge.fail({ kind: 'timeout' }, 2);
    stack.judge.fail({ status: 500 }, 3);
    await stack.startWorker();
    const { outcome, view } = await evaluateOnce(stack);
    expect(outcome).toBe('completed');
    expect(view?.status).toBe('succeeded');
    expect(view?.scores?.average).toBe(7);
    // 10 faulted requests were retried; no successful judgment was paid twice.
    expect(stack.judge.requests.length).toBe(170);
    expect(repeatedJudgeCalls(stack)).toBe(10);
  });

  it('judge 401: fails fast with a reason naming the judge and the status', async () => {
    stack = await startStack({ redisUrl: redisUrl() });
    stack.judge.failWhen(() => ({
      status: 401,
      body: {
        error: {
          message: 'Incorrect API key provided',
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      },
    }));
    await stack.startWorker();
    const { outcome, view } = await evaluateOnce(stack);
    expect(outcome).toBe('failed');
    expect(view?.status).toBe('failed');
    expect(view?.error?.reason).toMatch(/judge/i);
    expect(view?.error?.reason).toMatch(/401/);
    // Unrecoverable: one attempt, not JOB_ATTEMPTS.
    expect(view?.attempts).toBe(1);
  });

  it('candidate endpoint crash mid-generation: retried, then succeeds', async () => {
    stack = await startStack({ redisUrl: redisUrl() });
    let served = 0;
    stack.candidate.failWhen(() => {
      served++;
      return served > 30 && served <= 45 ? { kind: 'reset' } : undefined;
    });
    await stack.startWorker();
    const id = await stack.enqueue();
    expect(await stack.finished(id)).toBe('completed');
    expect((await stack.service.get(id))?.status).toBe('succeeded');
    expect(repeatedJudgeCalls(stack)).toBe(0);
  });

  it('candidate endpoint down for good: fails with a reason after the retries', async () => {
    stack = await startStack({ redisUrl: redisUrl(), env: { JOB_ATTEMPTS: '2', CALL_ATTEMPTS: '2' } });
    stack.candidate.failWhen(() => ({ status: 502 }));
    await stack.startWorker();
    const { outcome, view } = await evaluateOnce(stack);
    expect(outcome).toBe('failed');
    expect(view?.error?.reason).toMatch(/candidate/);
    expect(view?.attempts).toBe(2);
  });

  it('too many -1 judgments: fails with the share in the reason', async () => {
    stack = await startStack({ redisUrl: redisUrl(), judge: { respond: () => 'I refuse to give a number.' } });
    await stack.startWorker();
    const { outcome, view } = await evaluateOnce(stack);
    expect(outcome).toBe('failed');
    expect(view?.error?.reason).toMatch(/no parsable score/);
    expect(view?.attempts).toBe(1);
  });

  it('pairwise-baseline profile: both position orders judged, win rate recorded; a missing baseline file fails at once', async () => {
    const dir = tempDir('pairwise');
    const baseline = join(dir, 'baseline-model.jsonl');
    const lines = Array.from({ length: 80 }, (_, i) =>
      JSON.stringify({
        question_id: 81 + i,
        model_id: 'baseline-model',
        choices: [{ index: 0, turns: ['baseline one', 'baseline two'] }],
      }),
    );
    writeFileSync(baseline, `${lines.join('\n')}\n`);
    const rules = join(dir, 'rules.yaml');
    writeFileSync(
      rules,
      `profiles:\n  - { name: pairwise, mode: pairwise-baseline, baseline: ${baseline} }\n  - { name: broken, mode: pairwise-baseline, baseline: ${join(dir, 'missing.jsonl')} }\n`,
    );
    // The judge prefers the candidate in whichever position it is shown.
    const judge = {
      respond: (b: { messages: { content: string }[] }) => {
        const u = b.messages.at(-1)!.content;
        return u.indexOf('answer:') < u.indexOf('baseline') ? '[[A]]' : '[[B]]';
      },
    };
    stack = await startStack({ redisUrl: redisUrl(), env: { EVALHOOK_CONFIG: rules }, judge });
    await stack.startWorker();
    const id = await stack.enqueue('acme/proj/model:v1', 'pairwise');
    expect(await stack.finished(id)).toBe('completed');
    const view = await stack.service.get(id);
    const summary = JSON.parse(readFileSync(join(view!.localDir!, 'summary.json'), 'utf8')) as {
      pairwise: { baseline: string; win: number; loss: number; winRate: number };
    };
    expect(summary.pairwise).toMatchObject({ baseline: 'baseline-model', win: 160, loss: 0, winRate: 1 });
    expect(stack.judge.requests).toHaveLength(320);

    const broken = await stack.enqueue('acme/proj/model:v1', 'broken');
    expect(await stack.finished(broken)).toBe('failed');
    const failed = await stack.service.get(broken);
    expect(failed?.error?.reason).toMatch(/cannot read baseline answers/);
    expect(failed?.attempts).toBe(1);
  });

  it('cancel mid-run: stops within 5 s and no call starts after it', async () => {
    stack = await startStack({ redisUrl: redisUrl(), judge: { latencyMs: 20 }, candidate: { latencyMs: 20 } });
    const worker = await stack.startWorker();
    const id = await stack.enqueue();
    await stack.judge.waitForRequests(20);
    const t0 = Date.now();
    await stack.service.cancel(id);
    expect(await stack.finished(id)).toBe('failed');
    expect(Date.now() - t0).toBeLessThan(5000);
    const atEnd = stack.judge.requests.length + stack.candidate.requests.length;
    expect((await stack.service.get(id))?.status).toBe('cancelled');
    expect(stack.judge.requests.length).toBeLessThan(160);
    // Once the worker has fully closed nothing of it can still send: the counts must not have moved.
    await worker.close();
    expect(stack.judge.requests.length + stack.candidate.requests.length).toBe(atEnd);
  });
});

const sharedPresent = hasShared('mt-bench/question.jsonl') && hasShared('mt-bench-ja');

describe.skipIf(skipWithoutShared(sharedPresent, 'MT-Bench data (mt-bench, mt-bench-ja)'))(
  `pipeline with the real benchmark data (${sharedPresent ? 'data present' : 'skipped: ../shared with mt-bench and mt-bench-ja is absent'})`,
  () => {
    let stack: Stack | undefined;
    afterEach(async () => {
      await stack?.close();
      stack = undefined;
    });

    for (const bench of ['mt-bench', 'japanese-mt-bench'] as const) {
      it(`${bench}: one data directory serves both benchmarks; 80 questions, 160 judgments, reference set recorded`, async () => {
        stack = await startStack({ redisUrl: redisUrl(), env: { MTBENCH_DATA_DIR: SHARED, BENCHMARK: bench } });
        await stack.startWorker();
        const { outcome, view } = await evaluateOnce(stack);
        expect(outcome).toBe('completed');
        expect(view?.scores?.average).toBe(7);
        expect(Object.keys(view?.scores?.categories ?? {})).toHaveLength(8);
        expect(stack.judge.requests).toHaveLength(160);
        const summary = JSON.parse(readFileSync(join(view!.localDir!, 'summary.json'), 'utf8')) as {
          benchmark: string;
          referenceSet: string;
        };
        expect(summary.benchmark).toBe(bench);
        expect(summary.referenceSet).toBeTruthy();
      });
    }
  },
);
