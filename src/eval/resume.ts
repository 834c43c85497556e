/**
 * Resume: which records an earlier attempt stored are reused instead of calling an endpoint again.
 * A record is reused only when it was made from exactly what this run would send.
 */
import type { EvalStore } from './ports.js';
import type { RunCounters } from './summary.js';
import { EvalRecord, type AnswerRecord, type JudgmentRecord, type PairwiseRecord } from './types.js';

export type StoredRecords = ReadonlyMap<string, EvalRecord>;

/** The store is untrusted (it round-trips through Redis): unparsable records are skipped, last record per key wins. */
export async function loadStored(store: EvalStore | undefined, c: RunCounters): Promise<StoredRecords> {
  const stored = new Map<string, EvalRecord>();
  for (const raw of store ? await store.load() : []) {
    const parsed = EvalRecord.safeParse(raw);
    if (!parsed.success) continue;
    if (stored.has(parsed.data.key)) c.duplicates += 1;
    stored.set(parsed.data.key, parsed.data);
  }
  return stored;
}

/** Same candidate model; a stored turn-2 answer is only valid on top of the same turn-1 answer it was generated from. */
export function reusableAnswer(
  stored: StoredRecords,
  key: string,
  model: string,
  prior: readonly AnswerRecord[],
): AnswerRecord | undefined {
  const old = stored.get(key);
  return old?.kind === 'answer' && old.model === model && prior.every((p) => stored.get(p.key) === p) ? old : undefined;
}

/** Same judge, same candidate, same prompt (which holds the answers judged). */
export function reusableJudgment(
  stored: StoredRecords,
  key: string,
  want: Pick<JudgmentRecord, 'judgeModel' | 'model' | 'userPrompt'>,
): JudgmentRecord | undefined {
  const old = stored.get(key);
  return old?.kind === 'judgment' &&
    old.judgeModel === want.judgeModel &&
    old.model === want.model &&
    old.userPrompt === want.userPrompt
    ? old
    : undefined;
}

/** Same judge, same candidate, and both games' prompts (candidate and baseline answers, in both orders). */
export function reusablePair(
  stored: StoredRecords,
  key: string,
  want: Pick<PairwiseRecord, 'judgeModel' | 'model1' | 'g1UserPrompt' | 'g2UserPrompt'>,
): PairwiseRecord | undefined {
  const old = stored.get(key);
  return old?.kind === 'pairwise' &&
    old.judgeModel === want.judgeModel &&
    old.model1 === want.model1 &&
    old.g1UserPrompt === want.g1UserPrompt &&
    old.g2UserPrompt === want.g2UserPrompt
    ? old
    : undefined;
}
