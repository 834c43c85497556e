/**
 * The report (type `runs`, reference §5.1, §5.10): a markdown header, then per benchmark a leaderboard
 * grid (scores, bars, radar, per-question table) and a progress grid grouped by training run. Each
 * panel grid carries its own run set filtered to one benchmark, so English and Japanese never mix.
 */
import { BENCHMARKS, radarPresetId, type BenchmarkName } from './keys.js';
import {
  barChart,
  bestScore,
  FLOW_CONFIG,
  localPanelSettings,
  outputTablePanel,
  radarPanel,
  runSet,
  scoreByEpochLine,
  scoreByEpochScatter,
  type JsonObject,
  type Panel,
} from './panels.js';

export interface LatestEvaluation {
  checkpoint: string;
  trainingRun?: string;
  epoch?: number;
  benchmark: BenchmarkName;
  score: number | null;
  judgeModel: string;
  runUrl?: string;
}

export interface ReportInput {
  entity: string;
  project: string;
  benchmarks: BenchmarkName[];
  judgeModels: string[];
  latest?: LatestEvaluation;
}

export const defaultReportTitle = (project: string) => `MT-Bench — ${project}`;

const paragraph = (text: string): JsonObject => ({ type: 'paragraph', children: [{ text }] });
const heading = (level: number, text: string): JsonObject => ({ type: 'heading', children: [{ text }], level });

function panelGrid(runSetJson: JsonObject, panels: Panel[]): JsonObject {
  return {
    type: 'panel-grid',
    children: [{ text: '' }],
    metadata: {
      openViz: true,
      openRunSet: 0,
      name: 'unused-name',
      runSets: [runSetJson],
      hideRunSets: false,
      panels: { views: { '0': { name: 'Panels', defaults: [], config: [] } }, tabs: ['0'] },
      panelBankConfig: {
        state: 0,
        settings: { autoOrganizePrefix: 2, showEmptySections: false, sortAlphabetically: false },
        sections: [
          {
            name: 'Hidden Panels',
            isOpen: false,
            type: 'flow',
            flowConfig: { ...FLOW_CONFIG },
            sorted: 0,
            localPanelSettings: localPanelSettings(true),
            panels: [],
          },
        ],
      },
      panelBankSectionConfig: {
        name: 'Report Panels',
        isOpen: false,
        panels,
        type: 'grid',
        flowConfig: { ...FLOW_CONFIG },
        sorted: 0,
        localPanelSettings: localPanelSettings(true),
      },
      customRunColors: {},
    },
  };
}

export function reportHeader(input: ReportInput): string {
  const names = input.benchmarks.map((b) => BENCHMARKS[b].title).join(' and ');
  const lines = [
    `Every checkpoint linked into the W&B Registry and routed to this project is scored with ${names} by evalhook; this report is written and kept current by evalhook.`,
    '',
    `**Judge:** ${input.judgeModels.map((m) => `\`${m}\``).join(', ') || 'see each run'} (single-answer grading, FastChat prompts).`,
    '',
    '**How to read the scores:** `mtbench/score` is the mean judge rating (1–10) over both turns of all questions; `turn1` and `turn2` split it by turn; the eight category scores are means per category. Questions the judge could not rate are excluded and counted in `mtbench/n_invalid`.',
  ];
  const l = input.latest;
  if (l) {
    const where = [l.trainingRun && `training run \`${l.trainingRun}\``, l.epoch !== undefined && `epoch ${l.epoch}`]
      .filter(Boolean)
      .join(', ');
    const score = l.score === null ? 'no score' : `${BENCHMARKS[l.benchmark].title} ${l.score.toFixed(2)}`;
    lines.push(
      '',
      `**Latest evaluation:** \`${l.checkpoint}\`${where ? ` (${where})` : ''}: ${score}${l.runUrl ? ` ([run](${l.runUrl}))` : ''}.`,
    );
  }
  return lines.join('\n');
}

export function reportSpec(input: ReportInput): JsonObject {
  const blocks: JsonObject[] = [
    paragraph(''),
    { type: 'markdown-block', content: reportHeader(input), children: [{ text: '' }] },
  ];
  for (const benchmark of input.benchmarks) {
    const { title, slug } = BENCHMARKS[benchmark];
    const id = (part: string) => `evalhook-${slug}-${part}`;
    blocks.push(
      heading(1, `${title} leaderboard`),
      panelGrid(runSet({ id: id('rs1'), name: `${title} leaderboard`, benchmark }), [
        bestScore(id('g1-best'), { x: 0, y: 0, w: 6, h: 6 }),
        barChart(id('g1-bars'), { x: 6, y: 0, w: 18, h: 8 }),
        radarPanel(id('g1-radar'), { x: 0, y: 8, w: 12, h: 12 }, radarPresetId(input.entity), `${title} radar`),
        outputTablePanel(id('g1-outputs'), { x: 0, y: 20, w: 24, h: 14 }),
      ]),
      heading(2, `${title}: progress per training run`),
      panelGrid(runSet({ id: id('rs2'), name: `${title} runs by training run`, benchmark, groupByRun: true }), [
        scoreByEpochLine(id('g2-line'), { x: 0, y: 0, w: 12, h: 8 }),
        scoreByEpochScatter(id('g2-scatter'), { x: 12, y: 0, w: 12, h: 8 }),
      ]),
    );
  }
  blocks.push(paragraph(''));
  return { version: 5, panelSettings: {}, blocks, width: 'fluid', authors: [], discussionThreads: [] };
}
