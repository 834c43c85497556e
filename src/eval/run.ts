/**
 * The MT-Bench engine: generates answers and judges them, pipelined per question so judging turn 1
 * runs while turn 2 generates, with bounded concurrency per endpoint, retries, resume from a
 * store, a content-addressed judge cache, and fail-fast on unrecoverable errors.
 * The parts: run-context.ts (options, stop switch, limited calls, kept records), resume.ts (which
 * stored records are reused), answering.ts (generation), judging.ts (single and pairwise).
 */
import { createAnswering } from './answering.js';
import { turnsToRun } from './benchmark.js';
import { EndpointError } from './errors.js';
import { createJudging } from './judging.js';
import type { EvalResult, RunEvaluationOptions } from './options.js';
import { loadStored } from './resume.js';
import { createRunContext, preflight } from './run-context.js';
import { buildSummary, zeroCounters } from './summary.js';
import type { AnswerRecord, BenchmarkQuestion } from './types.js';

/** The caller stopped the run (its signal's reason is the cause). */
const callerAborted = (reason: unknown) => new EndpointError('evaluation aborted', 'aborted', { cause: reason });

export async function runEvaluation(opts: RunEvaluationOptions): Promise<EvalResult> {
  const now = opts.now ?? Date.now;
  const startedAt = now();
  const baseline = preflight(opts);
  if (opts.signal?.aborted) throw callerAborted(opts.signal.reason);

  const c = zeroCounters();
  const ctx = createRunContext(opts, baseline, await loadStored(opts.store, c), c);
  const { bench, fail } = ctx;
  const answer = createAnswering(ctx);
  const judgeTurn = createJudging(ctx);
  const onCallerAbort = () => fail(callerAborted(opts.signal?.reason));

  /** Turn t+1 generates while turn t is judged; judging never waits for other questions. */
  async function runQuestion(q: BenchmarkQuestion): Promise<void> {
    const done: AnswerRecord[] = [];
    const judging: Promise<void>[] = [];
    for (let t = 1; t <= turnsToRun(bench, q); t++) {
      const a = await answer(q, t, [...done]);
      done.push(a);
      const snapshot = [...done];
      judging.push(judgeTurn(q, t, snapshot).catch(fail));
    }
    await Promise.all(judging);
  }

  if (opts.signal?.aborted) throw callerAborted(opts.signal.reason);
  opts.signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    ctx.progress();
    await Promise.race([Promise.all(bench.questions.map((q) => runQuestion(q).catch(fail))), ctx.stopped]).catch(
      () => undefined,
    );
    const fatal = ctx.stopError();
    if (fatal !== undefined) {
      await ctx.saved();
      throw fatal;
    }
  } finally {
    opts.signal?.removeEventListener('abort', onCallerAbort);
  }
  return buildSummary({
    opts,
    mode: ctx.mode,
    answers: [...ctx.answers.values()],
    judged: [...ctx.judged.values()],
    counters: c,
    wallMs: now() - startedAt,
  });
}
