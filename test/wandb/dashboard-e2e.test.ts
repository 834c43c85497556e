/**
 * The dashboard end to end: real Redis, real worker, fake W&B keeping views and presets. After each
 * evaluation the project's workspace view, report and radar preset exist exactly once, are updated in
 * place, keep what a person added, leave a person's report edit alone, and never fail the evaluation.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { createRedisDashboardStore } from '../../src/jobs/dashboard-store.js';
import { buildApp } from '../../src/server/app.js';
import { DashboardSync } from '../../src/wandb/dashboard/index.js';
import { WandbClient } from '../../src/wandb/index.js';
import { redisUrl } from '../helpers/redis.js';
import { startStack } from '../helpers/stack.js';
import { startFakeWandb } from '../fakes/wandb-server.js';
import { hasPath, referencedKeys } from './dashboard-keys.js';
import { e2eFixture, peftAdapter, schemaMissing, wandbEnv } from './helpers.js';

type Json = Record<string, unknown>;
const sectionsOf = (spec: Json) => ((spec.section as Json).panelBankConfig as Json).sections as Json[];

describe.skipIf(schemaMissing)('dashboard in W&B (fake W&B, real Redis, real worker)', () => {
  const e2e = e2eFixture();

  /** Two checkpoints (epochs 1 and 2) of one training run, linked into the registry. */
  async function setup(env: Record<string, string> = {}) {
    e2e.wb = await startFakeWandb();
    const versions = [1, 2].map((epoch) => {
      const src = e2e.wb!.seedArtifact({
        entity: 'acme-team',
        project: 'llama-sft',
        collection: 'llama-ft',
        files: peftAdapter(32, epoch),
        metadata: { epoch },
        sourceRun: { name: 'train-1' },
      });
      return { src, linked: e2e.wb!.linkToRegistry(src, { collection: 'llama-ft' }) };
    });
    e2e.stack = await startStack({
      redisUrl: redisUrl(),
      vllm: {},
      env: wandbEnv(e2e.wb, env),
    });
    await e2e.stack.startWorker();
    return versions;
  }

  async function evaluate(fullName: string) {
    const id = await e2e.stack!.enqueue(fullName);
    expect(await e2e.stack!.finished(id)).toBe('completed');
    return (await e2e.stack!.service.get(id))!;
  }

  const views = (type: string) => e2e.wb!.state.views.ofType(type);

  it('creates one workspace view, one report and one radar preset, then updates them in place for the next checkpoint', async () => {
    const [v1, v2] = await setup();
    const first = await evaluate(v1!.linked.fullName);

    expect(views('project-view')).toHaveLength(1);
    expect(views('runs')).toHaveLength(1);
    expect([...e2e.wb!.state.views.charts.keys()]).toEqual(['acme-team/mtbench-radar']);
    const ws = views('project-view')[0]!;
    const report = views('runs')[0]!;
    expect(ws).toMatchObject({ entity: 'acme-team', project: 'evals', name: 'nw-evalhookmtbench-v' });
    expect(report).toMatchObject({ entity: 'acme-team', project: 'evals', displayName: 'MT-Bench — evals' });
    expect(first.status).toBe('succeeded');
    expect(first.warnings).toBeUndefined();
    expect(first.dashboard).toEqual({
      workspaceUrl: `${e2e.wb!.url}/acme-team/evals?nw=evalhookmtbench`,
      reportUrl: `${e2e.wb!.url}/acme-team/evals/reports/MT-Bench-evals--${report.id.replace(/=/g, '')}`,
    });
    // The registry write-back links the report next to the score.
    expect(e2e.wb!.artifact(v1!.src.id).metadata).toMatchObject({
      mtbench: { score: 7, report_url: first.dashboard!.reportUrl },
    });
    const radarPanels = sectionsOf(e2e.wb!.state.views.parsed(ws.id))
      .flatMap((s) => s.panels as Json[])
      .filter((p) => p.viewType === 'Vega2');
    expect(radarPanels.map((p) => (p.config as Json).panelDefId)).toEqual(['acme-team/mtbench-radar']);
    // Every summary and config key the stored specs read is on the run the pipeline logged.
    const run = e2e.wb!.evalRuns()[0]!;
    for (const v of e2e.wb!.state.views.views) {
      const keys = referencedKeys(e2e.wb!.state.views.parsed(v.id));
      expect([...keys.summary].filter((k) => !(k in run.summary))).toEqual([]);
      expect([...keys.config].filter((k) => !hasPath(run.config, k))).toEqual([]);
      expect(keys.config.size).toBe(3);
    }
    expect(run).toMatchObject({ group: 'train-1', config: { benchmark: { name: 'mt-bench' }, epoch: 1 } });

    const wsUpdatedAt = ws.updatedAt;
    const reportUpdatedAt = report.updatedAt;
    const second = await evaluate(v2!.linked.fullName);

    expect(views('project-view').map((v) => v.id)).toEqual([ws.id]);
    expect(views('runs').map((v) => v.id)).toEqual([report.id]);
    expect(e2e.wb!.state.views.charts.size).toBe(1);
    expect(second.dashboard).toEqual(first.dashboard);
    // The report names the latest checkpoint, so it was rewritten in place; the unchanged workspace was not.
    expect(report.updatedAt > reportUpdatedAt).toBe(true);
    expect(JSON.stringify(e2e.wb!.state.views.parsed(report.id))).toContain('llama-ft:v1');
    expect(ws.updatedAt).toBe(wsUpdatedAt);
    expect(e2e.wb!.requests.filter((r) => r.operationName === 'CreateCustomChart')).toHaveLength(1);
  });

  it("keeps a person's workspace section and run-set filter, and writes a new report beside one a person edited", async () => {
    const [v1, v2] = await setup();
    await evaluate(v1!.linked.fullName);
    const ws = views('project-view')[0]!;
    const report = views('runs')[0]!;

    const userSection = {
      __id__: 'user-notes',
      name: 'My notes',
      isOpen: true,
      type: 'flow',
      panels: [
        { __id__: 'n1', viewType: 'Markdown Panel', config: { value: 'mine' }, layout: { x: 0, y: 0, w: 8, h: 6 } },
      ],
    };
    const userFilter = {
      op: 'OR',
      filters: [
        {
          op: 'AND',
          filters: [{ op: '=', key: { section: 'run', name: 'state' }, value: 'finished', disabled: false }],
        },
      ],
    };
    e2e.wb!.state.views.userEdit(ws.id, (spec) => {
      sectionsOf(spec).push(userSection);
      ((spec.section as Json).runSets as Json[])[0]!.filters = userFilter;
      return spec;
    });
    e2e.wb!.state.views.userEdit(report.id, (spec) => ({
      ...spec,
      blocks: [{ type: 'paragraph', children: [{ text: 'edited by a person' }] }],
    }));
    const editedReport = report.spec;

    const second = await evaluate(v2!.linked.fullName);
    expect(second.status).toBe('succeeded');
    expect(report.spec).toBe(editedReport);
    const reports = views('runs');
    expect(reports).toHaveLength(2);
    const fresh = reports.find((r) => r.id !== report.id)!;
    expect(second.dashboard?.reportUrl).toContain(fresh.id.replace(/=/g, ''));
    expect(second.warnings?.join('\n')).toMatch(/was edited in W&B after evalhook's last write/);

    // A rebuild by hand rewrites evalhook's sections and nothing else.
    const app = buildApp({
      config: e2e.stack!.config,
      service: e2e.stack!.service,
      logger: pino({ level: 'silent' }),
      dashboards: new DashboardSync(
        new WandbClient({ apiKey: e2e.wb!.apiKey, baseURL: e2e.wb!.url }),
        createRedisDashboardStore(e2e.stack!.redis, e2e.stack!.env.QUEUE_PREFIX!),
      ),
    });
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/dashboards/sync',
      headers: { authorization: `Bearer ${e2e.stack!.env.ADMIN_TOKEN}` },
      payload: { project: 'evals' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      entity: 'acme-team',
      project: 'evals',
      workspaceUrl: `${e2e.wb!.url}/acme-team/evals?nw=evalhookmtbench`,
      reportUrl: second.dashboard!.reportUrl,
      warnings: [],
    });
    expect(views('project-view')).toHaveLength(1);
    expect(views('runs')).toHaveLength(2);
    const spec = e2e.wb!.state.views.parsed(ws.id);
    const ids = sectionsOf(spec).map((s) => s.__id__);
    expect(ids).toContain('user-notes');
    expect(ids.filter((i) => String(i).startsWith('evalhook-'))).toEqual([
      'evalhook-mtbench-progress',
      'evalhook-mtbench-categories',
      'evalhook-mtbench-questions',
    ]);
    expect(((spec.section as Json).runSets as Json[])[0]!.filters).toEqual(userFilter);
    // The admin API shows the links and says why a new report was written.
    const got = await app.inject({
      method: 'GET',
      url: `/api/v1/evaluations/${second.id}`,
      headers: { authorization: `Bearer ${e2e.stack!.env.ADMIN_TOKEN}` },
    });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      status: 'succeeded',
      dashboard: second.dashboard,
      warnings: [expect.stringMatching(/was edited in W&B/)],
    });
    await app.close();
  });

  it('a refused upsertView leaves a succeeded evaluation with the reason as a warning', async () => {
    const [v1] = await setup();
    e2e.wb!.deny('UpsertView', 'permission denied: view-only member');
    const view = await evaluate(v1!.linked.fullName);
    expect(view.status).toBe('succeeded');
    expect(view.scores?.average).toBe(7);
    expect(view.warnings?.join('\n')).toMatch(/workspace view not written: .*permission denied: view-only member/);
    expect(view.warnings?.join('\n')).toMatch(/report not written: .*permission denied/);
    expect(e2e.wb!.state.views.views).toHaveLength(0);
    expect(view.dashboard).toBeUndefined();
    expect(e2e.wb!.artifact(v1!.src.id).metadata).toMatchObject({ mtbench: { score: 7 } });
  });

  it('WANDB_DASHBOARD=off writes nothing', async () => {
    const [v1] = await setup({ WANDB_DASHBOARD: 'off' });
    const view = await evaluate(v1!.linked.fullName);
    expect(view.status).toBe('succeeded');
    expect(e2e.wb!.state.views.views).toHaveLength(0);
    expect(e2e.wb!.state.views.charts.size).toBe(0);
    expect(e2e.wb!.requests.some((r) => r.operationName === 'FindViews' || r.operationName === 'CustomChartById')).toBe(
      false,
    );
  });
});
