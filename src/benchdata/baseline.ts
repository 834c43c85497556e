/**
 * Baseline answers for pairwise-baseline mode: a FastChat `model_answer/<model>.jsonl` file (the
 * model name is the file name, as FastChat's show_result expects). Read by the CLI and the workers.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { z } from 'zod';
import type { AnswerRecord } from '../eval/types.js';
import { BenchmarkDataError } from './load.js';

const AnswerLine = z.object({
  question_id: z.union([z.number().int(), z.string().min(1)]),
  choices: z.array(z.object({ turns: z.array(z.string()).min(1) })).min(1),
});

export async function loadBaselineAnswers(file: string): Promise<{ model: string; answers: AnswerRecord[] }> {
  const model = basename(file).replace(/\.jsonl$/, '');
  const answers: AnswerRecord[] = [];
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new BenchmarkDataError(
      `cannot read baseline answers ${file}: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new BenchmarkDataError(`${file}:${i + 1}: not JSON`);
    }
    const row = AnswerLine.safeParse(json);
    if (!row.success)
      throw new BenchmarkDataError(
        `${file}:${i + 1}: not a FastChat answer line (${row.error.issues[0]?.path.join('.') ?? ''})`,
      );
    const qid =
      typeof row.data.question_id === 'string' && /^\d+$/.test(row.data.question_id)
        ? Number(row.data.question_id)
        : row.data.question_id;
    row.data.choices[0]!.turns.forEach((content, t) =>
      answers.push({
        kind: 'answer',
        key: `answer/${String(qid)}/${t + 1}`,
        questionId: qid,
        turn: t + 1,
        model,
        content,
        params: { model, temperature: 0, max_tokens: 0 },
        usage: { promptTokens: 0, completionTokens: 0 },
        tstamp: 0,
      }),
    );
  }
  return { model, answers };
}
