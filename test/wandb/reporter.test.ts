import { afterEach, describe, expect, it, vi } from 'vitest';
import { runIdFor } from '../../src/wandb/index.js';
import type { FakeRun } from '../fakes/wandb-server.js';
import { outcome, runContext, schemaMissing, setup } from './helpers.js';

type Setup = Awaited<ReturnType<typeof setup>>;
let s: Setup | undefined;
afterEach(async () => {
  await s?.wb.close();
  s = undefined;
});

async function opened(fake = {}) {
  s = await setup(fake);
  const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
  const ctx = runContext(artifact);
  return { s, ctx, artifact };
}

function table(run: FakeRun, key: string): { columns: string[]; data: unknown[][] } {
  const ref = run.summary[key] as { _type: string; path: string; nrows: number };
  expect(ref._type).toBe('table-file');
  const f = run.files.get(ref.path);
  expect(f?.uploaded).toBe(true);
  return JSON.parse(f!.content!.toString('utf8')) as { columns: string[]; data: unknown[][] };
}

describe.skipIf(schemaMissing)('evaluation run', () => {
  it('open -> logProgress -> finish leaves one finished run with config, summary, tables and the input edge', async () => {
    const { s, ctx, artifact } = await opened();
    const h = await s.wandb.reporter.open(ctx);
    expect(h.runId).toBe(runIdFor('eval-1'));
    expect(h.url).toBe(`${s.wb.url}/acme-team/evals/runs/${h.runId}`);
    await h.logProgress({ 'progress/answers': 2 });
    await h.logProgress({ 'progress/answers': 4 });
    await h.finish(outcome(7.25));

    const runs = s.wb.evalRuns();
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run).toMatchObject({
      entity: 'acme-team',
      project: 'evals',
      name: h.runId,
      jobType: 'mtbench-eval',
      group: 'train-abc123',
      state: 'finished',
      exitcode: 0,
    });
    expect(run.config).toMatchObject({
      evaluation_id: 'eval-1',
      artifact: { name: 'acme-org/wandb-registry-model/llama-ft:v0', version: 'v0', digest: artifact.digest },
      benchmark: { name: 'mt-bench', checksums: { 'question.jsonl': 'abc' } },
      judge: { model: 'judge-model-1' },
      checkpoint: { epoch: 3 },
      epoch: 3,
      source_run: { name: 'train-abc123' },
    });
    expect(JSON.stringify(run.config)).not.toContain('sk-should-never-appear');
    expect(run.config).toMatchObject({ generation: { max_tokens: 1024 } });
    expect(run.history.map((r) => [r._step, r['progress/answers'], r.epoch])).toEqual([
      [0, 2, 3],
      [1, 4, 3],
      [2, undefined, 3],
    ]);
    // run.log({scores, tables}): the final row holds the mtbench/* scores and both tables; the summary's _step is its step.
    expect(run.history[2]).toMatchObject({
      'mtbench/score': 7.25,
      'mtbench/writing': 7.25,
      mtbench_output_table: { _type: 'table-file' },
      mtbench_radar_table: { _type: 'table-file' },
    });
    expect(run.summary).toMatchObject({ _step: 2, 'progress/answers': 4, _wandb: { runtime: expect.any(Number) } });
    expect(run.summary).toMatchObject({
      'mtbench/score': 7.25,
      'mtbench/turn1': 7.25,
      'mtbench/turn2': 7.25,
      'mtbench/writing': 7.25,
      'mtbench/math': 7.25,
      'mtbench/score_ci95_low': 6.75,
      'mtbench/n_invalid': 0,
      'cost/usd': 0.01,
      epoch: 3,
    });
    const out = table(run, 'mtbench_output_table');
    // Nejumi 4's mtbench_output_table, column by column in its order, with the first judge call's row.
    const firstRow = {
      model_name: 'cand',
      question_id: 81,
      category: 'writing',
      question: 'Write a blog post.',
      answer: 'answer 81.1',
      judge_model: 'judge-model-1',
      judge_prompt_template: 'single-v1',
      judge_prompt: 'judge 81.1',
      judgment: 'Rating: [[7]]',
      score: 7,
      turn: 1,
      tstamp: 1700000101,
      sub_category: 'creation',
    };
    expect(out.columns).toEqual(Object.keys(firstRow));
    expect(out.data).toHaveLength(4);
    expect(out.data[0]).toEqual(Object.values(firstRow));
    expect(table(run, 'mtbench_radar_table')).toEqual({
      columns: ['category', 'score'],
      data: [
        ['math', 7.25],
        ['writing', 7.25],
      ],
    });
    expect(run.inputArtifacts).toEqual([
      { artifactId: artifact.id, artifactEntityName: 'acme-org', artifactProjectName: 'wandb-registry-model' },
    ]);
    // Each table is also a committed run_table artifact the summary points at (B3).
    const outputs = run.outputArtifacts.map((id) => s.wb.artifact(id));
    expect(outputs.map((a) => [a.collection, a.type, a.state]).sort()).toEqual([
      [`run-${h.runId}-mtbench_output_table`, 'run_table', 'COMMITTED'],
      [`run-${h.runId}-mtbench_radar_table`, 'run_table', 'COMMITTED'],
    ]);
    const radar = outputs.find((a) => a.collection.endsWith('radar_table'))!;
    expect(run.summary.mtbench_radar_table).toMatchObject({
      artifact_path: `wandb-artifact://${Buffer.from(radar.id, 'base64').toString('hex')}/mtbench_radar_table.table.json`,
      _latest_artifact_path: expect.stringMatching(
        /^wandb-client-artifact:\/\/[0-9a-z]{128}:latest\/mtbench_radar_table\.table\.json$/,
      ),
    });
    expect(JSON.parse(radar.files.get('mtbench_radar_table.table.json')!.toString())).toMatchObject({
      _type: 'table',
      nrows: 2,
      column_types: { wb_type: 'typedDict' },
    });
    // Storage PUTs carried no W&B auth.
    expect(s.wb.requests.filter((r) => r.path.startsWith('/storage/upload')).every((r) => !r.hadAuth)).toBe(true);
  });

  it('a finished run is left alone: a reopen neither finishes nor logs to it again', async () => {
    const { s, ctx } = await opened();
    const h1 = await s.wandb.reporter.open(ctx);
    await h1.logProgress({ 'progress/answers': 1 });
    await h1.finish(outcome(6));
    const upserts = () => s.wb.requests.filter((r) => r.operationName === 'UpsertBucket').length;
    const before = upserts();
    const h2 = await s.wandb.reporter.open(ctx);
    expect(upserts()).toBe(before); // not even its config or tags are touched
    await h2.logProgress({ 'progress/answers': 2 });
    await h2.finish(outcome(6.5));
    await h2.fail('late failure');
    const runs = s.wb.evalRuns();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ state: 'finished', exitcode: 0 });
    expect(runs[0]!.summary['mtbench/score']).toBe(6);
    expect(runs[0]!.history.map((r) => r._step)).toEqual([0, 1]);
    expect(runs[0]!.timeline.filter((e) => e.complete)).toHaveLength(1);
    expect(s.wb.errors).toEqual([]);
  });

  it('a finish retried with identical results adds no table artifact versions (digest dedup)', async () => {
    const { s, ctx } = await opened();
    // The first finish gets its tables out but W&B refuses its `complete` post: the job's next attempt finishes.
    s.wb.fail({ status: 400, times: 1, match: 'file_stream' });
    await expect((await s.wandb.reporter.open(ctx)).finish(outcome(6))).rejects.toThrow(/HTTP 400/);
    expect(s.wb.evalRuns()[0]!.state).toBe('running');
    await (await s.wandb.reporter.open(ctx)).finish(outcome(6));
    expect(s.wb.evalRuns()[0]!.state).toBe('finished');
    expect(s.wb.state.collections.filter((c) => c.name.startsWith('run-')).map((c) => c.memberships.length)).toEqual([
      1, 1,
    ]);
    expect(s.wb.evalRuns()[0]!.summary.mtbench_output_table).toMatchObject({
      artifact_path: expect.stringMatching(/^wandb-artifact:\/\//),
    });
  });

  it('a reopen without the inference target keeps the config an earlier open recorded', async () => {
    const { s, ctx } = await opened();
    await s.wandb.reporter.open({
      ...ctx,
      config: { ...ctx.config, inference: { kind: 'endpoint', model: 'lora-7' } },
    });
    await s.wandb.reporter.open({ ...ctx, config: { judge: { model: 'judge-model-2' } } });
    const run = s.wb.evalRuns()[0]!;
    expect(run.config).toMatchObject({
      inference: { kind: 'endpoint', model: 'lora-7' },
      judge: { model: 'judge-model-2' },
      evaluation_id: 'eval-1',
    });
  });

  it('sends file_stream heartbeats while the run is held, also after long quiet, and none after finish', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      s = await setup({}, { heartbeatMs: 1000 });
      const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
      const h = await s.wandb.reporter.open(runContext(artifact));
      const run = s.wb.evalRuns()[0]!;
      vi.advanceTimersByTime(1000);
      await vi.waitFor(() => expect(run.heartbeats).toBe(1));
      // A slow evaluation: hours without a progress row still beat (the old timer gave up after 30 min).
      vi.setSystemTime(Date.now() + 3 * 3600_000);
      vi.advanceTimersByTime(1000);
      await vi.waitFor(() => expect(run.heartbeats).toBe(2));
      await h.finish(outcome(7));
      vi.advanceTimersByTime(5000);
      await s.wandb.reporter.open(runContext(artifact)); // a round trip, so a stray beat would have landed
      expect(run.heartbeats).toBe(2);
      const last = run.timeline.at(-1)!;
      expect(last).toMatchObject({ complete: true, status: 200 });
      expect(s.wb.errors).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a released handle stops beating: an attempt that ends without finishing leaves no heartbeat behind', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      s = await setup({}, { heartbeatMs: 1000 });
      const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
      const h = await s.wandb.reporter.open(runContext(artifact));
      h.release?.();
      vi.advanceTimersByTime(5000);
      await s.wandb.reporter.open(runContext(artifact)).then((x) => x.release?.());
      expect(s.wb.evalRuns()[0]!.heartbeats).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('fail() finishes the run as failed with the reason in summary, log and notes', async () => {
    const { s, ctx } = await opened();
    const h = await s.wandb.reporter.open(ctx);
    await h.fail('judge endpoint (HTTP 401): invalid api key');
    const run = s.wb.evalRuns()[0]!;
    expect(run.state).toBe('failed');
    expect(run.exitcode).toBe(1);
    expect(run.summary['evalhook/failure_reason']).toBe('judge endpoint (HTTP 401): invalid api key');
    expect(run.notes).toContain('invalid api key');
    expect(run.logs.join('\n')).toContain('invalid api key');
  });

  it('fail() after finish does not reopen the run: one exit, scores kept', async () => {
    const { s, ctx } = await opened();
    await (await s.wandb.reporter.open(ctx)).finish(outcome(2));
    await (await s.wandb.reporter.open(ctx)).fail('too many invalid judgments');
    const run = s.wb.evalRuns()[0]!;
    expect(run.state).toBe('finished');
    expect(run.summary['mtbench/score']).toBe(2);
    expect(run.timeline.filter((e) => e.complete)).toHaveLength(1);
    expect(s.wb.errors).toEqual([]);
  });

  it('finish with a decided failure: results and reason in one exit with code 1', async () => {
    const { s, ctx } = await opened();
    const h = await s.wandb.reporter.open(ctx);
    await h.finish(outcome(2), { failure: '30 of 160 judgments had no parsable score\ncheck the judge' });
    const run = s.wb.evalRuns()[0]!;
    expect(run).toMatchObject({ state: 'failed', exitcode: 1 });
    expect(run.summary).toMatchObject({ 'mtbench/score': 2, 'evalhook/failed': true });
    expect(run.timeline.filter((e) => e.complete)).toEqual([expect.objectContaining({ exitcode: 1 })]);
    expect(run.logs).toEqual([
      expect.stringMatching(/^ERROR \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6} evaluation failed: 30 of 160/),
      expect.stringMatching(/^ERROR \S+ check the judge$/),
    ]);
  });

  it('retries a W&B 5xx/429 burst and still finishes', async () => {
    const { s, ctx } = await opened();
    s.wb.fail({ status: 503, times: 3, match: 'graphql' });
    const h = await s.wandb.reporter.open(ctx);
    s.wb.fail({ status: 429, times: 2, match: 'file_stream' });
    await h.finish(outcome(7));
    expect(s.wb.evalRuns()[0]!.state).toBe('finished');
    expect(s.wb.requests.filter((r) => r.status === 503)).toHaveLength(3);
  });

  it('does not retry a 401 and marks the error final', async () => {
    const { s, ctx } = await opened();
    s.wb.fail({ status: 401, times: 5, match: 'graphql' });
    const err = (await s.wandb.reporter.open(ctx).catch((e: unknown) => e)) as { retryable?: boolean };
    expect(err.retryable).toBe(false);
    expect(s.wb.requests.filter((r) => r.status === 401)).toHaveLength(1);
  });

  it('logProgress never throws, even with W&B down', async () => {
    const { s, ctx } = await opened();
    const h = await s.wandb.reporter.open(ctx);
    // W&B refuses the row for good (not retryable): dropped, logged, never thrown.
    s.wb.fail({ status: 400, times: 1, match: 'file_stream' });
    await expect(h.logProgress({ x: 1 })).resolves.toBeUndefined();
    await h.logProgress({ x: 2 });
    expect(s.wb.evalRuns()[0]!.history.map((r) => r.x)).toEqual([2]);
  });

  it('on an old server: UseArtifact without source fields and uploads announced via file_stream', async () => {
    const { s, ctx, artifact } = await opened({ schema: 'legacy' });
    const h = await s.wandb.reporter.open(ctx);
    await h.finish(outcome(7));
    const run = s.wb.evalRuns()[0]!;
    expect(run.inputArtifacts).toEqual([{ artifactId: artifact.id }]);
    expect([...run.files.values()].every((f) => f.uploaded)).toBe(true);
    expect(s.wb.requests.some((r) => r.operationName === 'MarkRunFilesUploaded')).toBe(false);
  });

  it('never logs the API key, even while retrying failures', async () => {
    const lines: string[] = [];
    const log = (o: object, m?: string) => void lines.push(JSON.stringify(o) + ' ' + (m ?? ''));
    s = await setup({}, { logger: { info: log, warn: log, error: log, debug: log } });
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    s.wb.fail({ status: 502, times: 2 });
    const h = await s.wandb.reporter.open(runContext(artifact));
    s.wb.fail({ status: 503, times: 2, match: 'file_stream' });
    await h.logProgress({ x: 1 });
    await h.finish(outcome(7));
    expect(lines.length).toBeGreaterThan(3);
    const all = lines.join('\n');
    expect(all).not.toContain(s.wb.apiKey);
    expect(all).not.toContain(Buffer.from(`api:${s.wb.apiKey}`).toString('base64'));
    expect(all).not.toContain('X-Signature');
  });
});
