/**
 * Panel and run-set JSON as W&B's frontend stores it (reference wandb-dashboard.md §5.3–§5.8). Every
 * id is passed in, never random, so the same inputs give a byte-identical spec (hash, idempotence).
 */
import {
  CATEGORY_KEYS,
  CONFIG_BENCHMARK,
  CONFIG_CHECKPOINT,
  CONFIG_EPOCH,
  EPOCH,
  JUDGE_MODEL,
  OUTPUT_TABLE,
  RADAR_TABLE,
  SCORE,
  TURN1,
  TURN2,
} from './keys.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export interface Layout {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Panel extends JsonObject {
  __id__: string;
  layout: JsonObject;
  viewType: string;
  config: JsonObject;
}

const panel = (id: string, layout: Layout, viewType: string, config: JsonObject): Panel => ({
  __id__: id,
  layout: { ...layout },
  viewType,
  config,
});

export function barChart(id: string, layout: Layout): Panel {
  return panel(id, layout, 'Bar Chart', {
    chartTitle: 'Per-category score',
    metrics: [...CATEGORY_KEYS],
    vertical: true,
    limit: 50,
  });
}

/** Needs `epoch` and the score in history (one row per evaluation run); grouped by run group = training run. */
export function scoreByEpochLine(id: string, layout: Layout): Panel {
  return panel(id, layout, 'Run History Line Plot', {
    chartTitle: 'MT-Bench score vs epoch (per training run)',
    xAxis: EPOCH,
    metrics: [SCORE],
    groupBy: 'group',
    groupAgg: 'mean',
    groupArea: 'none',
    limit: 50,
    aggregate: true,
  });
}

/** Works from config + summary alone, so single-checkpoint groups show a point too. */
export function scoreByEpochScatter(id: string, layout: Layout): Panel {
  return panel(id, layout, 'Scatter Plot', {
    chartTitle: 'MT-Bench score vs epoch (every checkpoint)',
    xAxis: `config:${CONFIG_EPOCH}`,
    yAxis: `summary:${SCORE}`,
  });
}

export function bestScore(id: string, layout: Layout): Panel {
  return panel(id, layout, 'Scalar Chart', { chartTitle: 'Best MT-Bench score', metrics: [SCORE], groupAgg: 'max' });
}

/** Vega2 panel on the radar preset: the SDK's canonical query shape (§5.6). */
export function radarPanel(id: string, layout: Layout, presetId: string, title: string): Panel {
  const field = (name: string): JsonObject => ({ name, fields: [] });
  return panel(id, layout, 'Vega2', {
    transform: { name: 'tableWithLeafColNames' },
    userQuery: {
      queryFields: [
        {
          name: 'runSets',
          args: [
            { name: 'runSets', value: '${runSets}' },
            { name: 'limit', value: 500 },
          ],
          fields: [
            field('id'),
            field('name'),
            field('_defaultColorIndex'),
            { name: 'summaryTable', args: [{ name: 'tableKey', value: RADAR_TABLE }], fields: [] },
          ],
        },
      ],
    },
    panelDefId: presetId,
    fieldSettings: { category: 'category', score: 'score', series: 'name' },
    stringSettings: { title },
  });
}

export function outputTablePanel(id: string, layout: Layout): Panel {
  return panel(id, layout, 'Weave', weaveSummaryTableConfig(OUTPUT_TABLE));
}

/** `runs.summary["<key>"]` as a Weave1 expression graph; the type objects are the lib's static hints (§5.8). */
export function weaveSummaryTableConfig(key: string): JsonObject {
  const projectTag: JsonObject = {
    type: 'tagged',
    tag: { type: 'typedDict', propertyTypes: { entityName: 'string', projectName: 'string' } },
    value: { type: 'typedDict', propertyTypes: { project: 'project', filter: 'string', order: 'string' } },
  };
  const tableFile: JsonObject = { type: 'file', extension: 'json', wbObjectType: { type: 'table', columnTypes: {} } };
  const listOf = (value: Json): JsonObject => ({
    type: 'tagged',
    tag: projectTag,
    value: {
      type: 'list',
      objectType: { type: 'tagged', tag: { type: 'typedDict', propertyTypes: { run: 'run' } }, value },
      maxLength: 50,
    },
  });
  const runtime: JsonObject = { type: 'typedDict', propertyTypes: { runtime: 'number' } };
  const summaryType: JsonObject = {
    type: 'union',
    members: [
      { type: 'typedDict', propertyTypes: { _wandb: runtime } },
      {
        type: 'typedDict',
        propertyTypes: { _step: 'number', table: tableFile, _wandb: runtime, _runtime: 'number', _timestamp: 'number' },
      },
    ],
  };
  return {
    panel2Config: {
      exp: {
        nodeType: 'output',
        type: listOf({ type: 'union', members: [tableFile, 'none'] }),
        fromOp: {
          name: 'pick',
          inputs: {
            obj: {
              nodeType: 'output',
              type: listOf(summaryType),
              fromOp: {
                name: 'run-summary',
                inputs: {
                  run: {
                    nodeType: 'var',
                    type: {
                      type: 'tagged',
                      tag: projectTag,
                      value: { type: 'list', objectType: 'run', maxLength: 50 },
                    },
                    varName: 'runs',
                  },
                },
              },
            },
            key: { nodeType: 'const', type: 'string', val: key },
          },
        },
        __userInput: true,
      },
    },
  };
}

/** Leaderboard columns: checkpoint, training run, epoch, scores, categories, judge, benchmark. */
export const LEADERBOARD_COLUMNS = [
  'run:displayName',
  `config:${CONFIG_CHECKPOINT}`,
  'run:group',
  `config:${CONFIG_EPOCH}`,
  `summary:${SCORE}`,
  `summary:${TURN1}`,
  `summary:${TURN2}`,
  ...CATEGORY_KEYS.map((k) => `summary:${k}`),
  `summary:${JUDGE_MODEL}`,
  `config:${CONFIG_BENCHMARK}`,
];

/** Legacy filter tree (read by old and new frontends, §5.3.4): one benchmark's runs only. */
export function benchmarkFilter(benchmark: string): JsonObject {
  return {
    op: 'OR',
    filters: [
      {
        op: 'AND',
        filters: [{ op: '=', key: { section: 'config', name: CONFIG_BENCHMARK }, value: benchmark, disabled: false }],
      },
    ],
  };
}

export function runSet(opts: { id: string; name: string; benchmark: string; groupByRun?: boolean }): JsonObject {
  const cols = Object.fromEntries(LEADERBOARD_COLUMNS.map((c) => [c, true]));
  return {
    id: opts.id,
    runFeed: {
      version: 2,
      columnVisible: cols,
      columnPinned: { ...cols },
      columnWidths: {},
      columnOrder: [...LEADERBOARD_COLUMNS],
      pageSize: 20,
      onlyShowSelected: false,
    },
    enabled: true,
    name: opts.name,
    search: { query: '' },
    filters: benchmarkFilter(opts.benchmark),
    grouping: opts.groupByRun ? [{ section: 'run', name: 'group' }] : [],
    sort: { keys: [{ key: { section: 'summary', name: SCORE }, ascending: false }] },
    selections: { root: 1, bounds: [], tree: [] },
    expandedRowAddresses: [],
  };
}

export const FLOW_CONFIG: JsonObject = {
  snapToColumns: true,
  columnsPerPage: 3,
  rowsPerPage: 2,
  gutterWidth: 16,
  boxWidth: 460,
  boxHeight: 300,
};

export function localPanelSettings(smoothing: boolean): JsonObject {
  return {
    smoothingWeight: 0,
    smoothingType: smoothing ? 'exponential' : 'none',
    xAxis: '_step',
    ignoreOutliers: false,
    useRunsTableGroupingInPanels: true,
    smoothingActive: smoothing,
    xAxisActive: false,
  };
}
