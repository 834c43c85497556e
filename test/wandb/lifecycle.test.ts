/**
 * The run's life as wandb-core keeps it, at the adapter: runtime from the evaluation's first start,
 * one ordered sender per run, wandb-core's retry budgets with Retry-After, LegacyFormat console
 * lines, UI edits kept on reopen, and app URLs. End-to-end versions run through the worker in
 * lifecycle-e2e.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WandbClient } from '../../src/wandb/client.js';
import { apiToAppURL } from '../../src/wandb/client.js';
import { consoleLines, consoleTimestamp } from '../../src/wandb/console-log.js';
import { backoffMs } from '../../src/retry.js';
import { GRAPHQL_RETRY } from '../../src/wandb/retry.js';
import { startFakeWandb, type FakeWandb } from '../fakes/wandb-server.js';
import { outcome, runContext, schemaMissing, setup, virtualClock } from './helpers.js';

type Setup = Awaited<ReturnType<typeof setup>>;
let s: Setup | undefined;
let fake: FakeWandb | undefined;
afterEach(async () => {
  await s?.wb.close();
  await fake?.close();
  s = fake = undefined;
});

describe('console lines (runconsolelogs LegacyFormat)', () => {
  it('formats UTC with microseconds and no zone, ERROR prefix for stderr, one line per content line', () => {
    const at = Date.UTC(2026, 10, 30, 3, 4, 5, 123);
    expect(consoleTimestamp(at)).toBe('2026-11-30T03:04:05.123000');
    expect(consoleLines('boom', 'stderr', at)).toEqual(['ERROR 2026-11-30T03:04:05.123000 boom']);
    expect(consoleLines('score 7', 'stdout', at)).toEqual(['2026-11-30T03:04:05.123000 score 7']);
    expect(consoleLines('server exited:\nCUDA out of memory\r\nTraceback\n', 'stderr', at)).toEqual([
      'ERROR 2026-11-30T03:04:05.123000 server exited:',
      'ERROR 2026-11-30T03:04:05.123000 CUDA out of memory',
      'ERROR 2026-11-30T03:04:05.123000 Traceback',
    ]);
  });
});

describe('retry budgets (clients/backoff.go, api.go, filestream.go)', () => {
  it('Retry-After wins (within 60 s); otherwise 2 s doubling with up to 25 % jitter, capped at 60 s', () => {
    expect(backoffMs(GRAPHQL_RETRY, 7, 2000)).toBe(2000);
    // a longer Retry-After is not obeyed (the bug of issue 12): the backoff decides
    expect(backoffMs(GRAPHQL_RETRY, 0, 3_600_000, () => 0)).toBe(2000);
    expect(backoffMs(GRAPHQL_RETRY, 0, undefined, () => 0)).toBe(2000);
    expect(backoffMs(GRAPHQL_RETRY, 0, undefined, () => 1)).toBe(2500);
    expect(backoffMs(GRAPHQL_RETRY, 3, undefined, () => 0)).toBe(16_000);
    expect(backoffMs(GRAPHQL_RETRY, 10, undefined, () => 0.5)).toBe(60_000);
    expect(GRAPHQL_RETRY.retries).toBe(20);
  });

  it.skipIf(schemaMissing)(
    'GraphQL rides out a 30 s outage answered with Retry-After: 2 and gives up on a longer one',
    async () => {
      const clock = virtualClock();
      fake = await startFakeWandb({ now: clock.now });
      const client = new WandbClient({ apiKey: fake.apiKey, baseURL: fake.url, sleep: clock.sleep, now: clock.now });
      const viewer = () => client.graphql('query Viewer { viewer { id } }', {}, z.unknown());
      const { started } = fake.outage({ ms: 30_000, retryAfter: 2 });
      const { start, end } = await started;
      await viewer();
      const failed = fake.requests.filter((r) => r.status === 503);
      expect(failed).toHaveLength(15);
      expect(clock.sleeps.map((x) => x.ms)).toEqual(Array(15).fill(2000));
      expect(clock.now()).toBeGreaterThanOrEqual(end);
      expect(end - start).toBe(30_000);
      // 20 retries of 2 s do not cover 60 s: the call fails, retryable, for the job to decide.
      fake.outage({ ms: 60_000, retryAfter: 2 });
      const err = (await viewer().catch((e: unknown) => e)) as { retryable?: boolean; status?: number };
      expect(err).toMatchObject({ retryable: true, status: 503 });
      expect(fake.requests.filter((r) => r.status === 503)).toHaveLength(15 + 21);
    },
  );
});

describe.skipIf(schemaMissing)('run lifecycle', () => {
  it('runtime counts from the evaluation first start: history _runtime, summary _runtime and _wandb.runtime', async () => {
    const clock = virtualClock();
    s = await setup({ now: clock.now }, { now: clock.now, sleep: clock.sleep });
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const startedAt = clock.now() - 3 * 3600_000; // a three-hour evaluation, retried on another worker
    const h = await s.wandb.reporter.open({ ...runContext(artifact), startedAt });
    await h.logProgress({ 'progress/fraction': 0.5 });
    h.release?.();
    const h2 = await s.wandb.reporter.open({ ...runContext(artifact), startedAt });
    await h2.finish(outcome(7));
    const run = s.wb.evalRuns()[0]!;
    for (const row of run.history) expect(row._runtime).toBeGreaterThanOrEqual(3 * 3600);
    expect(run.history[0]!._runtime).toBeLessThan(3 * 3600 + 60);
    expect(run.summary._runtime).toBe(Math.floor(run.history.at(-1)!._runtime as number));
    expect(run.summary._wandb).toEqual({ runtime: run.summary._runtime });
    expect(Number.isInteger(run.summary._runtime)).toBe(true);
  });

  it('one ordered sender: rows of an earlier handle still retrying go before the finish, nothing after complete', async () => {
    const clock = virtualClock();
    s = await setup({ now: clock.now }, { now: clock.now, sleep: clock.sleep });
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const early = await s.wandb.reporter.open(runContext(artifact));
    s.wb.fail({ status: 503, times: 6, match: 'file_stream', retryAfter: 1 });
    const rows = [1, 2, 3].map((i) => early.logProgress({ 'progress/answers': i }));
    const final = await s.wandb.reporter.open(runContext(artifact));
    await final.finish(outcome(7));
    early.release?.();
    await Promise.all(rows);
    await early.logProgress({ 'progress/answers': 99 }); // a straggler after the exit: dropped, never posted
    const run = s.wb.evalRuns()[0]!;
    expect(run.history.map((r) => [r._step, r['progress/answers']])).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, undefined],
    ]);
    const ok = run.timeline.filter((e) => e.status === 200);
    expect(ok.at(-1)).toMatchObject({ complete: true, exitcode: 0 });
    expect(run.timeline.findIndex((e) => e.complete)).toBe(run.timeline.length - 1);
    expect(s.wb.errors).toEqual([]);
    expect(clock.sleeps.every((x) => x.ms === 1000)).toBe(true);
  });

  it('a run W&B cannot finish fails the attempt (retryable) and the next attempt finishes it, rows kept', async () => {
    s = await setup({}, { finalRetry: { retries: 2 } });
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const h = await s.wandb.reporter.open(runContext(artifact));
    await h.logProgress({ 'progress/answers': 1 });
    s.wb.fail({ status: 503, times: 3, match: 'file_stream' });
    const err = (await h.finish(outcome(7)).catch((e: unknown) => e)) as { retryable?: boolean };
    expect(err.retryable).toBe(true);
    expect(s.wb.evalRuns()[0]!.state).toBe('running');
    await (await s.wandb.reporter.open(runContext(artifact))).finish(outcome(7));
    const run = s.wb.evalRuns()[0]!;
    expect(run).toMatchObject({ state: 'finished', exitcode: 0 });
    expect(run.history.map((r) => r._step)).toEqual([0, 1]);
    expect(run.timeline.filter((e) => e.complete && e.status === 200)).toHaveLength(1);
  });

  it('file_stream keeps retrying far past the GraphQL budget while the run is held', async () => {
    s = await setup();
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const h = await s.wandb.reporter.open(runContext(artifact));
    s.wb.fail({ status: 503, times: 100, match: 'file_stream' });
    await h.logProgress({ 'progress/answers': 1 });
    expect(s.wb.evalRuns()[0]!.history).toHaveLength(1);
    expect(s.wb.requests.filter((r) => r.status === 503)).toHaveLength(100);
  });

  it('a reopen keeps tags, display name and notes edited in the UI; evalhook adds only its own tags and notes', async () => {
    s = await setup();
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const ctx = runContext(artifact);
    (await s.wandb.reporter.open(ctx)).release?.();
    const run = s.wb.evalRuns()[0]!;
    expect(run.tags).toEqual(['evalhook', 'mt-bench', 'default']);
    s.wb.editRun(run.name, {
      tags: ['mt-bench', 'default', 'baseline-candidate'],
      displayName: 'Alice: lr 1e-4 sweep',
      notes: 'looks promising',
    });
    const h = await s.wandb.reporter.open(ctx);
    await h.fail('judge endpoint (HTTP 401): invalid api key');
    expect(run.tags).toEqual(['mt-bench', 'default', 'baseline-candidate', 'evalhook']);
    expect(run.displayName).toBe('Alice: lr 1e-4 sweep');
    expect(run.notes).toBe('looks promising\n\nEvaluation failed: judge endpoint (HTTP 401): invalid api key');
    expect(run.logs).toEqual([
      expect.stringMatching(/^ERROR \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6} evaluation failed: judge endpoint/),
    ]);
  });

  it('console lines are appended after the lines already there', async () => {
    s = await setup();
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const ctx = runContext(artifact);
    (await s.wandb.reporter.open(ctx)).release?.();
    const run = s.wb.evalRuns()[0]!;
    run.logs.push('2026-11-30T00:00:00.000000 an earlier line');
    await (await s.wandb.reporter.open(ctx)).fail('vLLM exited\nRuntimeError: CUDA out of memory');
    expect(run.logs).toHaveLength(3);
    expect(run.logs[0]).toBe('2026-11-30T00:00:00.000000 an earlier line');
    expect(run.logs[2]).toMatch(/^ERROR \S+ RuntimeError: CUDA out of memory$/);
    expect(run.timeline.find((e) => e.log)?.log?.offset).toBe(1);
  });

  it('run URLs use WANDB_APP_URL when set, else the SDK rule', async () => {
    expect(apiToAppURL('https://api.wandb.ai')).toBe('https://wandb.ai');
    expect(apiToAppURL('https://api.wandb.io/')).toBe('https://wandb.io');
    expect(apiToAppURL('https://api.acme.example')).toBe('https://app.acme.example');
    expect(apiToAppURL('http://wandb.internal:8080')).toBe('http://wandb.internal:8080');
    s = await setup({}, { appURL: 'https://wandb.acme.example/' });
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const h = await s.wandb.reporter.open(runContext(artifact));
    expect(h.url).toBe(`https://wandb.acme.example/acme-team/evals/runs/${h.runId}`);
    h.release?.();
  });

  it('the fake refuses a post after complete as a resurrection and logs it', async () => {
    s = await setup();
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const h = await s.wandb.reporter.open(runContext(artifact));
    await h.finish(outcome(7));
    const run = s.wb.evalRuns()[0]!;
    const res = await fetch(`${s.wb.url}/files/${run.entity}/${run.project}/${run.name}/file_stream`, {
      method: 'POST',
      headers: {
        authorization: 'Basic ' + Buffer.from(`api:${s.wb.apiKey}`).toString('base64'),
        'content-type': 'application/json',
      },
      body: '{}',
    });
    expect(res.status).toBe(409);
    expect(s.wb.errors).toEqual([expect.stringMatching(/after complete .*resurrect/)]);
    expect(run.state).toBe('finished');
  });
});
