/** A tiny made-up benchmark for engine behaviour tests (real data is only read from ../shared). */
import { ALL_PROMPT_NAMES, type Benchmark, type JudgePrompt } from '../../src/eval/benchmark.js';
import type { BenchmarkQuestion } from '../../src/eval/types.js';

const CATS = ['writing', 'roleplay', 'reasoning', 'math', 'coding', 'extraction', 'stem', 'humanities'];

export function syntheticBenchmark(perCategory = 10): Benchmark {
  const questions: BenchmarkQuestion[] = [];
  let id = 1;
  for (const category of CATS)
    for (let i = 0; i < perCategory; i++, id++)
      questions.push({
        questionId: id,
        category,
        turns: [`Q${id}T1`, `Q${id}T2`],
        reference: [`R${id}T1`, `R${id}T2`],
      });
  const judgePrompts: Record<string, JudgePrompt> = {};
  for (const name of ALL_PROMPT_NAMES) {
    const pair = name.startsWith('pair');
    const multi = name.endsWith('multi-turn');
    const tpl = pair
      ? multi
        ? '{question_1}|{question_2}|A:{answer_a_1}/{answer_a_2}|B:{answer_b_1}/{answer_b_2}'
        : '{question}|A:{answer_a}|B:{answer_b}'
      : multi
        ? '{question_1}|{answer_1}|{question_2}|{answer_2}'
        : '{question}|{answer}';
    const ref = name.includes('math') ? (multi ? '|ref:{ref_answer_1}/{ref_answer_2}' : '|ref:{ref_answer_1}') : '';
    judgePrompts[name] = {
      name,
      type: pair ? 'pairwise' : 'single',
      system_prompt: `sys:${name}`,
      prompt_template: `${name}|${tpl}${ref}`,
      output_format: pair ? '[[A]]' : '[[rating]]',
    };
  }
  return {
    name: 'synthetic',
    questions,
    judgePrompts,
    referenceSet: 'synthetic-refs',
    promptSet: 'synthetic-prompts',
    dataChecksums: {},
  };
}

/** Question id and turn of a synthetic judge or candidate prompt. */
export function qOf(text: string): number {
  const m = /Q(\d+)T/.exec(text);
  if (!m) throw new Error(`no question id in ${text.slice(0, 80)}`);
  return Number(m[1]);
}
