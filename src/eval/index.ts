/** Public surface of the MT-Bench engine (pure: no I/O beyond the ports). */
export { runEvaluation } from './run.js';
export type { RunEvaluationOptions, EvalResult } from './options.js';
export { fastChatFiles } from './fastchat-files.js';
export { type Benchmark, JudgePrompt } from './benchmark.js';
export { fillTemplate } from './prompts.js';
export {
  parseSingleScore,
  parseVerdict,
  gameWinner,
  matchOutcome,
  structuredResponseFormat,
  parseStructuredScore,
} from './scoring.js';
export { aggregateSingle, aggregatePairwise, bootstrapInterval, categoryIntervals } from './aggregate.js';
export type { ScoreRow } from './aggregate.js';
