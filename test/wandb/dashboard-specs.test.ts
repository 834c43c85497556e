/**
 * The specs evalhook writes: they parse, follow the reference's structure (report `version: 5` with
 * `panel-grid` blocks carrying run sets; workspace `section.panelBankConfig.sections`, one run set,
 * no `version`), are deterministic, keep Japanese runs apart, read only keys evalhook's runs log, and
 * the radar preset renders one polygon per run with the `vega` package.
 */
import { describe, expect, it } from 'vitest';
import { CATEGORIES } from '../../src/wandb/dashboard/keys.js';
import { reportSpec } from '../../src/wandb/dashboard/spec-report.js';
import { mergeWorkspace, workspaceSpec } from '../../src/wandb/dashboard/spec-workspace.js';
import { reportUrl, workspaceUrl } from '../../src/wandb/dashboard/urls.js';
import { summaryMetrics } from '../../src/wandb/results.js';
import { runConfig } from '../../src/wandb/run.js';
import { radarRows, renderRadarSvg } from '../helpers/radar.js';
import { hasPath, referencedKeys } from './dashboard-keys.js';
import { runContext, summary } from './helpers.js';
import type { ResolvedArtifact } from '../../src/ports.js';

type Json = Record<string, unknown>;
const roundTrip = (v: unknown) => JSON.parse(JSON.stringify(v)) as Json;
const both = ['mt-bench', 'japanese-mt-bench'] as const;
const report = () =>
  roundTrip(
    reportSpec({
      entity: 'acme-team',
      project: 'evals',
      benchmarks: [...both],
      judgeModels: ['gpt-4.1-2025-04-14'],
      latest: {
        checkpoint: 'llama-ft:v3',
        trainingRun: 'train-1',
        epoch: 3,
        benchmark: 'mt-bench',
        score: 7.25,
        judgeModel: 'gpt-4.1-2025-04-14',
      },
    }),
  );
const grids = (spec: Json) => (spec.blocks as Json[]).filter((b) => b.type === 'panel-grid');
const gridPanels = (grid: Json) => ((grid.metadata as Json).panelBankSectionConfig as Json).panels as Json[];
const sections = (spec: Json) => ((spec.section as Json).panelBankConfig as Json).sections as Json[];
const filterValue = (runSet: Json) => JSON.stringify(runSet.filters).match(/"value":"([^"]+)"/)?.[1];

describe('report spec', () => {
  it('is version 5 with bracketing paragraphs, a markdown header and panel-grid blocks that each carry a run set', () => {
    const spec = report();
    expect(spec.version).toBe(5);
    const blocks = spec.blocks as Json[];
    expect(blocks[0]).toEqual({ type: 'paragraph', children: [{ text: '' }] });
    expect(blocks.at(-1)).toEqual({ type: 'paragraph', children: [{ text: '' }] });
    expect(blocks[1]).toMatchObject({ type: 'markdown-block' });
    expect(String(blocks[1]!.content)).toMatch(
      /Judge:.*gpt-4\.1-2025-04-14[\s\S]*How to read the scores[\s\S]*llama-ft:v3.*train-1.*epoch 3.*7\.25/,
    );
    expect(grids(spec)).toHaveLength(4);
    for (const g of grids(spec)) {
      const meta = g.metadata as Json;
      expect(meta.runSets).toHaveLength(1);
      expect((meta.runSets as Json[])[0]).toMatchObject({
        sort: { keys: [{ key: { section: 'summary', name: 'mtbench/score' }, ascending: false }] },
      });
      expect(gridPanels(g).length).toBeGreaterThan(0);
    }
    expect(
      grids(spec)
        .flatMap(gridPanels)
        .map((p) => p.viewType)
        .sort(),
    ).toEqual(
      [
        'Bar Chart',
        'Bar Chart',
        'Run History Line Plot',
        'Run History Line Plot',
        'Scalar Chart',
        'Scalar Chart',
        'Scatter Plot',
        'Scatter Plot',
        'Vega2',
        'Vega2',
        'Weave',
        'Weave',
      ].sort(),
    );
  });

  it('is deterministic and every panel, run set and section id is unique and evalhook-owned', () => {
    expect(report()).toEqual(report());
    const ids = [...JSON.stringify(report()).matchAll(/"(?:__id__|id)":"([^"]+)"/g)].map((m) => m[1]!);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((i) => i.startsWith('evalhook-'))).toBe(true);
  });

  it('gives Japanese MT-Bench its own grids, filtered to its runs, never mixed with English', () => {
    const spec = report();
    const headings = (spec.blocks as Json[])
      .filter((b) => b.type === 'heading')
      .map((b) => (b.children as Json[])[0]!.text);
    expect(headings).toEqual([
      'MT-Bench leaderboard',
      'MT-Bench: progress per training run',
      'Japanese MT-Bench leaderboard',
      'Japanese MT-Bench: progress per training run',
    ]);
    expect(grids(spec).map((g) => filterValue(((g.metadata as Json).runSets as Json[])[0]!))).toEqual([
      'mt-bench',
      'mt-bench',
      'japanese-mt-bench',
      'japanese-mt-bench',
    ]);
    // The progress grids group by training run (run group), the leaderboards do not.
    expect(grids(spec).map((g) => ((g.metadata as Json).runSets as Json[])[0]!.grouping)).toEqual([
      [],
      [{ section: 'run', name: 'group' }],
      [],
      [{ section: 'run', name: 'group' }],
    ]);
  });
});

describe('workspace spec', () => {
  it('has no version, one run set (the leaderboard) and evalhook-owned flow sections', () => {
    const spec = roundTrip(workspaceSpec('mt-bench', 'acme-team'));
    expect(spec).not.toHaveProperty('version');
    const section = spec.section as Json;
    expect(section.runSets).toHaveLength(1);
    const rs = (section.runSets as Json[])[0]!;
    expect(filterValue(rs)).toBe('mt-bench');
    expect((rs.runFeed as Json).columnOrder).toEqual([
      'run:displayName',
      'config:artifact.value.name',
      'run:group',
      'config:epoch.value',
      'summary:mtbench/score',
      'summary:mtbench/turn1',
      'summary:mtbench/turn2',
      ...CATEGORIES.map((c) => `summary:mtbench/${c}`),
      'summary:judge/model',
      'config:benchmark.value.name',
    ]);
    expect(sections(spec).map((s) => [s.__id__, s.type])).toEqual([
      ['evalhook-mtbench-progress', 'flow'],
      ['evalhook-mtbench-categories', 'flow'],
      ['evalhook-mtbench-questions', 'flow'],
    ]);
    expect((section.settings as Json).shouldAutoGeneratePanels).toBe(false);
    const radar = sections(spec)
      .flatMap((s) => s.panels as Json[])
      .find((p) => p.viewType === 'Vega2')!;
    expect(radar.config).toMatchObject({
      panelDefId: 'acme-team/mtbench-radar',
      fieldSettings: { category: 'category', score: 'score', series: 'name' },
    });
  });

  it('Japanese MT-Bench gets its own sections, filtered to its runs', () => {
    const spec = roundTrip(workspaceSpec('japanese-mt-bench', 'acme-team'));
    expect(sections(spec).map((s) => s.__id__)).toEqual([
      'evalhook-jamtbench-progress',
      'evalhook-jamtbench-categories',
      'evalhook-jamtbench-questions',
    ]);
    expect(sections(spec).every((s) => String(s.name).startsWith('Japanese MT-Bench'))).toBe(true);
    expect(filterValue(((spec.section as Json).runSets as Json[])[0]!)).toBe('japanese-mt-bench');
  });

  it('merging replaces only evalhook-* sections, in place, and keeps run sets, settings and UI-only keys', () => {
    const ours = workspaceSpec('mt-bench', 'acme-team');
    const stored = roundTrip(ours);
    const sec = stored.section as Json;
    const bank = sec.panelBankConfig as Json;
    bank.sections = [
      { __id__: 'user-a', name: 'mine first', panels: [] },
      { __id__: 'evalhook-mtbench-progress', name: 'old ours', panels: [] },
      { __id__: 'evalhook-retired', name: 'gone', panels: [] },
      { name: 'no id (UI section)', panels: [] },
    ];
    bank.panelPlacementOverrides = { x: 1 };
    sec.runSets = [{ id: 'theirs', filters: { op: 'OR', filters: [] } }];
    sec.customRunColors = { 'mtb-1': '#f00' };
    sec.workspaceSettings = { kept: true };
    const merged = mergeWorkspace(stored, ours) as Json;
    const m = merged.section as Json;
    expect(sections(merged).map((s) => s.__id__ ?? s.name)).toEqual([
      'user-a',
      'evalhook-mtbench-progress',
      'evalhook-mtbench-categories',
      'evalhook-mtbench-questions',
      'no id (UI section)',
    ]);
    expect(sections(merged)[1]).toEqual(sections(roundTrip(ours))[0]);
    expect((m.panelBankConfig as Json).panelPlacementOverrides).toEqual({ x: 1 });
    expect(m.runSets).toEqual([{ id: 'theirs', filters: { op: 'OR', filters: [] } }]);
    expect(m.customRunColors).toEqual({ 'mtb-1': '#f00' });
    expect(m.workspaceSettings).toEqual({ kept: true });
    expect(mergeWorkspace('not json', ours)).toBe(ours);
  });
});

describe('keys the specs read', () => {
  const artifact: ResolvedArtifact = {
    id: 'QXJ0aWZhY3Q6MQ==',
    entity: 'acme-org',
    project: 'wandb-registry-model',
    collection: 'llama-ft',
    version: 'v3',
    fullName: 'acme-org/wandb-registry-model/llama-ft:v3',
    type: 'model',
    digest: 'd',
    aliases: [],
    metadata: {},
    checkpoint: { epoch: 3, step: 300 },
    sourceRun: { entity: 'acme-team', project: 'ft', name: 'train-1' },
    files: [],
  };
  const s = summary(7);
  s.scores.categories = Object.fromEntries(CATEGORIES.map((c) => [c, 7]));
  // What finish() writes to the summary: the metrics and both tables.
  const loggedSummary = new Set([
    ...Object.keys(summaryMetrics(s, artifact.checkpoint)),
    'mtbench_output_table',
    'mtbench_radar_table',
  ]);
  const config = runConfig(runContext(artifact));
  const runAttributes = new Set(['displayName', 'group']); // open(): displayName, groupName

  it.each([
    ['report', report()],
    ['English workspace', workspaceSpec('mt-bench', 'e')],
    ['Japanese workspace', workspaceSpec('japanese-mt-bench', 'e')],
  ])('%s reads only logged keys', (_n, spec) => {
    const keys = referencedKeys(spec);
    expect([...keys.summary].filter((k) => !loggedSummary.has(k))).toEqual([]);
    expect([...keys.config].filter((k) => !hasPath(config, k))).toEqual([]);
    expect([...keys.run].filter((k) => !runAttributes.has(k))).toEqual([]);
    // History: issue 11 writes `epoch` on every row and the scores on the final one (as the summary holds them).
    expect([...keys.history].sort()).toEqual(['epoch', 'mtbench/score']);
    expect([...keys.history].filter((k) => !loggedSummary.has(k))).toEqual([]);
    expect(keys.summary.size).toBeGreaterThan(10);
    expect(keys.config).toEqual(new Set(['epoch', 'artifact.name', 'benchmark.name']));
  });

  it('the key walker sees a key that is not logged (so the checks above can fail)', () => {
    const spec = roundTrip(workspaceSpec('mt-bench', 'e'));
    (sections(spec)[1]!.panels as Json[])[0]!.config = { metrics: ['mtbench/not_logged'] };
    expect(referencedKeys(spec).summary.has('mtbench/not_logged')).toBe(true);
  });
});

describe('radar preset', () => {
  it('renders headless with vega: one closed polygon per run over the eight categories', async () => {
    const runs = [5, 6.5, 8].map((base, i) =>
      radarRows({
        id: `mtb-${i}`,
        name: `llama-ft:v${i}`,
        colorIndex: i,
        categories: Object.fromEntries(CATEGORIES.map((c, j) => [c, base + (j % 3) - 1])),
      }),
    );
    const svg = await renderRadarSvg(runs.flat());
    const polygons = [...svg.matchAll(/<g class="mark-line role-mark polygon"[^>]*>([\s\S]*?)<\/g>/g)].map(
      (m) => (m[1]!.match(/<path /g) ?? []).length,
    );
    expect(polygons).toEqual([1, 1, 1]);
    // Closed (linear-closed ends with Z), eight spokes, every category labelled, every run in the legend.
    expect(
      [...svg.matchAll(/<g class="mark-line role-mark polygon"[^>]*>\s*<path[^>]* d="([^"]+)"/g)].every((m) =>
        /Z$/.test(m[1]!),
      ),
    ).toBe(true);
    for (const c of CATEGORIES) expect(svg).toContain(`>${c}</text>`);
    for (const i of [0, 1, 2]) expect(svg).toContain(`>llama-ft:v${i}</text>`);
    const one = await renderRadarSvg(runs[0]!);
    expect([...one.matchAll(/<g class="mark-line role-mark polygon"/g)]).toHaveLength(1);
  });
});

describe('URLs', () => {
  it('follow the reference: ?nw=<slug> for the workspace, <title slug>--<id without => for the report', () => {
    expect(workspaceUrl('https://wandb.ai', 'acme team', 'evals', 'evalhookmtbench')).toBe(
      'https://wandb.ai/acme%20team/evals?nw=evalhookmtbench',
    );
    expect(reportUrl('https://wandb.ai', 'acme-team', 'evals', 'MT-Bench — evals', 'VmlldzoxMjM0NTY3==')).toBe(
      'https://wandb.ai/acme-team/evals/reports/MT-Bench-evals--VmlldzoxMjM0NTY3',
    );
    expect(reportUrl('https://wandb.ai', 'a', 'p', '日本語 MT-Bench', 'Vmlldzo5')).toBe(
      `https://wandb.ai/a/p/reports/${encodeURIComponent('日本語-MT-Bench')}--Vmlldzo5`,
    );
  });
});
