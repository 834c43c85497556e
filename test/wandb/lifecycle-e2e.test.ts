/**
 * A W&B run's life through the real worker (real Redis, fake candidate/judge/W&B): runtime, one
 * ordered sender, one exit, a 30-second outage ridden out inside one job attempt (virtual time: the
 * adapter's sleeps move a clock the fake shares, so no wall time is spent), LegacyFormat console
 * lines, epoch/step on every row, UI edits kept across reopenings, links and org resolution from the
 * environment, and the four-segment artifact reference.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { buildApp } from '../../src/server/app.js';
import { createWandb } from '../../src/wandb/index.js';
import { redisUrl } from '../helpers/redis.js';
import { startStack } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { startFakeWandb, type FakeRun, type FakeWandb } from '../fakes/wandb-server.js';
import { e2eFixture, peftAdapter, schemaMissing, twoTryWandb, virtualClock, wandbEnv } from './helpers.js';

const e2e = e2eFixture();

/** A torchtune-style checkpoint in a training project, linked into the model registry. */
function seedCheckpoint(w: FakeWandb, metadata: Record<string, unknown> = { global_step: 400 }) {
  const src = w.seedArtifact({
    entity: 'acme-team',
    project: 'llama-sft',
    collection: 'adapter_checkpoint_2',
    files: peftAdapter(64, 3),
    metadata,
    sourceRun: { name: 'train-9' },
  });
  return { src, linked: w.linkToRegistry(src, { collection: 'llama-ft' }) };
}

/** Every history row the worker ever tried to post (accepted or met by the outage), by step. */
function rowsTried(run: FakeRun): Map<number, Record<string, unknown>> {
  const tried = new Map<number, Record<string, unknown>>();
  for (const e of run.timeline) for (const r of e.history?.rows ?? []) tried.set(r._step as number, r);
  return tried;
}

function expectOneExit(w: FakeWandb, run: FakeRun, exitcode: number) {
  const accepted = run.timeline.filter((e) => e.status === 200);
  expect(accepted.filter((e) => e.complete)).toEqual([expect.objectContaining({ exitcode })]);
  expect(accepted.at(-1)).toMatchObject({ complete: true });
  expect(w.errors).toEqual([]);
}

describe.skipIf(schemaMissing)('W&B run lifecycle through the worker', () => {
  it('a 30 s outage (503, Retry-After: 2) mid-evaluation and again at the final report costs no attempt and loses no row', async () => {
    const clock = virtualClock();
    e2e.wb = await startFakeWandb({ now: clock.now });
    const { linked } = seedCheckpoint(e2e.wb);
    e2e.stack = await startStack({ redisUrl: redisUrl(), vllm: {}, env: wandbEnv(e2e.wb), judge: { latencyMs: 10 } });
    const wandb = createWandb({
      apiKey: e2e.wb.apiKey,
      baseURL: e2e.wb.url,
      cacheDir: tempDir('e2e'),
      sleep: clock.sleep,
      now: clock.now,
      heartbeatMs: 0,
    });
    await e2e.stack.startWorker({ artifacts: wandb.artifacts, reporter: wandb.reporter });

    // Outage 1 starts at the third file_stream post (progress rows are flowing), outage 2 at the
    // final report's first request (the second RunResumeStatus: the first opened the run early).
    let posts = 0;
    const first = e2e.wb.outage({
      ms: 30_000,
      retryAfter: 2,
      when: (r) => r.path.endsWith('/file_stream') && ++posts === 3,
    });
    const id = await e2e.stack.enqueue(linked.fullName);
    const done = e2e.stack.finished(id);
    const o1 = await first.started;
    const second = e2e.wb.outage({ ms: 30_000, retryAfter: 2, when: (r) => r.operationName === 'RunResumeStatus' });
    const o2 = await second.started;
    expect(await done).toBe('completed');

    // No job attempt spent: the adapter's budgets covered both outages.
    expect((await e2e.stack.service.queue.getJob(id))?.attemptsStarted).toBe(1);
    const slept = (o: { start: number; end: number }) => clock.sleeps.filter((x) => x.at >= o.start && x.at < o.end);
    expect(slept(o1).length).toBeGreaterThanOrEqual(14);
    expect(slept(o2).length).toBeGreaterThanOrEqual(14);
    expect(clock.sleeps.every((x) => x.ms === 2000)).toBe(true); // Retry-After honoured, nothing else waited
    const refusedOpens = e2e.wb.requests.filter((r) => r.operationName === 'RunResumeStatus' && r.status === 503);
    expect(refusedOpens.length).toBeGreaterThanOrEqual(14); // > the old 6-attempt budget; within wandb-core's 20 retries

    const [run] = e2e.wb.evalRuns();
    expect(run).toMatchObject({ state: 'finished', exitcode: 0 });
    expectOneExit(e2e.wb, run!, 0);
    // Every row ever tried is in history, in order, at contiguous steps; rows met the first outage.
    const tried = rowsTried(run!);
    expect(run!.timeline.some((e) => e.error === 'outage' && e.history)).toBe(true);
    expect(run!.history.map((r) => r._step)).toEqual([...tried.keys()].sort((a, b) => a - b));
    expect(run!.history.map((r) => r._step)).toEqual(run!.history.map((_, i) => i));
    for (const row of run!.history) expect(row).toEqual(tried.get(row._step as number));
    // Epoch (name suffix adapter_checkpoint_2) and step (metadata global_step) on every row.
    for (const row of run!.history) expect(row).toMatchObject({ epoch: 2, step: 400 });
    const last = run!.history.at(-1)!;
    expect(last).toMatchObject({
      'mtbench/score': 7,
      mtbench_output_table: { _type: 'table-file', nrows: 160 },
      mtbench_radar_table: { _type: 'table-file' },
    });
    expect(run!.history.at(-2)).toMatchObject({ 'progress/fraction': 1 });
    // Summary: last step, last progress values, runtime from the first start: both outages count.
    expect(run!.summary).toMatchObject({
      _step: last._step,
      'progress/fraction': 1,
      'mtbench/score': 7,
      epoch: 2,
      step: 400,
    });
    expect(run!.summary._wandb).toEqual({ runtime: run!.summary._runtime });
    expect(run!.summary._runtime).toBeGreaterThanOrEqual(60);
    expect(run!.logs).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6} MT-Bench score 7\.00/)]);
  });

  it('too many invalid judgments: the outcome is decided first, the run finished once with exit 1 and the reason', async () => {
    e2e.wb = await startFakeWandb();
    const { linked } = seedCheckpoint(e2e.wb);
    e2e.stack = await startStack({
      redisUrl: redisUrl(),
      vllm: {},
      env: wandbEnv(e2e.wb),
      judge: { respond: () => 'I cannot rate this.' },
    });
    await e2e.stack.startWorker();
    const id = await e2e.stack.enqueue(linked.fullName);
    expect(await e2e.stack.finished(id)).toBe('failed');
    const [run] = e2e.wb.evalRuns();
    expect(run).toMatchObject({ state: 'failed', exitcode: 1 });
    expectOneExit(e2e.wb, run!, 1);
    expect(run!.summary).toMatchObject({
      'evalhook/failed': true,
      'mtbench/n_invalid': 160,
      mtbench_output_table: { _type: 'table-file' },
    });
    expect(run!.summary['evalhook/failure_reason']).toMatch(/160 of 160 judgments are invalid/);
    expect(run!.logs).toEqual([
      expect.stringMatching(/^ERROR \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6} evaluation failed: 160 of 160/),
    ]);
    expect(run!.notes).toMatch(/^Evaluation failed: 160 of 160/);
    expect((await e2e.stack.service.queue.getJob(id))?.attemptsStarted).toBe(1);
  });

  it('tags, name and notes edited in the UI between two reopenings are kept; the retried job finishes the same run once', async () => {
    e2e.wb = await startFakeWandb();
    const { linked } = seedCheckpoint(e2e.wb);
    e2e.stack = await startStack({ redisUrl: redisUrl(), vllm: {}, env: wandbEnv(e2e.wb, { JOB_BACKOFF_MS: '300' }) });
    // Two tries per GraphQL call and no backoff: a refused final open fails the attempt, the job retries.
    const wandb = twoTryWandb(e2e.wb);
    await e2e.stack.startWorker({ artifacts: wandb.artifacts, reporter: wandb.reporter });
    const id = await e2e.stack.enqueue(linked.fullName);
    const done = e2e.stack.finished(id);
    // Once judging runs the run is open (opened before generation); its final open is then refused twice.
    await e2e.stack.judge.waitForRequests(1);
    e2e.wb.fail({ status: 503, times: 2, match: 'graphql', operation: 'RunResumeStatus' });
    await new Promise<void>((resolve) => e2e.stack!.events.on('delayed', ({ jobId }) => jobId === id && resolve()));
    const [run] = e2e.wb.evalRuns();
    expect(run!.tags).toEqual(['evalhook', 'mt-bench', 'default']);
    e2e.wb.editRun(run!.name, {
      tags: ['mt-bench', 'keep-me'],
      displayName: 'alice: epoch 2 candidate',
      notes: 'compare with epoch 1',
    });
    expect(await done).toBe('completed');
    expect(run).toMatchObject({
      state: 'finished',
      displayName: 'alice: epoch 2 candidate',
      notes: 'compare with epoch 1',
    });
    expect(run!.tags).toEqual(['mt-bench', 'keep-me', 'evalhook', 'default']);
    expectOneExit(e2e.wb, run!, 0);
    const job = await e2e.stack.service.queue.getJob(id);
    expect(job?.attemptsStarted).toBe(2);
    // The run's start is the first attempt's: the second attempt's runtime includes the first and the backoff.
    const startedAt = (job?.progress as { startedAt?: number }).startedAt!;
    expect(startedAt).toBeLessThan(job!.processedOn! - 300);
    expect(run!.history.at(-1)!._runtime as number).toBeGreaterThanOrEqual((job!.processedOn! - startedAt) / 1000);
  });

  it("a manual trigger by org/entity/project/collection:vN succeeds; links use WANDB_APP_URL; the registry resolves in WANDB_ENTITY's org", async () => {
    e2e.wb = await startFakeWandb({
      orgs: [
        { name: 'acme', entity: 'acme-org' },
        { name: 'beta', entity: 'beta-org' },
      ],
      teams: { 'acme-team': 'acme', 'beta-team': 'beta' },
    });
    const src = e2e.wb.seedArtifact({
      entity: 'beta-team',
      project: 'sft',
      collection: 'adapter_checkpoint_1',
      files: peftAdapter(64, 3),
      metadata: { torchtune: { epoch: 1 } },
    });
    e2e.wb.linkToRegistry(src, { collection: 'llama-ft', entity: 'beta-org' });
    const env = wandbEnv(e2e.wb, { WANDB_APP_URL: 'https://wandb.acme.example', WANDB_ENTITY: 'beta-team' });
    e2e.stack = await startStack({ redisUrl: redisUrl(), vllm: {}, env });
    await e2e.stack.startWorker(); // the worker as runtime.ts wires it, from the environment
    const app = buildApp({ config: e2e.stack.config, service: e2e.stack.service, logger: pino({ level: 'silent' }) });
    const trigger = (artifact: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/evaluations',
        headers: { authorization: `Bearer ${e2e.stack!.env.ADMIN_TOKEN}` },
        payload: { artifact },
      });
    const four = await trigger('beta/beta-team/sft/adapter_checkpoint_1:v0');
    expect(four.statusCode).toBe(202);
    const bare = await trigger('wandb-registry-model/llama-ft:v0'); // no org prefix: WANDB_ENTITY's org, not the key's (acme)
    expect(bare.statusCode).toBe(202);
    // The webhook's documented org/entity/project/collection form, with no node id to fall back on.
    const hook = await app.inject({
      method: 'POST',
      url: '/webhooks/wandb',
      headers: { authorization: `Bearer ${e2e.stack.env.WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({
        event_type: 'LINK_ARTIFACT',
        artifact_version_string: 'beta/beta-org/wandb-registry-model/llama-ft:v0',
      }),
    });
    expect(hook.statusCode).toBe(202);
    for (const r of [four, bare, hook]) {
      const id = (r.json() as { evaluationId: string }).evaluationId;
      expect(await e2e.stack.finished(id)).toBe('completed');
      const view = await e2e.stack.service.get(id);
      expect(view?.runUrl).toMatch(/^https:\/\/wandb\.acme\.example\/beta-team\/evals\/runs\/mtb-/);
    }
    const runs = e2e.wb.evalRuns();
    expect(runs).toHaveLength(3);
    for (const run of runs) expect(run.history.every((row) => row.epoch === 1)).toBe(true);
    expect((e2e.wb.artifact(src.id).metadata.mtbench as { run_url: string }).run_url).toMatch(
      /^https:\/\/wandb\.acme\.example\//,
    );
    expect(e2e.wb.errors).toEqual([]);
    await app.close();
  });
});
