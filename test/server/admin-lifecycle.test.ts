/**
 * The admin views across a job's life, driven by a real BullMQ Worker on the same queue: running
 * with progress, succeeded with scores, failed with a reason, retried, cancelled while running.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EvaluationProgress, type EvaluationResult } from '../../src/jobs/job-data.js';
import { QUEUE_NAME } from '../../src/jobs/keys.js';
import type { EvaluationView } from '../../src/jobs/views.js';
import { admin, makeFixture, type Fixture } from './fixture.js';

let f: Fixture;
let worker: Worker;
const release = new Map<string, () => void>();
const attempts = new Map<string, number>();

const result: EvaluationResult = {
  scores: { average: 7.5, turn1: 8, turn2: 7, categories: { writing: 9, math: 6 } },
  invalid: 0,
  judgeCalls: 160,
  runUrl: 'https://wandb.ai/acme/evalhook/runs/abc',
  writeBack: ['metadata'],
};

async function processor(job: Job): Promise<EvaluationResult> {
  const name = String((job.data as { artifact: { name?: string } }).artifact.name);
  const n = (attempts.get(name) ?? 0) + 1;
  attempts.set(name, n);
  const t = Date.now();
  const progress: EvaluationProgress = {
    stage: 'generating',
    answersDone: 12,
    answersTotal: 80,
    judgmentsDone: 0,
    judgmentsTotal: 160,
    invalid: 0,
    stages: { preparing: t - 20, launching: t - 10, generating: t },
  };
  await job.updateProgress(progress);
  if (name.includes('hold')) await new Promise<void>((r) => release.set(name, r));
  if (name.includes('flaky') && n === 1) throw new UnrecoverableError('judge endpoint returned 401');
  return result;
}

beforeAll(async () => {
  f = await makeFixture();
  worker = new Worker(QUEUE_NAME, processor, { connection: { url: f.url }, prefix: f.prefix, concurrency: 4 });
  await worker.waitUntilReady();
});
afterAll(async () => {
  for (const r of release.values()) r();
  await worker?.close();
  await f?.close();
});

const trigger = async (artifact: string) =>
  (await f.app.inject({ method: 'POST', url: '/api/v1/evaluations', payload: { artifact }, headers: admin })).json<{
    evaluationId: string;
  }>().evaluationId;
const view = async (id: string) =>
  (await f.app.inject({ url: `/api/v1/evaluations/${id}`, headers: admin })).json<EvaluationView>();
const statusOf = async (id: string) => (await view(id)).status;

it('succeeded: scores, run URL, stage done, timings', async () => {
  const id = await trigger('acme/wandb-registry-model/ok:v1');
  await expect.poll(() => statusOf(id), { timeout: 10_000, interval: 50 }).toBe('succeeded');
  const v = await view(id);
  expect(v).toMatchObject({
    stage: 'done',
    scores: result.scores,
    runUrl: result.runUrl,
    judgeCalls: 160,
    writeBack: ['metadata'],
    attempts: 1,
  });
  expect(v.timings.startedAt).toBeDefined();
  expect(v.timings.finishedAt).toBeDefined();
  expect(Object.keys(v.timings.stages)).toEqual(['preparing', 'launching', 'generating']);
  expect(v.error).toBeUndefined();
  expect(
    (await f.app.inject({ method: 'POST', url: `/api/v1/evaluations/${id}/cancel`, headers: admin })).statusCode,
  ).toBe(409);
  expect(
    (await f.app.inject({ method: 'POST', url: `/api/v1/evaluations/${id}/retry`, headers: admin })).statusCode,
  ).toBe(409);
});

it('failed: the reason; retry puts it back and it succeeds', async () => {
  const id = await trigger('acme/wandb-registry-model/flaky:v1');
  await expect.poll(() => statusOf(id), { timeout: 10_000, interval: 50 }).toBe('failed');
  expect((await view(id)).error).toEqual({ reason: 'judge endpoint returned 401' });
  const res = await f.app.inject({ method: 'POST', url: `/api/v1/evaluations/${id}/retry`, headers: admin });
  expect(res.statusCode).toBe(200);
  expect(['queued', 'running', 'succeeded']).toContain(res.json().status);
  await expect.poll(() => statusOf(id), { timeout: 10_000, interval: 50 }).toBe('succeeded');
});

it('running: stage and progress counts; cancel marks it cancelled while the worker still holds it', async () => {
  const name = 'acme/wandb-registry-model/hold:v1';
  const id = await trigger(name);
  await expect.poll(() => statusOf(id), { timeout: 10_000, interval: 50 }).toBe('running');
  await expect.poll(async () => (await view(id)).progress.answersDone, { timeout: 5_000, interval: 50 }).toBe(12);
  expect(await view(id)).toMatchObject({ stage: 'generating', progress: { answersTotal: 80, judgmentsTotal: 160 } });
  const res = await f.app.inject({ method: 'POST', url: `/api/v1/evaluations/${id}/cancel`, headers: admin });
  expect(res.json().status).toBe('cancelled');
  const list = await f.app.inject({ url: '/api/v1/evaluations?status=cancelled', headers: admin });
  expect(list.json().items.map((v: EvaluationView) => v.id)).toContain(id);
  release.get(name)?.();
});

it('/metrics reports queue depth (durations come from evalhook workers: test/server/metrics.test.ts)', async () => {
  const text = (await f.app.inject({ url: '/metrics' })).body;
  expect(text).toMatch(/evalhook_queue_jobs\{state="completed"\} [1-9]/);
  expect(text).toContain('# TYPE evalhook_evaluation_duration_seconds histogram');
});
