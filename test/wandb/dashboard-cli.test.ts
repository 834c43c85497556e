/**
 * `evalhook dashboard` and the dashboard settings: dry run prints both specs without contacting W&B,
 * offline writes them to the results directory, online rebuilds and prints the URLs; WANDB_DASHBOARD
 * and the per-profile override, title and description.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboardCommand } from '../../src/cli/dashboard.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { projectRequest } from '../../src/wandb/dashboard/index.js';
import { startFakeWandb, type FakeWandb } from '../fakes/wandb-server.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { evaluateOnce, startStack } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { schemaMissing } from './helpers.js';

const base = {
  WEBHOOK_TOKEN: 'webhook-token-0123456789',
  ADMIN_TOKEN: 'admin-token-0123456789ab',
  NODE_ENV: 'test',
  WANDB_PROJECT: 'evals',
};

/** Two profiles logging to one project: English and Japanese, one with its own report title. */
function rulesFile(): string {
  const file = join(tempDir('dash-cli'), 'rules.json');
  writeFileSync(
    file,
    JSON.stringify({
      profiles: [
        {
          name: 'ja',
          benchmark: 'japanese-mt-bench',
          judge: { model: 'judge-ja' },
          dashboard: { views: 'report', reportTitle: 'Llama 3.1 fine-tunes', reportDescription: 'EN + JA' },
        },
      ],
    }),
  );
  return file;
}

async function run(args: string[], env: Record<string, string>) {
  let out = '';
  let err = '';
  const code = await dashboardCommand(args, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
  });
  return { code, out, err };
}

describe('evalhook dashboard', () => {
  let wb: FakeWandb | undefined;
  afterEach(async () => {
    await wb?.close();
    wb = undefined;
  });

  it.skipIf(schemaMissing)(
    '--dry-run prints the workspace and report specs as JSON and sends nothing to W&B',
    async () => {
      wb = await startFakeWandb();
      const r = await run(['--entity', 'acme-team', '--project', 'evals', '--dry-run'], {
        ...base,
        WANDB_API_KEY: wb.apiKey,
        WANDB_BASE_URL: wb.url,
        EVALHOOK_CONFIG: rulesFile(),
        EVALHOOK_DATA_DIR: tempDir('dash-cli'),
      });
      expect(r.code).toBe(0);
      const printed = JSON.parse(r.out) as {
        entity: string;
        workspaces: Record<string, { section: unknown }>;
        report: { version: number; blocks: Array<{ type: string }> };
      };
      expect(printed.entity).toBe('acme-team');
      expect(Object.keys(printed.workspaces)).toEqual(['mt-bench', 'japanese-mt-bench']);
      expect(printed.report.version).toBe(5);
      expect(printed.report.blocks.filter((b) => b.type === 'panel-grid')).toHaveLength(4);
      expect(wb.requests).toHaveLength(0);
    },
  );

  it('offline (no WANDB_API_KEY) writes the specs to the results directory', async () => {
    const dataDir = tempDir('dash-cli');
    const r = await run(['--project', 'evals'], { ...base, EVALHOOK_DATA_DIR: dataDir });
    expect(r.code).toBe(0);
    const dir = join(dataDir, 'results', 'dashboard', 'evals');
    expect(JSON.parse(r.out)).toEqual({ offline: true, localDir: dir });
    expect(readdirSync(dir).sort()).toEqual(['report.json', 'workspace-mtbench.json']);
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'))).toMatchObject({ version: 5 });
  });

  it.skipIf(schemaMissing)('rebuilds the dashboard in W&B and prints the URLs', async () => {
    wb = await startFakeWandb();
    const r = await run(['--project', 'evals'], {
      ...base,
      WANDB_API_KEY: wb.apiKey,
      WANDB_BASE_URL: wb.url,
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: uniquePrefix('dash-cli'),
      EVALHOOK_DATA_DIR: tempDir('dash-cli'),
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const report = wb.state.views.ofType('runs')[0]!;
    expect(JSON.parse(r.out)).toMatchObject({
      entity: 'acme-team',
      project: 'evals',
      workspaceUrl: `${wb.url}/acme-team/evals?nw=evalhookmtbench`,
      reportUrl: `${wb.url}/acme-team/evals/reports/MT-Bench-evals--${report.id.replace(/=/g, '')}`,
      warnings: [],
    });
    expect(wb.state.views.views).toHaveLength(2);
  });

  it('refuses a project name that is not a W&B name', async () => {
    const r = await run(['--project', '../etc'], base);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--project');
  });
});

describe('dashboard settings', () => {
  it('WANDB_DASHBOARD: both by default, one part, off; anything else is a config error naming it', () => {
    const views = (v?: string) =>
      loadConfig({ ...base, ...(v === undefined ? {} : { WANDB_DASHBOARD: v }) }).profiles.get('default')!.dashboard
        .views;
    expect(views()).toEqual(['workspace', 'report']);
    expect(views('report')).toEqual(['report']);
    expect(views('workspace, report')).toEqual(['workspace', 'report']);
    expect(views('off')).toEqual([]);
    expect(() => views('reports')).toThrow(ConfigError);
    expect(() => views('reports')).toThrow(/WANDB_DASHBOARD/);
  });

  it('a profile overrides the views and sets the report title and description; a rebuild combines every profile of the project', () => {
    const config = loadConfig({ ...base, WANDB_DASHBOARD: 'workspace', EVALHOOK_CONFIG: rulesFile() });
    expect(config.profiles.get('ja')!.dashboard).toEqual({
      views: ['report'],
      reportTitle: 'Llama 3.1 fine-tunes',
      reportDescription: 'EN + JA',
    });
    expect(config.profiles.get('default')!.dashboard.views).toEqual(['workspace']);
    expect(projectRequest(config, { project: 'evals' })).toMatchObject({
      project: 'evals',
      views: ['workspace', 'report'],
      benchmarks: ['mt-bench', 'japanese-mt-bench'],
      title: 'Llama 3.1 fine-tunes',
      description: 'EN + JA',
      force: true,
    });
  });
});

describe('offline worker', () => {
  it('writes the dashboard specs to the results directory after an evaluation and links them in the admin view', async () => {
    const stack = await startStack({ redisUrl: redisUrl() });
    try {
      await stack.startWorker();
      const { outcome, view } = await evaluateOnce(stack);
      expect(outcome).toBe('completed');
      const dir = view!.dashboard!.localDir!;
      expect(dir).toBe(join(stack.env.EVALHOOK_DATA_DIR!, 'results', 'dashboard', 'evalhook'));
      expect(readdirSync(dir).sort()).toEqual(['report.json', 'workspace-mtbench.json']);
      expect(JSON.parse(readFileSync(join(dir, 'workspace-mtbench.json'), 'utf8'))).toHaveProperty(
        'section.panelBankConfig.sections',
      );
      expect(view!.warnings).toBeUndefined();
    } finally {
      await stack.close();
    }
  });
});
