/**
 * Judging one turn: single (a 1-10 score) or pairwise against the baseline (two games, both
 * orders), through the judge cache, re-asking while the reply cannot be parsed.
 */
import { JUDGE_MAX_TOKENS } from './benchmark.js';
import { cacheKey } from './cache-key.js';
import type { ChatMessage, ChatRequest, ChatResult, TokenUsage } from './ports.js';
import { buildPairPrompt, buildSinglePrompt } from './prompts.js';
import { reusableJudgment, reusablePair } from './resume.js';
import type { RunContext } from './run-context.js';
import {
  gameWinner,
  invalidScoreReason,
  parseSingleScore,
  parseStructuredScore,
  parseVerdict,
  structuredResponseFormat,
} from './scoring.js';
import type { AnswerRecord, BenchmarkQuestion, PairwiseRecord } from './types.js';

const addUsage = (a: TokenUsage, b: TokenUsage): TokenUsage => ({
  promptTokens: a.promptTokens + b.promptTokens,
  completionTokens: a.completionTokens + b.completionTokens,
});

export function createJudging({
  opts,
  bench,
  mode,
  candidate,
  judge,
  baseline,
  stored,
  c,
  call,
  keep,
  markInvalid,
  now,
}: RunContext) {
  const parseRetries = judge.parseRetries ?? 0;
  const responseFormat = judge.structured ? structuredResponseFormat() : undefined;
  const parseScore = judge.structured ? parseStructuredScore : parseSingleScore;

  /** One judge exchange via the cache; `fresh` forces a real call (re-asking after a parse failure). */
  async function judgeOnce(messages: ChatMessage[], fresh: boolean): Promise<{ res: ChatResult; cached: boolean }> {
    const req: ChatRequest = {
      model: judge.model,
      messages,
      temperature: 0,
      max_tokens: JUDGE_MAX_TOKENS,
      ...(responseFormat ? { response_format: responseFormat } : {}),
    };
    const key = cacheKey(req);
    if (!fresh && opts.cache) {
      // The cache only saves money: if it is unreachable, judge for real rather than fail the run.
      const hit = await opts.cache.get(key).catch(() => undefined);
      if (hit) {
        c.cacheHits += 1;
        return { res: hit, cached: true };
      }
    }
    const res = await call('judge', req, 1);
    await opts.cache?.set(key, res).catch(() => undefined);
    return { res, cached: false };
  }

  /** Judges, re-asking up to parseRetries times while the reply cannot be parsed. */
  async function judgeParsed<T>(messages: ChatMessage[], parse: (s: string) => T, failed: (v: T) => boolean) {
    let { res, cached } = await judgeOnce(messages, false);
    let usage = cached ? { promptTokens: 0, completionTokens: 0 } : res.usage;
    let value = parse(res.content);
    for (let i = 0; i < parseRetries && failed(value); i++) {
      c.parseRetries += 1;
      ({ res, cached } = await judgeOnce(messages, true));
      usage = addUsage(usage, res.usage);
      value = parse(res.content);
    }
    return { res, cached, usage, value };
  }

  async function judgeSingle(q: BenchmarkQuestion, turn: number, ans: readonly AnswerRecord[]): Promise<void> {
    const key = `judgment/${String(q.questionId)}/${turn}`;
    const built = buildSinglePrompt(
      bench,
      q,
      turn,
      ans.map((a) => a.content),
    );
    const old = reusableJudgment(stored, key, {
      judgeModel: judge.model,
      model: candidate.model,
      userPrompt: built.userPrompt,
    });
    if (old) {
      c.resumed += 1;
      if (old.score === -1) markInvalid();
      return keep(old, false);
    }
    const base = {
      kind: 'judgment',
      key,
      questionId: q.questionId,
      turn,
      model: candidate.model,
      judgeModel: judge.model,
      promptName: built.promptName,
      userPrompt: built.userPrompt,
    } as const;
    const failed = ans[turn - 1]?.error;
    if (failed !== undefined) {
      // Nothing to judge: the answer is $ERROR$. It counts as invalid, with the endpoint's reason.
      markInvalid();
      return keep(
        {
          ...base,
          judgment: '',
          score: -1,
          invalidReason: `answer error: ${failed}`,
          usage: { promptTokens: 0, completionTokens: 0 },
          cached: false,
          tstamp: now() / 1000,
        },
        true,
      );
    }
    const { res, cached, usage, value: score } = await judgeParsed(built.messages, parseScore, (s) => s === -1);
    if (score === -1) markInvalid();
    const invalidReason = invalidScoreReason(res.content, score);
    await keep(
      {
        ...base,
        judgment: res.content,
        score,
        ...(invalidReason ? { invalidReason } : {}),
        usage,
        cached,
        tstamp: now() / 1000,
      },
      true,
    );
  }

  async function judgePair(q: BenchmarkQuestion, turn: number, ans: readonly AnswerRecord[]): Promise<void> {
    const key = `pairwise/${String(q.questionId)}/${turn}`;
    const mine = ans.map((a) => a.content);
    const base = Array.from({ length: turn }, (_, i) => baseline.get(`${String(q.questionId)}/${i + 1}`)!);
    const g1 = buildPairPrompt(bench, q, turn, mine, base);
    const g2 = buildPairPrompt(bench, q, turn, base, mine);
    const old = reusablePair(stored, key, {
      judgeModel: judge.model,
      model1: candidate.model,
      g1UserPrompt: g1.userPrompt,
      g2UserPrompt: g2.userPrompt,
    });
    if (old) {
      c.resumed += 1;
      return keep(old, false);
    }
    /** Every pairwise record of this turn: the same question, models and prompts; only the verdicts differ. */
    const pairRecord = (
      verdicts: Pick<PairwiseRecord, 'g1Winner' | 'g2Winner' | 'g1Judgment' | 'g2Judgment' | 'usage' | 'cached'>,
    ): PairwiseRecord => ({
      kind: 'pairwise',
      key,
      questionId: q.questionId,
      turn,
      model1: candidate.model,
      model2: opts.baseline!.model,
      judgeModel: judge.model,
      promptName: g1.promptName,
      g1Winner: verdicts.g1Winner,
      g2Winner: verdicts.g2Winner,
      g1UserPrompt: g1.userPrompt,
      g1Judgment: verdicts.g1Judgment,
      g2UserPrompt: g2.userPrompt,
      g2Judgment: verdicts.g2Judgment,
      usage: verdicts.usage,
      cached: verdicts.cached,
      tstamp: now() / 1000,
    });
    const failed = ans[turn - 1]?.error;
    if (failed !== undefined) {
      markInvalid();
      return keep(
        pairRecord({
          g1Winner: 'error',
          g2Winner: 'error',
          g1Judgment: `answer error: ${failed}`,
          g2Judgment: `answer error: ${failed}`,
          usage: { promptTokens: 0, completionTokens: 0 },
          cached: false,
        }),
        true,
      );
    }
    const [r1, r2] = await Promise.all([
      judgeParsed(g1.messages, parseVerdict, (v) => v === 'error'),
      judgeParsed(g2.messages, parseVerdict, (v) => v === 'error'),
    ]);
    const record = pairRecord({
      g1Winner: gameWinner(r1.value, 1),
      g2Winner: gameWinner(r2.value, 2),
      g1Judgment: r1.res.content,
      g2Judgment: r2.res.content,
      usage: addUsage(r1.usage, r2.usage),
      cached: r1.cached && r2.cached,
    });
    if (record.g1Winner === 'error' || record.g2Winner === 'error') markInvalid();
    await keep(record, true);
  }

  /** The judging of one turn, as the run's mode asks. */
  return mode === 'single' ? judgeSingle : judgePair;
}
