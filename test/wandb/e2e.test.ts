/**
 * The whole pipeline against the fake W&B: real Redis, real worker, fake candidate and judge. The
 * registry version triggers an evaluation; W&B ends up with one finished run, its tables, the input
 * edge and the metadata write-back, also after the same evaluation is reported twice.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { buildApp } from '../../src/server/app.js';
import { redisUrl } from '../helpers/redis.js';
import { startStack } from '../helpers/stack.js';
import { startFakeWandb, type FakeWandb } from '../fakes/wandb-server.js';
import { e2eFixture, peftAdapter, schemaMissing, twoTryWandb, wandbEnv } from './helpers.js';

type SeedArtifact = Parameters<FakeWandb['seedArtifact']>[0];

/** A PEFT adapter version (what the endpoint kind loads into vLLM at runtime) in `llama-sft`, linked into the registry. */
function seedLinked(w: FakeWandb, collection: string, over: Partial<SeedArtifact> = {}) {
  const src = w.seedArtifact({
    entity: 'acme-team',
    project: 'llama-sft',
    collection,
    files: peftAdapter(64, 1),
    ...over,
  });
  return { src, linked: w.linkToRegistry(src, { collection }) };
}

describe.skipIf(schemaMissing)('pipeline -> W&B (fake W&B, real Redis)', () => {
  const e2e = e2eFixture();

  it('a registry version ends as one finished run with tables, lineage and metadata write-back', async () => {
    e2e.wb = await startFakeWandb();
    const { src, linked } = seedLinked(e2e.wb, 'llama-ft', { metadata: { epoch: 1 }, sourceRun: { name: 'train-1' } });
    e2e.stack = await startStack({
      redisUrl: redisUrl(),
      vllm: {},
      env: wandbEnv(e2e.wb),
    });
    await e2e.stack.startWorker();
    const id = await e2e.stack.enqueue(linked.fullName);
    expect(await e2e.stack.finished(id)).toBe('completed');

    const runs = e2e.wb.evalRuns();
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run).toMatchObject({ state: 'finished', project: 'evals', group: 'train-1' });
    expect(run.summary['mtbench/score']).toBe(7);
    expect(run.summary.mtbench_output_table).toMatchObject({ _type: 'table-file', nrows: 160 });
    expect(run.summary.mtbench_radar_table).toMatchObject({ _type: 'table-file' });
    expect(run.inputArtifacts.map((e) => e.artifactId)).toEqual([src.id]);
    expect(run.history.length).toBeGreaterThan(0);
    expect(e2e.wb.artifact(src.id).metadata).toMatchObject({ epoch: 1, mtbench: { score: 7 } });
    const view = await e2e.stack.service.get(id);
    expect(view?.runUrl).toContain(`/evals/runs/${run.name}`);
  });

  it('a report that fails and is retried by the job still leaves exactly one finished run', async () => {
    e2e.wb = await startFakeWandb();
    const { linked } = seedLinked(e2e.wb, 'llama-ft');
    e2e.stack = await startStack({
      redisUrl: redisUrl(),
      vllm: {},
      env: wandbEnv(e2e.wb),
    });
    const wandb = twoTryWandb(e2e.wb);
    await e2e.stack.startWorker({ artifacts: wandb.artifacts, reporter: wandb.reporter });
    e2e.wb.fail({ status: 503, times: 3, match: 'graphql', operation: 'CreateRunFiles' });
    const id = await e2e.stack.enqueue(linked.fullName);
    expect(await e2e.stack.finished(id)).toBe('completed');
    expect(e2e.wb.requests.filter((r) => r.operationName === 'CreateRunFiles' && r.status === 503)).toHaveLength(3);
    const runs = e2e.wb.evalRuns();
    expect(runs).toHaveLength(1);
    expect(runs[0]!.state).toBe('finished');
    expect(runs[0]!.summary['mtbench/score']).toBe(7);
    expect(runs[0]!.inputArtifacts).toHaveLength(1);
    expect(e2e.stack.judge.requests).toHaveLength(160);
  });

  it('a webhook for a registry version, delivered twice, and a W&B outage during reporting: one finished run, nothing re-judged', async () => {
    e2e.wb = await startFakeWandb();
    const { src, linked } = seedLinked(e2e.wb, 'llama ft', { metadata: { epoch: 3 }, sourceRun: { name: 'train-7' } });
    e2e.stack = await startStack({
      redisUrl: redisUrl(),
      vllm: {},
      env: wandbEnv(e2e.wb, { JOB_BACKOFF_MS: '500' }),
      judge: { latencyMs: 30 },
    });
    const wandb = twoTryWandb(e2e.wb);
    await e2e.stack.startWorker({ artifacts: wandb.artifacts, reporter: wandb.reporter });
    const app = buildApp({ config: e2e.stack.config, service: e2e.stack.service, logger: pino({ level: 'silent' }) });
    const deliver = () =>
      app.inject({
        method: 'POST',
        url: '/webhooks/wandb',
        headers: { authorization: `Bearer ${e2e.stack!.env.WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
        payload: JSON.stringify({
          event_type: 'LINK_ARTIFACT',
          event_author: 'alice',
          entity_name: 'acme-org',
          project_name: 'wandb-registry-model',
          artifact_collection_name: 'llama ft',
          artifact_version: src.nodeId,
          artifact_version_string: linked.fullName,
          alias: '',
        }),
      });
    const first = await deliver();
    expect(first.statusCode).toBe(202);
    const id = (first.json() as { evaluationId: string }).evaluationId;
    const done = e2e.stack.finished(id);
    // W&B goes down the moment the last judgment is asked for: reporting fails and is retried alone.
    await e2e.stack.judge.waitForRequests(160);
    e2e.wb.down();
    const retried = new Promise<void>((resolve) => {
      e2e.stack!.events.on('delayed', ({ jobId }) => {
        if (jobId === id) resolve();
      });
    });
    await retried;
    e2e.wb.up();
    const again = await deliver();
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ evaluationId: id, duplicate: true });
    expect(await done).toBe('completed');

    const runs = e2e.wb.evalRuns();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ state: 'finished', group: 'train-7' });
    expect(runs[0]!.summary['mtbench/score']).toBe(7);
    expect(runs[0]!.inputArtifacts.map((e) => e.artifactId)).toEqual([src.id]);
    expect(e2e.wb.artifact(src.id).metadata).toMatchObject({ epoch: 3, mtbench: { score: 7 } });
    expect(e2e.stack.judge.requests).toHaveLength(160);
    expect((await e2e.stack.service.get(id))?.attempts).toBeGreaterThanOrEqual(2);
    await app.close(); // closes the service too
  });
});
