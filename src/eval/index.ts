/** Public surface of the MT-Bench engine (pure: no I/O beyond the ports). */
export { runEvaluation } from './run.js';
export type { RunEvaluationOptions, EvalResult } from './options.js';
export { fastChatFiles, fileSafeModelName } from './fastchat-files.js';
export {
  type Benchmark,
  JudgePrompt,
  ALL_PROMPT_NAMES,
  SINGLE_PROMPT_NAMES,
  PAIR_PROMPT_NAMES,
  NEED_REF_CATS,
  FASTCHAT_TEMPERATURES,
  FASTCHAT_DEFAULT_TEMPERATURE,
  FASTCHAT_MAX_NEW_TOKENS,
  JUDGE_MAX_TOKENS,
  generationTemperature,
  sentTemperature,
  needsReference,
} from './benchmark.js';
export { fillTemplate, buildSinglePrompt, buildPairPrompt, singlePromptName, pairPromptName } from './prompts.js';
export { parseSingleScore, parseVerdict, gameWinner, matchOutcome, StructuredJudgment, structuredResponseFormat, parseStructuredScore } from './scoring.js';
export type { Verdict, Winner } from './scoring.js';
export { aggregateSingle, aggregatePairwise, dedupeLastWins, bootstrapInterval, categoryIntervals, seededRandom } from './aggregate.js';
export type { ScoreRow, SingleScores, PairwiseTally } from './aggregate.js';
export { DEFAULT_RETRY, backoffDelay, type RetryPolicy, type Sleep } from './execution.js';
export { cacheKey } from './cache-key.js';
export { EvalProgress } from './types.js';
