/**
 * What one run shares: its options resolved, the stop switch (the caller's signal, an unrecoverable
 * error or exhausted retries stop everything in flight at once), the endpoint limiters and the
 * calls through them, the records kept so far, and the counters.
 */
import { setMaxListeners } from 'node:events';
import { EvalhookError } from '../errors.js';
import { turnsToRun } from './benchmark.js';
import { isEndpointError, type EndpointRole } from './errors.js';
import { abortError, callWithTimeout, defaultSleep, DEFAULT_RETRY, PrioritySemaphore, retryCall } from './execution.js';
import { DEFAULT_CALL_TIMEOUT_MS, type RunEvaluationOptions } from './options.js';
import { getPrompt, pairPromptName, singlePromptName } from './prompts.js';
import type { ChatRequest, ChatResult } from './ports.js';
import type { StoredRecords } from './resume.js';
import type { RunCounters } from './summary.js';
import type { AnswerRecord, JudgmentRecord, PairwiseRecord } from './types.js';
import { capJudgeCost, judgeSpend } from './cost.js';

export type RunContext = ReturnType<typeof createRunContext>;

/** Fails before spending anything if the data cannot be judged the way this run needs; returns the baseline answers by `question/turn`. */
export function preflight(opts: RunEvaluationOptions): Map<string, string> {
  const bench = opts.benchmark;
  const mode = opts.mode ?? 'single';
  const { judge } = opts;
  if (judge.maxCostUsd !== undefined && !judge.prices)
    throw new EvalhookError(
      'EVALHOOK_ERR_CONFIG',
      'judge.maxCostUsd needs judge.prices: a cost cap cannot be enforced without a price',
    );
  const promptNames = new Set(
    bench.questions.flatMap((q) =>
      Array.from({ length: turnsToRun(bench, q) }, (_, i) =>
        (mode === 'single' ? singlePromptName : pairPromptName)(bench, q.category, i + 1),
      ),
    ),
  );
  for (const name of promptNames) getPrompt(bench, name);
  const baseline = new Map<string, string>();
  if (mode === 'pairwise-baseline') {
    if (!opts.baseline)
      throw new EvalhookError('EVALHOOK_ERR_BENCHMARK_DATA', 'pairwise-baseline mode needs baseline answers');
    for (const a of opts.baseline.answers) baseline.set(`${String(a.questionId)}/${a.turn}`, a.content);
    for (const q of bench.questions)
      for (let t = 1; t <= turnsToRun(bench, q); t++)
        if (!baseline.has(`${String(q.questionId)}/${t}`))
          throw new EvalhookError(
            'EVALHOOK_ERR_BENCHMARK_DATA',
            `baseline ${opts.baseline.model} has no answer for question ${String(q.questionId)} turn ${t}`,
          );
  }
  return baseline;
}

export function createRunContext(
  opts: RunEvaluationOptions,
  baseline: ReadonlyMap<string, string>,
  stored: StoredRecords,
  c: RunCounters,
) {
  const now = opts.now ?? Date.now;
  const bench = opts.benchmark;
  const mode = opts.mode ?? 'single';
  const { candidate, judge } = opts;
  const timeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;

  const run = new AbortController();
  setMaxListeners(0, run.signal); // every queued and in-flight call listens on it, by design
  let fatal: unknown;
  let rejectFatal: (err: unknown) => void = () => undefined;
  const fatalP = new Promise<never>((_, reject) => (rejectFatal = reject));
  fatalP.catch(() => undefined);
  const fail = (err: unknown): void => {
    if (fatal !== undefined) return;
    fatal =
      isEndpointError(err) && err.kind === 'aborted' && opts.signal?.aborted ? abortError(undefined, opts.signal) : err;
    run.abort(fatal);
    rejectFatal(fatal);
  };

  const answers = new Map<string, AnswerRecord>();
  const judged = new Map<string, JudgmentRecord | PairwiseRecord>();
  const totalTurns = bench.questions.reduce((n, q) => n + turnsToRun(bench, q), 0);
  let invalid = 0;
  const progress = () =>
    opts.onProgress?.({
      answersDone: answers.size,
      answersTotal: totalTurns,
      judgmentsDone: judged.size,
      judgmentsTotal: totalTurns,
      invalid,
    });

  // Judge calls queued or in flight. Below the judge's concurrency the judge would idle, so a ready
  // turn-2 generation (which brings a judgment) goes before a new turn-1.
  let judgeBacklog = 0;
  const noLimit = () => Infinity;
  // The cap sees every judge request as it is sent (after the limiter, on each retry), resumed spend included.
  const judgeClient =
    judge.maxCostUsd === undefined
      ? judge.client
      : capJudgeCost(judge.client, {
          prices: judge.prices!,
          maxCostUsd: judge.maxCostUsd,
          spentUsd: judgeSpend(stored.values(), judge.prices!),
        });
  const judgeSemaphore = new PrioritySemaphore(
    judge.concurrency,
    undefined,
    judgeClient.inFlightLimit?.bind(judgeClient) ?? noLimit,
  );
  const judgeWouldRunDry = () => judgeBacklog < judgeSemaphore.limit();
  const semaphores: Record<EndpointRole, PrioritySemaphore> = {
    candidate: new PrioritySemaphore(
      candidate.concurrency,
      judgeWouldRunDry,
      candidate.client.inFlightLimit?.bind(candidate.client) ?? noLimit,
    ),
    judge: judgeSemaphore,
  };
  const clients = { candidate: candidate.client, judge: judgeClient };

  /** Scheduling hint for limiters shared outside this run (ChatCallOptions.priority), same order as above. */
  const hint = (role: EndpointRole, cls: 0 | 1) => (role === 'judge' ? 0 : cls === 0 ? 1 : judgeWouldRunDry() ? 2 : 0);

  async function call(role: EndpointRole, req: ChatRequest, cls: 0 | 1): Promise<ChatResult> {
    if (role === 'judge') judgeBacklog += 1;
    try {
      const res = await retryCall(
        () =>
          semaphores[role].run(
            () =>
              callWithTimeout(
                (signal) => clients[role].complete(req, { signal, timeoutMs, priority: hint(role, cls) }),
                { signal: run.signal, timeoutMs, role },
              ),
            run.signal,
            cls,
          ),
        {
          policy: opts.retry ?? DEFAULT_RETRY,
          sleep,
          random,
          signal: run.signal,
          role,
          onRetry: () => (c.retries += 1),
        },
      );
      if (role === 'judge') c.judgeCalls += 1;
      else c.candidateCalls += 1;
      return res;
    } finally {
      if (role === 'judge') judgeBacklog -= 1;
    }
  }

  const pendingSaves = new Set<Promise<void>>();
  async function keep(record: AnswerRecord | JudgmentRecord | PairwiseRecord, fresh: boolean): Promise<void> {
    if (fresh) {
      // A stopped run writes nothing more, so a resumed run never races a zombie of the old one.
      if (run.signal.aborted) throw abortError(undefined, run.signal);
      // Saved before it counts as done, so a crash loses nothing finished.
      const saving = Promise.resolve(opts.store?.save(record));
      pendingSaves.add(saving);
      try {
        await saving;
      } finally {
        pendingSaves.delete(saving);
      }
      opts.onRecord?.(record);
    }
    if (record.kind === 'answer') answers.set(record.key, record);
    else judged.set(record.key, record);
    progress();
  }

  return {
    opts,
    bench,
    mode,
    candidate,
    judge,
    now,
    baseline,
    stored,
    c,
    signal: run.signal,
    answers,
    judged,
    call,
    keep,
    progress,
    /** Counts an invalid judgment (or an answer error) for progress. */
    markInvalid: () => void (invalid += 1),
    /** Stops the run with `err` (the first one wins). */
    fail,
    /** Rejects with the error that stopped the run. */
    stopped: fatalP,
    stopError: (): unknown => fatal,
    /** Let saves already under way land, so the caller's retry resumes from everything finished. */
    saved: () => Promise.allSettled([...pendingSaves]),
  };
}
