/**
 * The run keys the dashboard reads. Every one is written by src/wandb/results.ts (summary, tables) or
 * run.ts (config, group); the spec test checks the specs name nothing else.
 */
import type { Profile } from '../../profile.js';

export type BenchmarkName = Profile['benchmark'];

/** FastChat's category order: radar axes and bars follow it. */
export const CATEGORIES = [
  'writing',
  'roleplay',
  'reasoning',
  'math',
  'coding',
  'extraction',
  'stem',
  'humanities',
] as const;

export const SCORE = 'mtbench/score';
export const TURN1 = 'mtbench/turn1';
export const TURN2 = 'mtbench/turn2';
export const CATEGORY_KEYS = CATEGORIES.map((c) => `mtbench/${c}`);
/** Summary string the reporter writes; a column, never a metric. */
export const JUDGE_MODEL = 'judge/model';
export const RADAR_TABLE = 'mtbench_radar_table';
export const OUTPUT_TABLE = 'mtbench_output_table';
/** History (issue 11: every row carries it), summary and top-level config. */
export const EPOCH = 'epoch';

/** Config keys in the UI's backend form: top-level `k.value`, nested `k.value.sub` (reference §5.4). */
export const CONFIG_EPOCH = 'epoch.value';
export const CONFIG_BENCHMARK = 'benchmark.value.name';
export const CONFIG_CHECKPOINT = 'artifact.value.name';

export interface BenchmarkLabels {
  /** Section and heading prefix. */
  title: string;
  /** [a-z0-9] piece of ids and the workspace view name. */
  slug: string;
}

export const BENCHMARKS: Record<BenchmarkName, BenchmarkLabels> = {
  'mt-bench': { title: 'MT-Bench', slug: 'mtbench' },
  'japanese-mt-bench': { title: 'Japanese MT-Bench', slug: 'jamtbench' },
};

export const RADAR_PRESET_NAME = 'mtbench-radar';
export const radarPresetId = (entity: string) => `${entity}/${RADAR_PRESET_NAME}`;

/** Entity/project names accepted from operators (API body, CLI flags): no `/`, so nothing reaches a path. */
export const WANDB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
