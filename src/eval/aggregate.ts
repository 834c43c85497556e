/**
 * Scores from judgments, FastChat show_result.py-compatible: first turn, second turn and average
 * (pooled over all valid rows, not the mean of the turn means), plus the spec's recommended
 * hygiene (de-duplicate last-wins, drop -1, count both), per-category means and a seeded bootstrap
 * interval.
 */
import type { JudgmentRecord, PairwiseRecord } from './types.js';
import { matchOutcome } from './scoring.js';

export type ScoreRow = Pick<JudgmentRecord, 'questionId' | 'turn' | 'score'> & { model?: string; judgeModel?: string };

export interface SingleScores {
  turn1: number | null;
  turn2: number | null;
  average: number | null;
  n: { turn1: number; turn2: number; all: number };
  /** Rows dropped because score == -1. */
  invalid: number;
  /** Rows dropped by de-duplication (0 when dedupe is off). */
  duplicates: number;
  categories: Record<string, number>;
  /** Valid rows that went into the numbers, in input order. */
  rows: ScoreRow[];
}

function mean(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Keep the last row per (model, question, turn, judge), like a reorg of an append-only file. */
export function dedupeLastWins<T extends ScoreRow>(rows: readonly T[]): { rows: T[]; duplicates: number } {
  const last = new Map<string, number>();
  rows.forEach((r, i) =>
    last.set(JSON.stringify([r.model ?? '', String(r.questionId), r.turn, r.judgeModel ?? '']), i),
  );
  const keep = new Set(last.values());
  return { rows: rows.filter((_, i) => keep.has(i)), duplicates: rows.length - keep.size };
}

/**
 * `dedupe: false` is exactly show_result.py (which has no de-duplication); `true` (default) is the
 * spec's recommendation. Without duplicates or -1 both coincide.
 */
export function aggregateSingle(
  input: readonly ScoreRow[],
  categoryOf: (questionId: ScoreRow['questionId']) => string | undefined,
  opts: { dedupe?: boolean } = {},
): SingleScores {
  const { rows: deduped, duplicates } =
    opts.dedupe === false ? { rows: [...input], duplicates: 0 } : dedupeLastWins(input);
  const valid = deduped.filter((r) => r.score !== -1);
  const byCat = new Map<string, number[]>();
  for (const r of valid) {
    const c = categoryOf(r.questionId);
    if (c === undefined) continue;
    const list = byCat.get(c) ?? [];
    list.push(r.score);
    byCat.set(c, list);
  }
  const categories: Record<string, number> = {};
  for (const [c, xs] of [...byCat.entries()].sort(([a], [b]) => a.localeCompare(b))) categories[c] = mean(xs)!;
  const t1 = valid.filter((r) => r.turn === 1).map((r) => r.score);
  const t2 = valid.filter((r) => r.turn === 2).map((r) => r.score);
  return {
    turn1: mean(t1),
    turn2: mean(t2),
    average: mean(valid.map((r) => r.score)),
    n: { turn1: t1.length, turn2: t2.length, all: valid.length },
    invalid: deduped.length - valid.length,
    duplicates,
    categories,
    rows: valid,
  };
}

/** mulberry32: tiny, fast, good enough for resampling, and reproducible from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function quantile(sorted: readonly number[], p: number): number {
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Percentile bootstrap over questions (a question's two turns are resampled together because they
 * are correlated): 95 % interval of the pooled mean. null when there is nothing to resample.
 */
export function bootstrapInterval(
  rows: readonly ScoreRow[],
  opts: { seed?: number; samples?: number } = {},
): [number, number] | null {
  const byQ = new Map<string, number[]>();
  for (const r of rows) {
    const k = String(r.questionId);
    const list = byQ.get(k) ?? [];
    list.push(r.score);
    byQ.set(k, list);
  }
  const groups = [...byQ.keys()].sort().map((k) => byQ.get(k)!);
  if (groups.length === 0) return null;
  const rand = seededRandom(opts.seed ?? 0);
  const samples = opts.samples ?? 1000;
  const means: number[] = [];
  for (let s = 0; s < samples; s++) {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[Math.floor(rand() * groups.length)]!;
      for (const x of g) sum += x;
      n += g.length;
    }
    means.push(sum / n);
  }
  means.sort((a, b) => a - b);
  return [quantile(means, 0.025), quantile(means, 0.975)];
}

export function categoryIntervals(
  rows: readonly ScoreRow[],
  categoryOf: (questionId: ScoreRow['questionId']) => string | undefined,
  opts: { seed?: number; samples?: number } = {},
): Record<string, [number, number]> {
  const cats = [
    ...new Set(rows.map((r) => categoryOf(r.questionId)).filter((c): c is string => c !== undefined)),
  ].sort();
  const out: Record<string, [number, number]> = {};
  for (const c of cats) {
    const ci = bootstrapInterval(
      rows.filter((r) => categoryOf(r.questionId) === c),
      opts,
    );
    if (ci) out[c] = ci;
  }
  return out;
}

export interface PairwiseTally {
  win: number;
  loss: number;
  tie: number;
  excluded: number;
  winRate: number;
  lossRate: number;
  winRateAdjusted: number;
}

/** show_result.py --mode pairwise-baseline for model_1 (the candidate) against the baseline. */
export function aggregatePairwise(records: readonly Pick<PairwiseRecord, 'g1Winner' | 'g2Winner'>[]): PairwiseTally {
  const t = { win: 0, loss: 0, tie: 0, excluded: 0 };
  for (const r of records) {
    const o = matchOutcome(r.g1Winner, r.g2Winner);
    if (o === 'excluded') t.excluded += 1;
    else t[o] += 1;
  }
  const n = t.win + t.loss + t.tie;
  return {
    ...t,
    winRate: n ? t.win / n : 0,
    lossRate: n ? t.loss / n : 0,
    winRateAdjusted: n ? (t.win + 0.5 * t.tie) / n : 0,
  };
}
