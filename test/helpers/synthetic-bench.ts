/**
 * A synthetic MT-Bench in FastChat's file layout (80 questions, 8 categories x 10, 2 turns, the 8
 * judge prompts by name, references for math/reasoning/coding), made up at test time so pipeline
 * tests need neither ../shared nor a download, and no benchmark text lives in the repository.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CATEGORIES = ['writing', 'roleplay', 'reasoning', 'math', 'coding', 'extraction', 'stem', 'humanities'];
const NEED_REF = new Set(['math', 'reasoning', 'coding']);

const PROMPTS: Array<[name: string, type: string, system: string, template: string, category: string]> = [
  [
    'single-v1',
    'single',
    'You are a helpful assistant.',
    '[Q]\n{question}\n[A]\n{answer}\nRate as "[[rating]]".',
    'general',
  ],
  [
    'single-math-v1',
    'single',
    'You are a helpful assistant.',
    '[Q]\n{question}\n[R]\n{ref_answer_1}\n[A]\n{answer}\nRate as "[[rating]]".',
    'math',
  ],
  [
    'single-v1-multi-turn',
    'single',
    'Judge the second answer.',
    '{question_1}|{answer_1}|{question_2}|{answer_2}',
    'general',
  ],
  [
    'single-math-v1-multi-turn',
    'single',
    'Judge the second answer.',
    '{question_1}|{ref_answer_1}|{question_2}|{ref_answer_2}|{answer_1}|{answer_2}',
    'math',
  ],
  ['pair-v2', 'pairwise', 'Compare.', '{question}|{answer_a}|{answer_b}', 'general'],
  [
    'pair-v2-multi-turn',
    'pairwise',
    'Compare.',
    '{question_1}|{question_2}|{answer_a_1}|{answer_a_2}|{answer_b_1}|{answer_b_2}',
    'general',
  ],
  ['pair-math-v1', 'pairwise', 'Compare.', '{question}|{ref_answer_1}|{answer_a}|{answer_b}', 'math'],
  [
    'pair-math-v1-multi-turn',
    'pairwise',
    'Compare.',
    '{question_1}|{question_2}|{ref_answer_1}|{ref_answer_2}|{answer_a_1}|{answer_a_2}|{answer_b_1}|{answer_b_2}',
    'math',
  ],
];

export function writeSyntheticBench(dir = mkdtempSync(join(tmpdir(), 'evalhook-bench-'))): string {
  const questions: string[] = [];
  const refs: string[] = [];
  let id = 81;
  for (const category of CATEGORIES) {
    for (let i = 0; i < 10; i++, id++) {
      questions.push(
        JSON.stringify({
          question_id: id,
          category,
          turns: [`synthetic ${category} q${id} turn 1`, `synthetic ${category} q${id} turn 2`],
        }),
      );
      if (NEED_REF.has(category)) {
        refs.push(
          JSON.stringify({
            question_id: id,
            answer_id: `ref${id}`,
            model_id: 'gpt-4',
            choices: [{ index: 0, turns: [`ref ${id} a`, `ref ${id} b`] }],
            tstamp: 0,
          }),
        );
      }
    }
  }
  const prompts = PROMPTS.map(([name, type, system_prompt, prompt_template, category]) =>
    JSON.stringify({
      name,
      type,
      system_prompt,
      prompt_template,
      description: 'synthetic',
      category,
      output_format: type === 'single' ? '[[rating]]' : '[[A]]',
    }),
  );
  mkdirSync(join(dir, 'reference_answer'), { recursive: true });
  writeFileSync(join(dir, 'question.jsonl'), `${questions.join('\n')}\n`);
  writeFileSync(join(dir, 'judge_prompts.jsonl'), `${prompts.join('\n')}\n`);
  writeFileSync(join(dir, 'reference_answer', 'gpt-4.jsonl'), `${refs.join('\n')}\n`);
  return dir;
}

/** The question id and turn a synthetic judge prompt is about (judge fakes use it to score). */
export function questionOfPrompt(prompt: string): number | undefined {
  const m = /q(\d+) turn/.exec(prompt);
  return m ? Number(m[1]) : undefined;
}
