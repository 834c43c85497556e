/**
 * What the judge costs: USD per million tokens for the judge models the README names, so `costUsd`
 * in the summary and in W&B is real. Only the judge is priced: the candidate runs on servers the
 * team runs itself (endpoint, process), so an evaluation's cost is its judge's cost. W&B
 * Serverless Inference bills the candidate separately; that bill is not in `costUsd`.
 *
 * Source: OpenAI API pricing, Standard tier (https://platform.openai.com/docs/pricing), as
 * published on 2025-06-01. Prices change: a profile overrides them with `judge.prices`
 * ({input, output} per million tokens), and a judge model missing here costs null unless it does.
 */
import type { TokenPrices } from './eval/cost.js';

/** Exact, dated model names only: a moving alias is not a judge evalhook recommends (see JUDGE_MODEL). */
export const JUDGE_PRICES: Readonly<Record<string, TokenPrices>> = {
  'gpt-4.1-2025-04-14': { input: 2, output: 8 },
  'gpt-4.1-mini-2025-04-14': { input: 0.4, output: 1.6 },
  'gpt-4o-2024-08-06': { input: 2.5, output: 10 },
  'gpt-4o-2024-11-20': { input: 2.5, output: 10 },
  'gpt-4o-2024-05-13': { input: 5, output: 15 },
  'gpt-4o-mini-2024-07-18': { input: 0.15, output: 0.6 },
  'gpt-4-turbo-2024-04-09': { input: 10, output: 30 },
  // FastChat's MT-Bench judge ("gpt-4" was gpt-4-0613 when its judgments were recorded).
  'gpt-4-0613': { input: 30, output: 60 },
  'gpt-4': { input: 30, output: 60 },
};

/** The profile's `judge.prices`, else the table's price for its model; undefined = not priced. */
export function judgePrices(judge: { model: string; prices?: TokenPrices }): TokenPrices | undefined {
  return judge.prices ?? (Object.hasOwn(JUDGE_PRICES, judge.model) ? JUDGE_PRICES[judge.model] : undefined);
}
