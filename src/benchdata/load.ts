/**
 * loadBenchmark: FastChat-format files -> a validated Benchmark. Every problem is reported with the
 * file and line it came from, because a broken data file is otherwise only noticed as odd scores.
 */
import { z } from 'zod';
import { EvalhookError } from '../errors.js';
import { ALL_PROMPT_NAMES, JudgePrompt, NEED_REF_CATS, type Benchmark } from '../eval/benchmark.js';
import type { BenchmarkQuestion } from '../eval/types.js';
import { fetchPinned, readLocal, type LoadedFile } from './files.js';
import { BENCHMARK_SOURCES, type BuiltinBenchmark, type DataFile } from './sources.js';

export interface LoadBenchmarkOptions {
  /** Local directory in FastChat's layout (or ../shared's); files not found there are downloaded. */
  dataDir?: string;
  /** Where downloaded files are cached (verified by sha256 on every use). */
  cacheDir: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Reference-answer set by name, e.g. 'gpt-4' (default for mt-bench) or 'gpt-4-0125-preview'. */
  reference?: string;
}

// FastChat coerces question ids to int in places; some upstream files store them as strings.
const Id = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);
const QuestionLine = z.object({
  question_id: Id,
  category: z.string().min(1),
  turns: z.array(z.string()).min(1),
});
const AnswerLine = z.object({
  question_id: Id,
  choices: z.array(z.object({ turns: z.array(z.string()).min(1) })).min(1),
});

const EXPECTED_QUESTIONS = 80;
const EXPECTED_PER_CATEGORY = 10;
const EXPECTED_CATEGORIES = ['coding', 'extraction', 'humanities', 'math', 'reasoning', 'roleplay', 'stem', 'writing'];

/** Bad benchmark or baseline data: fixing it takes a person, so the job layer does not retry it. */
export class BenchmarkDataError extends EvalhookError {
  override name = 'BenchmarkDataError';
  constructor(message: string, opts?: { cause?: unknown }) {
    super('EVALHOOK_ERR_BENCHMARK_DATA', message, opts);
  }
}

export function parseJsonl<S extends z.ZodType>(
  file: LoadedFile,
  schema: S,
): Array<{ line: number; value: z.output<S> }> {
  const out: Array<{ line: number; value: z.output<S> }> = [];
  file.text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      throw new BenchmarkDataError(
        `${file.origin}:${line}: invalid JSON (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new BenchmarkDataError(
        `${file.origin}:${line}: ${issue ? `${issue.path.join('.') || '(line)'}: ${issue.message}` : 'invalid record'}`,
      );
    }
    out.push({ line, value: parsed.data });
  });
  return out;
}

async function obtain(file: DataFile, opts: LoadBenchmarkOptions): Promise<LoadedFile> {
  const local = opts.dataDir ? await readLocal(opts.dataDir, file) : undefined;
  return local ?? fetchPinned(file, { cacheDir: opts.cacheDir, fetch: opts.fetch, signal: opts.signal });
}

/** Provenance string: the pinned source when the bytes match it, else the local path used. */
const provenance = (file: DataFile, got: LoadedFile) =>
  got.pinned ? file.source : `local:${got.origin} (sha256 ${got.sha256.slice(0, 12)}…, not the pinned upstream file)`;

export async function loadBenchmark(name: BuiltinBenchmark, opts: LoadBenchmarkOptions): Promise<Benchmark> {
  const source = BENCHMARK_SOURCES[name];
  if (!source)
    throw new BenchmarkDataError(
      `unknown benchmark '${String(name)}' (known: ${Object.keys(BENCHMARK_SOURCES).join(', ')})`,
    );
  const refName = opts.reference ?? source.defaultReference;
  const refFile = (source.references as Record<string, DataFile>)[refName];
  if (!refFile)
    throw new BenchmarkDataError(
      `benchmark ${name} has no reference set '${refName}' (known: ${Object.keys(source.references).join(', ')})`,
    );

  const [qf, pf, rf] = await Promise.all([
    obtain(source.questions, opts),
    obtain(source.judgePrompts, opts),
    obtain(refFile, opts),
  ]);

  const questions = validateQuestions(qf, parseJsonl(qf, QuestionLine));
  const judgePrompts = validatePrompts(pf, parseJsonl(pf, JudgePrompt));
  const refs = new Map<number, string[]>();
  for (const { value } of parseJsonl(rf, AnswerLine)) refs.set(value.question_id, value.choices[0]!.turns);
  for (const q of questions) {
    const ref = refs.get(q.questionId as number);
    if (ref) q.reference = ref;
    else if (NEED_REF_CATS.includes(q.category))
      throw new BenchmarkDataError(
        `${rf.origin}: no reference answer for question ${String(q.questionId)} (${q.category}), which is judged against one`,
      );
    if (ref && NEED_REF_CATS.includes(q.category) && ref.length < q.turns.length) {
      throw new BenchmarkDataError(
        `${rf.origin}: reference for question ${String(q.questionId)} has ${ref.length} turn(s), needs ${q.turns.length}`,
      );
    }
  }
  return {
    name,
    questions,
    judgePrompts,
    referenceSet: `${refName}: ${provenance(refFile, rf)}`,
    promptSet: provenance(source.judgePrompts, pf),
    dataChecksums: { [source.questions.id]: qf.sha256, [source.judgePrompts.id]: pf.sha256, [refFile.id]: rf.sha256 },
  };
}

function validateQuestions(
  file: LoadedFile,
  rows: Array<{ line: number; value: z.output<typeof QuestionLine> }>,
): BenchmarkQuestion[] {
  const seen = new Map<number, number>();
  const perCat = new Map<string, number>();
  for (const { line, value } of rows) {
    const prev = seen.get(value.question_id);
    if (prev !== undefined)
      throw new BenchmarkDataError(
        `${file.origin}:${line}: duplicate question_id ${value.question_id} (first on line ${prev})`,
      );
    seen.set(value.question_id, line);
    if (value.turns.length !== 2)
      throw new BenchmarkDataError(
        `${file.origin}:${line}: question ${value.question_id} has ${value.turns.length} turn(s), MT-Bench needs 2`,
      );
    if (!EXPECTED_CATEGORIES.includes(value.category))
      throw new BenchmarkDataError(`${file.origin}:${line}: unknown category '${value.category}'`);
    perCat.set(value.category, (perCat.get(value.category) ?? 0) + 1);
  }
  if (rows.length !== EXPECTED_QUESTIONS)
    throw new BenchmarkDataError(`${file.origin}: ${rows.length} questions, expected ${EXPECTED_QUESTIONS}`);
  for (const c of EXPECTED_CATEGORIES) {
    const n = perCat.get(c) ?? 0;
    if (n !== EXPECTED_PER_CATEGORY)
      throw new BenchmarkDataError(
        `${file.origin}: category ${c} has ${n} questions, expected ${EXPECTED_PER_CATEGORY}`,
      );
  }
  return rows.map(({ value }) => ({ questionId: value.question_id, category: value.category, turns: value.turns }));
}

function validatePrompts(
  file: LoadedFile,
  rows: Array<{ line: number; value: JudgePrompt }>,
): Record<string, JudgePrompt> {
  const out: Record<string, JudgePrompt> = {};
  for (const { line, value } of rows) {
    if (out[value.name]) throw new BenchmarkDataError(`${file.origin}:${line}: duplicate judge prompt '${value.name}'`);
    out[value.name] = value;
  }
  const missing = ALL_PROMPT_NAMES.filter((n) => !out[n]);
  if (missing.length) throw new BenchmarkDataError(`${file.origin}: missing judge prompt(s) ${missing.join(', ')}`);
  return out;
}
