/**
 * The judge's running cost and the optional per-evaluation cap (judge.maxCostUsd). The cap is a
 * ceiling, never crossed: before each judge request is sent, the spend so far plus the worst case
 * of every request in flight, this one included, must stay within it.
 */
import { EndpointError } from './errors.js';
import type { ChatClient, ChatRequest, TokenUsage } from './ports.js';
import type { EvalRecord } from './types.js';

/** USD per million tokens. */
export interface TokenPrices {
  input: number;
  output: number;
}

export const costOf = (u: TokenUsage, p: TokenPrices): number =>
  (u.promptTokens * p.input + u.completionTokens * p.output) / 1e6;

/**
 * The most one request can cost: byte-level BPE tokens are at least one byte each, so the JSON of
 * the messages (and response format) bounds the prompt tokens, framing included; max_tokens bounds the output.
 */
function worstCaseCost(req: ChatRequest, p: TokenPrices): number {
  const promptBytes =
    Buffer.byteLength(JSON.stringify(req.messages)) +
    (req.response_format ? Buffer.byteLength(JSON.stringify(req.response_format)) : 0);
  return costOf({ promptTokens: promptBytes, completionTokens: req.max_tokens }, p);
}

/** What earlier attempts of this evaluation already paid the judge (records from the store; cache hits were free). */
export function judgeSpend(records: Iterable<EvalRecord>, p: TokenPrices): number {
  let usd = 0;
  for (const r of records) if (r.kind !== 'answer' && !r.cached) usd += costOf(r.usage, p);
  return usd;
}

const usd = (x: number) => `$${x.toFixed(4)}`;

/**
 * The judge client with the cap applied to every request it sends. Over the cap it throws a final
 * (unrecoverable) EndpointError, so the engine stops the run without retrying.
 */
export function capJudgeCost(
  client: ChatClient,
  opts: { prices: TokenPrices; maxCostUsd: number; spentUsd: number },
): ChatClient {
  let spent = opts.spentUsd;
  let inFlight = 0;
  return {
    // An adaptive limit behind the client still decides how many calls it takes at once.
    ...(client.inFlightLimit ? { inFlightLimit: () => client.inFlightLimit!() } : {}),
    async complete(req, callOpts) {
      const worst = worstCaseCost(req, opts.prices);
      if (spent + inFlight + worst > opts.maxCostUsd) {
        throw new EndpointError(
          `judge.maxCostUsd ${usd(opts.maxCostUsd)} would be exceeded: ${usd(spent)} spent, ${usd(inFlight)} in flight, the next judge call may cost up to ${usd(worst)} (raise judge.maxCostUsd or lower judge.concurrency to go on)`,
          'unrecoverable',
          { role: 'judge' },
        );
      }
      inFlight += worst;
      try {
        const res = await client.complete(req, callOpts);
        spent += costOf(res.usage, opts.prices);
        return res;
      } finally {
        inFlight -= worst;
      }
    },
  };
}
