/** The engine's public option and result shapes (see run.ts for the semantics). */
import type { Benchmark } from './benchmark.js';
import type { TokenPrices } from './cost.js';
import type { CallRetryPolicy, Sleep } from './execution.js';
import type { ChatClient, EvalStore, JudgeCache } from './ports.js';
import type { AnswerRecord, BenchmarkQuestion, EvalProgress, EvalRecord, EvalSummary } from './types.js';

export interface RunEvaluationOptions {
  benchmark: Benchmark;
  candidate: { client: ChatClient; model: string; concurrency: number; systemPrompt?: string };
  judge: {
    client: ChatClient;
    model: string;
    concurrency: number;
    /** Ask for JSON-schema output ({explanation, rating}) instead of parsing [[rating]] text. */
    structured?: boolean;
    /** Re-ask the judge (bypassing the cache) this many times before accepting an unparseable -1. */
    parseRetries?: number;
    /** USD per million tokens; the summary's costUsd is null without them. */
    prices?: TokenPrices;
    /** Fail (final) before the judge's cost for this evaluation, resumed attempts included, could exceed this. Needs prices. */
    maxCostUsd?: number;
  };
  mode?: 'single' | 'pairwise-baseline';
  /** Required for pairwise-baseline: the baseline's answers (AnswerRecord per question and turn). */
  baseline?: { model: string; answers: AnswerRecord[] };
  store?: EvalStore;
  cache?: JudgeCache;
  signal?: AbortSignal;
  retry?: CallRetryPolicy;
  /** Per call; default 300 s. */
  callTimeoutMs?: number;
  onProgress?: (p: EvalProgress) => void;
  /** Called with every record produced in this run (not with records resumed from the store). */
  onRecord?: (r: EvalRecord) => void;
  bootstrap?: { seed?: number; samples?: number };
  sleep?: Sleep;
  random?: () => number;
  now?: () => number;
}

export interface EvalResult {
  summary: EvalSummary;
  /** Answers (by question, turn) then judgments / pairwise records (by question, turn). */
  records: EvalRecord[];
  questions: BenchmarkQuestion[];
}

export const DEFAULT_CALL_TIMEOUT_MS = 300_000;
