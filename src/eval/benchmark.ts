/**
 * A benchmark as data: questions, judge prompts, reference answers and generation settings, in
 * FastChat's vocabulary. The loaders (src/benchdata) produce it; the engine only reads it.
 */
import { z } from 'zod';
import type { BenchmarkQuestion } from './types.js';

export const JudgePrompt = z.object({
  name: z.string().min(1),
  type: z.enum(['single', 'pairwise']),
  system_prompt: z.string(),
  prompt_template: z.string().min(1),
  description: z.string().optional(),
  category: z.string().optional(),
  output_format: z.string(),
});
export type JudgePrompt = z.infer<typeof JudgePrompt>;

/** The eight prompt names FastChat's gen_judgment.py needs (single + pairwise, turn 1 + 2, ref/no-ref). */
export const SINGLE_PROMPT_NAMES = [
  'single-v1',
  'single-math-v1',
  'single-v1-multi-turn',
  'single-math-v1-multi-turn',
] as const;
export const PAIR_PROMPT_NAMES = ['pair-v2', 'pair-math-v1', 'pair-v2-multi-turn', 'pair-math-v1-multi-turn'] as const;
export const ALL_PROMPT_NAMES = [...SINGLE_PROMPT_NAMES, ...PAIR_PROMPT_NAMES] as const;

/** common.py NEED_REF_CATS (arena-hard-200 belongs to another benchmark but is harmless). */
export const NEED_REF_CATS: readonly string[] = ['math', 'reasoning', 'coding', 'arena-hard-200'];

/** gen_model_answer.py temperature_config; anything else defaults to 0.7. */
export const FASTCHAT_TEMPERATURES: Readonly<Record<string, number>> = {
  writing: 0.7,
  roleplay: 0.7,
  extraction: 0.0,
  math: 0.0,
  coding: 0.0,
  reasoning: 0.0,
  stem: 0.1,
  humanities: 0.1,
  'arena-hard-200': 0.0,
};
export const FASTCHAT_DEFAULT_TEMPERATURE = 0.7;
export const FASTCHAT_MAX_NEW_TOKENS = 1024;
export const JUDGE_MAX_TOKENS = 2048;

export interface Benchmark {
  /** 'mt-bench' | 'japanese-mt-bench' | a custom name. */
  name: string;
  questions: BenchmarkQuestion[];
  /** Judge prompts by name (FastChat judge_prompts.jsonl rows). */
  judgePrompts: Record<string, JudgePrompt>;
  /** Which reference-answer file was used, e.g. 'fastchat/gpt-4'. Recorded with every result. */
  referenceSet: string;
  /** Which judge-prompt file was used. */
  promptSet: string;
  /** sha256 of every data file, by logical file name. */
  dataChecksums: Record<string, string>;
  /** Generation temperature by category; defaults to FastChat's table. */
  temperatures?: Record<string, number>;
  defaultTemperature?: number;
  /** Candidate max_tokens; default 1024 (FastChat --max-new-token). */
  maxTokens?: number;
  /** Categories judged against a reference answer; default NEED_REF_CATS. */
  refCategories?: readonly string[];
  /** Judge only the first N turns (the Japanese golden set is first-turn only). Default: all turns. */
  maxTurns?: number;
}

export function generationTemperature(bench: Benchmark, category: string): number {
  const table = bench.temperatures ?? FASTCHAT_TEMPERATURES;
  return table[category] ?? bench.defaultTemperature ?? FASTCHAT_DEFAULT_TEMPERATURE;
}

/** What is actually sent: FastChat samples only when temperature >= 1e-4, else greedy. */
export function sentTemperature(t: number): number {
  return t < 1e-4 ? 0 : t;
}

export function needsReference(bench: Benchmark, category: string): boolean {
  return (bench.refCategories ?? NEED_REF_CATS).includes(category);
}

export function turnsToRun(bench: Benchmark, q: BenchmarkQuestion): number {
  return Math.min(q.turns.length, bench.maxTurns ?? Number.POSITIVE_INFINITY);
}
