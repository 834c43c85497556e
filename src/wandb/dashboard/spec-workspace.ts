/**
 * The saved workspace view (type `project-view`) for one benchmark of one project (reference §5.2,
 * §5.9). A workspace has exactly one run set driving every panel, so each benchmark gets its own
 * view; evalhook owns only the sections whose `__id__` starts with `evalhook-` (mergeWorkspace).
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
  type Json,
  type JsonObject,
  type Panel,
} from './panels.js';

export const OWNED_PREFIX = 'evalhook-';

/** `nw-<slug>-v` is the stored name; `?nw=<slug>` the URL (§3.2, §9). */
export const workspaceSlug = (benchmark: BenchmarkName) => `evalhook${BENCHMARKS[benchmark].slug}`;
export const workspaceViewName = (benchmark: BenchmarkName) => `nw-${workspaceSlug(benchmark)}-v`;

function section(id: string, name: string, panels: Panel[]): JsonObject {
  return {
    __id__: id,
    name,
    isOpen: true,
    type: 'flow',
    flowConfig: { ...FLOW_CONFIG },
    sorted: 0,
    localPanelSettings: localPanelSettings(false),
    panels,
    pinned: false,
  };
}

/** The evalhook-owned sections for one benchmark, in display order. */
export function workspaceSections(benchmark: BenchmarkName, entity: string): JsonObject[] {
  const { title, slug } = BENCHMARKS[benchmark];
  const id = (part: string) => `${OWNED_PREFIX}${slug}-${part}`;
  return [
    section(id('progress'), `${title}: score against epoch`, [
      scoreByEpochLine(id('line'), { x: 0, y: 0, w: 12, h: 8 }),
      scoreByEpochScatter(id('scatter'), { x: 12, y: 0, w: 12, h: 8 }),
    ]),
    section(id('categories'), `${title}: categories`, [
      barChart(id('bars'), { x: 0, y: 0, w: 12, h: 8 }),
      radarPanel(id('radar'), { x: 12, y: 0, w: 12, h: 12 }, radarPresetId(entity), `${title} radar`),
      bestScore(id('best'), { x: 0, y: 8, w: 6, h: 6 }),
    ]),
    section(id('questions'), `${title}: per-question outputs`, [
      outputTablePanel(id('outputs'), { x: 0, y: 0, w: 24, h: 14 }),
    ]),
  ];
}

export function workspaceSpec(benchmark: BenchmarkName, entity: string): JsonObject {
  const { title, slug } = BENCHMARKS[benchmark];
  return {
    section: {
      panelBankConfig: {
        state: 1,
        settings: { autoOrganizePrefix: 2, showEmptySections: false, sortAlphabetically: false },
        sections: workspaceSections(benchmark, entity),
      },
      panelBankSectionConfig: {
        name: 'Report Panels',
        isOpen: false,
        panels: [],
        type: 'grid',
        flowConfig: { ...FLOW_CONFIG },
        sorted: 0,
        localPanelSettings: localPanelSettings(true),
        pinned: false,
      },
      customRunColors: {},
      name: '',
      // The leaderboard is this run set's runs table: one benchmark, sorted by score.
      runSets: [runSet({ id: `${OWNED_PREFIX}${slug}-rs`, name: `${title} leaderboard`, benchmark })],
      settings: {
        smoothingWeight: 0,
        smoothingType: 'none',
        xAxis: 'epoch',
        ignoreOutliers: false,
        useRunsTableGroupingInPanels: true,
        maxRuns: 50,
        pointVisualizationMethod: 'bucketing-gorilla',
        tooltipNumberOfRuns: 'default',
        // A curated view: keys logged later must not add panels to it.
        shouldAutoGeneratePanels: false,
        smoothingActive: false,
        xAxisActive: true,
      },
      openRunSet: 0,
      openViz: true,
    },
    vizExpanded: false,
    libraryExpanded: true,
  };
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const owned = (s: Json) => isObject(s) && typeof s.__id__ === 'string' && s.__id__.startsWith(OWNED_PREFIX);

/**
 * A stored workspace with our sections replaced and everything else as found: other sections, run
 * sets (a user's filters), settings, override maps, colours. Ours go where the first of ours was
 * (or first, in a view that has none). An unreadable stored spec is replaced by ours.
 */
export function mergeWorkspace(stored: unknown, ours: JsonObject): JsonObject {
  const oursSection = ours.section as JsonObject;
  const oursSections = (oursSection.panelBankConfig as JsonObject).sections as Json[];
  if (!isObject(stored) || !isObject(stored.section)) return ours;
  const merged = structuredClone(stored);
  const sec = merged.section as JsonObject;
  const bank = isObject(sec.panelBankConfig)
    ? sec.panelBankConfig
    : (sec.panelBankConfig = structuredClone(oursSection.panelBankConfig as JsonObject));
  const existing = Array.isArray(bank.sections) ? bank.sections : [];
  const at = existing.findIndex(owned);
  const others = existing.filter((s) => !owned(s));
  const insertAt = at < 0 ? 0 : existing.slice(0, at).filter((s) => !owned(s)).length;
  bank.sections = [...others.slice(0, insertAt), ...oursSections, ...others.slice(insertAt)];
  if (!Array.isArray(sec.runSets) || sec.runSets.length === 0)
    sec.runSets = structuredClone(oursSection.runSets as Json[]);
  if (!isObject(sec.settings)) sec.settings = structuredClone(oursSection.settings as JsonObject);
  return merged;
}
