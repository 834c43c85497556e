/**
 * Judge prompt construction exactly as FastChat's common.py run_judge_single / run_judge_pair:
 * which prompt for which match, which placeholders get which text, and the two-message layout.
 */
import { EvalhookError } from '../errors.js';
import { needsReference, type Benchmark, type JudgePrompt } from './benchmark.js';
import type { ChatMessage } from './ports.js';
import type { BenchmarkQuestion } from './types.js';

/**
 * Python str.format for templates holding only `{name}` fields. A FUNCTION replacer on purpose:
 * a string replacement would interpret `$&`, `$1`, `$$` inside model answers (code!).
 */
export function fillTemplate(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (_match, key: string) => {
    const value = vars[key];
    if (value === undefined)
      throw new EvalhookError('EVALHOOK_ERR_BENCHMARK_DATA', `judge prompt placeholder {${key}} has no value`);
    return value;
  });
}

export function singlePromptName(bench: Benchmark, category: string, turn: number): string {
  const ref = needsReference(bench, category);
  if (turn === 1) return ref ? 'single-math-v1' : 'single-v1';
  return ref ? 'single-math-v1-multi-turn' : 'single-v1-multi-turn';
}

export function pairPromptName(bench: Benchmark, category: string, turn: number): string {
  const ref = needsReference(bench, category);
  if (turn === 1) return ref ? 'pair-math-v1' : 'pair-v2';
  return ref ? 'pair-math-v1-multi-turn' : 'pair-v2-multi-turn';
}

export function getPrompt(bench: Benchmark, name: string): JudgePrompt {
  const p = bench.judgePrompts[name];
  if (!p)
    throw new EvalhookError(
      'EVALHOOK_ERR_BENCHMARK_DATA',
      `benchmark ${bench.name} has no judge prompt '${name}' (prompt set ${bench.promptSet})`,
    );
  return p;
}

export interface BuiltPrompt {
  promptName: string;
  messages: ChatMessage[];
  userPrompt: string;
}

function refVars(bench: Benchmark, q: BenchmarkQuestion, turn: number): Record<string, string> {
  if (!needsReference(bench, q.category)) return {};
  const ref = q.reference;
  if (!ref || ref.length < turn)
    throw new EvalhookError(
      'EVALHOOK_ERR_BENCHMARK_DATA',
      `question ${String(q.questionId)} (${q.category}) has no reference answer for turn ${turn}`,
    );
  return turn === 1 ? { ref_answer_1: ref[0]! } : { ref_answer_1: ref[0]!, ref_answer_2: ref[1]! };
}

function messagesFor(prompt: JudgePrompt, userPrompt: string): ChatMessage[] {
  return [
    { role: 'system', content: prompt.system_prompt },
    { role: 'user', content: userPrompt },
  ];
}

/** answers[i] = the candidate's answer to turn i+1. */
export function buildSinglePrompt(
  bench: Benchmark,
  q: BenchmarkQuestion,
  turn: number,
  answers: readonly string[],
): BuiltPrompt {
  const promptName = singlePromptName(bench, q.category, turn);
  const prompt = getPrompt(bench, promptName);
  const vars: Record<string, string> =
    turn === 1
      ? { question: q.turns[0]!, answer: answers[0]!, ...refVars(bench, q, 1) }
      : {
          question_1: q.turns[0]!,
          question_2: q.turns[1]!,
          answer_1: answers[0]!,
          answer_2: answers[1]!,
          ...refVars(bench, q, 2),
        };
  const userPrompt = fillTemplate(prompt.prompt_template, vars);
  return { promptName, messages: messagesFor(prompt, userPrompt), userPrompt };
}

/** Game with `a` shown as Assistant A and `b` as Assistant B (callers swap for game 2). */
export function buildPairPrompt(
  bench: Benchmark,
  q: BenchmarkQuestion,
  turn: number,
  a: readonly string[],
  b: readonly string[],
): BuiltPrompt {
  const promptName = pairPromptName(bench, q.category, turn);
  const prompt = getPrompt(bench, promptName);
  const vars: Record<string, string> =
    turn === 1
      ? { question: q.turns[0]!, answer_a: a[0]!, answer_b: b[0]!, ...refVars(bench, q, 1) }
      : {
          question_1: q.turns[0]!,
          question_2: q.turns[1]!,
          answer_a_1: a[0]!,
          answer_a_2: a[1]!,
          answer_b_1: b[0]!,
          answer_b_2: b[1]!,
          ...refVars(bench, q, 2),
        };
  const userPrompt = fillTemplate(prompt.prompt_template, vars);
  return { promptName, messages: messagesFor(prompt, userPrompt), userPrompt };
}
