/**
 * The MT-Bench engine: generates answers and judges them, pipelined per question so judging turn 1
 * runs while turn 2 generates, with bounded concurrency per endpoint, retries, resume from a
 * store, a content-addressed judge cache, and fail-fast on unrecoverable errors.
 */
import { setMaxListeners } from 'node:events';
import { JUDGE_MAX_TOKENS, FASTCHAT_MAX_NEW_TOKENS, generationTemperature, sentTemperature, turnsToRun } from './benchmark.js';
import { EndpointError, isEndpointError, type EndpointRole } from './errors.js';
import { abortError, callWithTimeout, defaultSleep, DEFAULT_RETRY, Limiter, withRetry } from './execution.js';
import { DEFAULT_CALL_TIMEOUT_MS, type EvalResult, type RunEvaluationOptions } from './options.js';
import type { ChatMessage, ChatRequest, ChatResult, TokenUsage } from './ports.js';
import { buildPairPrompt, buildSinglePrompt, getPrompt, singlePromptName, pairPromptName } from './prompts.js';
import { gameWinner, invalidScoreReason, parseSingleScore, parseStructuredScore, parseVerdict, structuredResponseFormat } from './scoring.js';
import { buildSummary, type RunCounters } from './summary.js';
import { EvalRecord, type AnswerRecord, type BenchmarkQuestion, type JudgmentRecord, type PairwiseRecord } from './types.js';
import { cacheKey } from './cache-key.js';
import { capJudgeCost, judgeSpend } from './cost.js';

/** FastChat common.py API_ERROR_OUTPUT: the answer recorded when the endpoint refuses a question. */
export const API_ERROR_OUTPUT = '$ERROR$';

const addUsage = (a: TokenUsage, b: TokenUsage): TokenUsage => ({ promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens });

export async function runEvaluation(opts: RunEvaluationOptions): Promise<EvalResult> {
  const now = opts.now ?? Date.now;
  const startedAt = now();
  const bench = opts.benchmark;
  const mode = opts.mode ?? 'single';
  const { candidate, judge } = opts;
  const timeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  const parseRetries = judge.parseRetries ?? 0;
  const responseFormat = judge.structured ? structuredResponseFormat() : undefined;
  const parseScore = judge.structured ? parseStructuredScore : parseSingleScore;

  // Fail before spending anything if the data cannot be judged the way this run needs.
  if (judge.maxCostUsd !== undefined && !judge.prices) throw new Error('judge.maxCostUsd needs judge.prices: a cost cap cannot be enforced without a price');
  const promptNames = new Set(bench.questions.flatMap((q) => Array.from({ length: turnsToRun(bench, q) }, (_, i) => (mode === 'single' ? singlePromptName : pairPromptName)(bench, q.category, i + 1))));
  for (const name of promptNames) getPrompt(bench, name);
  const baseline = new Map<string, string>();
  if (mode === 'pairwise-baseline') {
    if (!opts.baseline) throw new Error('pairwise-baseline mode needs baseline answers');
    for (const a of opts.baseline.answers) baseline.set(`${String(a.questionId)}/${a.turn}`, a.content);
    for (const q of bench.questions)
      for (let t = 1; t <= turnsToRun(bench, q); t++)
        if (!baseline.has(`${String(q.questionId)}/${t}`)) throw new Error(`baseline ${opts.baseline.model} has no answer for question ${String(q.questionId)} turn ${t}`);
  }

  // One controller for everything in flight: the caller's signal, an unrecoverable error, or
  // exhausted retries all stop the whole run at once.
  const run = new AbortController();
  setMaxListeners(0, run.signal); // every queued and in-flight call listens on it, by design
  let fatal: unknown;
  let rejectFatal: (err: unknown) => void = () => undefined;
  const fatalP = new Promise<never>((_, reject) => (rejectFatal = reject));
  fatalP.catch(() => undefined);
  const fail = (err: unknown): void => {
    if (fatal !== undefined) return;
    fatal = isEndpointError(err) && err.kind === 'aborted' && opts.signal?.aborted ? abortError(undefined, opts.signal) : err;
    run.abort(fatal);
    rejectFatal(fatal);
  };
  const onCallerAbort = () => fail(new EndpointError('evaluation aborted', 'aborted', { cause: opts.signal?.reason }));
  if (opts.signal?.aborted) throw new EndpointError('evaluation aborted', 'aborted', { cause: opts.signal.reason });

  const c: RunCounters = { judgeCalls: 0, candidateCalls: 0, cacheHits: 0, resumed: 0, answersResumed: 0, retries: 0, parseRetries: 0, duplicates: 0 };
  // Resume: the store is untrusted (it round-trips through Redis); last record per key wins.
  const stored = new Map<string, EvalRecord>();
  for (const raw of opts.store ? await opts.store.load() : []) {
    const parsed = EvalRecord.safeParse(raw);
    if (!parsed.success) continue;
    if (stored.has(parsed.data.key)) c.duplicates += 1;
    stored.set(parsed.data.key, parsed.data);
  }

  const answers = new Map<string, AnswerRecord>();
  const judged = new Map<string, JudgmentRecord | PairwiseRecord>();
  const totalTurns = bench.questions.reduce((n, q) => n + turnsToRun(bench, q), 0);
  let invalid = 0;
  const progress = () =>
    opts.onProgress?.({ answersDone: answers.size, answersTotal: totalTurns, judgmentsDone: judged.size, judgmentsTotal: totalTurns, invalid });

  // Judge calls queued or in flight. Below the judge's concurrency the judge would idle, so a ready
  // turn-2 generation (which brings a judgment) goes before a new turn-1.
  let judgeBacklog = 0;
  const noLimit = () => Infinity;
  // The cap sees every judge request as it is sent (after the limiter, on each retry), resumed spend included.
  const judgeClient = judge.maxCostUsd === undefined ? judge.client : capJudgeCost(judge.client, { prices: judge.prices!, maxCostUsd: judge.maxCostUsd, spentUsd: judgeSpend(stored.values(), judge.prices!) });
  const judgeLimiter = new Limiter(judge.concurrency, undefined, judgeClient.inFlightLimit?.bind(judgeClient) ?? noLimit);
  const judgeWouldRunDry = () => judgeBacklog < judgeLimiter.limit();
  const limiters: Record<EndpointRole, Limiter> = {
    candidate: new Limiter(candidate.concurrency, judgeWouldRunDry, candidate.client.inFlightLimit?.bind(candidate.client) ?? noLimit),
    judge: judgeLimiter,
  };
  const clients = { candidate: candidate.client, judge: judgeClient };

  /** Scheduling hint for limiters shared outside this run (ChatCallOptions.priority), same order as above. */
  const hint = (role: EndpointRole, cls: 0 | 1) => (role === 'judge' ? 0 : cls === 0 ? 1 : judgeWouldRunDry() ? 2 : 0);

  async function call(role: EndpointRole, req: ChatRequest, cls: 0 | 1): Promise<ChatResult> {
    if (role === 'judge') judgeBacklog += 1;
    try {
      const res = await withRetry(
        () =>
          limiters[role].run(
            () => callWithTimeout((signal) => clients[role].complete(req, { signal, timeoutMs, priority: hint(role, cls) }), { signal: run.signal, timeoutMs, role }),
            run.signal,
            cls,
          ),
        { policy: opts.retry ?? DEFAULT_RETRY, sleep, random, signal: run.signal, role, onRetry: () => (c.retries += 1) },
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

  async function answer(q: BenchmarkQuestion, turn: number, prior: readonly AnswerRecord[]): Promise<AnswerRecord> {
    const key = `answer/${String(q.questionId)}/${turn}`;
    const old = stored.get(key);
    // A stored turn-2 answer is only valid on top of the same turn-1 answer it was generated from.
    if (old?.kind === 'answer' && old.model === candidate.model && prior.every((p) => stored.get(p.key) === p)) {
      c.answersResumed += 1;
      await keep(old, false);
      return old;
    }
    const messages: ChatMessage[] = candidate.systemPrompt ? [{ role: 'system', content: candidate.systemPrompt }] : [];
    prior.forEach((p, i) => messages.push({ role: 'user', content: q.turns[i]! }, { role: 'assistant', content: p.content }));
    messages.push({ role: 'user', content: q.turns[turn - 1]! });
    const req: ChatRequest = {
      model: candidate.model,
      messages,
      temperature: sentTemperature(generationTemperature(bench, q.category)),
      max_tokens: bench.maxTokens ?? FASTCHAT_MAX_NEW_TOKENS,
    };
    // Turn 1 first (turn 2 only becomes ready later, so this keeps every slot fed), unless the judge would idle.
    let res: ChatResult;
    let error: string | undefined;
    try {
      res = await call('candidate', req, turn > 1 ? 1 : 0);
    } catch (err) {
      // FastChat records API_ERROR_OUTPUT and goes on: one refused question (a 400, e.g. prompt +
      // max_tokens over the server's context) is an invalid answer, not a failed evaluation.
      if (!(isEndpointError(err) && err.status === 400 && !run.signal.aborted)) throw err;
      error = err.message;
      res = { content: API_ERROR_OUTPUT, usage: { promptTokens: 0, completionTokens: 0 } };
    }
    const record: AnswerRecord = {
      kind: 'answer',
      key,
      questionId: q.questionId,
      turn,
      model: candidate.model,
      content: res.content,
      ...(error !== undefined ? { error } : {}),
      params: { model: req.model, temperature: req.temperature, max_tokens: req.max_tokens },
      usage: res.usage,
      tstamp: now() / 1000,
    };
    await keep(record, true);
    return record;
  }

  /** One judge exchange via the cache; `fresh` forces a real call (re-asking after a parse failure). */
  async function judgeOnce(messages: ChatMessage[], fresh: boolean): Promise<{ res: ChatResult; cached: boolean }> {
    const req: ChatRequest = { model: judge.model, messages, temperature: 0, max_tokens: JUDGE_MAX_TOKENS, ...(responseFormat ? { response_format: responseFormat } : {}) };
    const key = cacheKey(req);
    if (!fresh && opts.cache) {
      // The cache only saves money: if it is unreachable, judge for real rather than fail the run.
      const hit = await opts.cache.get(key).catch(() => undefined);
      if (hit) {
        c.cacheHits += 1;
        return { res: hit, cached: true };
      }
    }
    const res = await call('judge', req, 1);
    await opts.cache?.set(key, res).catch(() => undefined);
    return { res, cached: false };
  }

  /** Judges, re-asking up to parseRetries times while the reply cannot be parsed. */
  async function judgeParsed<T>(messages: ChatMessage[], parse: (s: string) => T, failed: (v: T) => boolean) {
    let { res, cached } = await judgeOnce(messages, false);
    let usage = cached ? { promptTokens: 0, completionTokens: 0 } : res.usage;
    let value = parse(res.content);
    for (let i = 0; i < parseRetries && failed(value); i++) {
      c.parseRetries += 1;
      ({ res, cached } = await judgeOnce(messages, true));
      usage = addUsage(usage, res.usage);
      value = parse(res.content);
    }
    return { res, cached, usage, value };
  }

  async function judgeSingle(q: BenchmarkQuestion, turn: number, ans: readonly AnswerRecord[]): Promise<void> {
    const key = `judgment/${String(q.questionId)}/${turn}`;
    const built = buildSinglePrompt(bench, q, turn, ans.map((a) => a.content));
    const old = stored.get(key);
    if (old?.kind === 'judgment' && old.judgeModel === judge.model && old.model === candidate.model && old.userPrompt === built.userPrompt) {
      c.resumed += 1;
      if (old.score === -1) invalid += 1;
      return keep(old, false);
    }
    const base = { kind: 'judgment', key, questionId: q.questionId, turn, model: candidate.model, judgeModel: judge.model, promptName: built.promptName, userPrompt: built.userPrompt } as const;
    const failed = ans[turn - 1]?.error;
    if (failed !== undefined) {
      // Nothing to judge: the answer is $ERROR$. It counts as invalid, with the endpoint's reason.
      invalid += 1;
      return keep({ ...base, judgment: '', score: -1, invalidReason: `answer error: ${failed}`, usage: { promptTokens: 0, completionTokens: 0 }, cached: false, tstamp: now() / 1000 }, true);
    }
    const { res, cached, usage, value: score } = await judgeParsed(built.messages, parseScore, (s) => s === -1);
    if (score === -1) invalid += 1;
    const invalidReason = invalidScoreReason(res.content, score);
    await keep({ ...base, judgment: res.content, score, ...(invalidReason ? { invalidReason } : {}), usage, cached, tstamp: now() / 1000 }, true);
  }

  async function judgePair(q: BenchmarkQuestion, turn: number, ans: readonly AnswerRecord[]): Promise<void> {
    const key = `pairwise/${String(q.questionId)}/${turn}`;
    const mine = ans.map((a) => a.content);
    const base = Array.from({ length: turn }, (_, i) => baseline.get(`${String(q.questionId)}/${i + 1}`)!);
    const g1 = buildPairPrompt(bench, q, turn, mine, base);
    const g2 = buildPairPrompt(bench, q, turn, base, mine);
    const old = stored.get(key);
    if (old?.kind === 'pairwise' && old.judgeModel === judge.model && old.model1 === candidate.model && old.g1UserPrompt === g1.userPrompt && old.g2UserPrompt === g2.userPrompt) {
      c.resumed += 1;
      return keep(old, false);
    }
    const failed = ans[turn - 1]?.error;
    if (failed !== undefined) {
      invalid += 1;
      const none = { promptTokens: 0, completionTokens: 0 };
      return keep(
        { kind: 'pairwise', key, questionId: q.questionId, turn, model1: candidate.model, model2: opts.baseline!.model, judgeModel: judge.model, promptName: g1.promptName, g1Winner: 'error', g2Winner: 'error', g1UserPrompt: g1.userPrompt, g1Judgment: `answer error: ${failed}`, g2UserPrompt: g2.userPrompt, g2Judgment: `answer error: ${failed}`, usage: none, cached: false, tstamp: now() / 1000 },
        true,
      );
    }
    const [r1, r2] = await Promise.all([
      judgeParsed(g1.messages, parseVerdict, (v) => v === 'error'),
      judgeParsed(g2.messages, parseVerdict, (v) => v === 'error'),
    ]);
    const record: PairwiseRecord = {
      kind: 'pairwise',
      key,
      questionId: q.questionId,
      turn,
      model1: candidate.model,
      model2: opts.baseline!.model,
      judgeModel: judge.model,
      promptName: g1.promptName,
      g1Winner: gameWinner(r1.value, 1),
      g2Winner: gameWinner(r2.value, 2),
      g1UserPrompt: g1.userPrompt,
      g1Judgment: r1.res.content,
      g2UserPrompt: g2.userPrompt,
      g2Judgment: r2.res.content,
      usage: addUsage(r1.usage, r2.usage),
      cached: r1.cached && r2.cached,
      tstamp: now() / 1000,
    };
    if (record.g1Winner === 'error' || record.g2Winner === 'error') invalid += 1;
    await keep(record, true);
  }

  /** Turn t+1 generates while turn t is judged; judging never waits for other questions. */
  async function runQuestion(q: BenchmarkQuestion): Promise<void> {
    const done: AnswerRecord[] = [];
    const judging: Promise<void>[] = [];
    for (let t = 1; t <= turnsToRun(bench, q); t++) {
      const a = await answer(q, t, [...done]);
      done.push(a);
      const snapshot = [...done];
      judging.push((mode === 'single' ? judgeSingle(q, t, snapshot) : judgePair(q, t, snapshot)).catch(fail));
    }
    await Promise.all(judging);
  }

  if (opts.signal?.aborted) throw new EndpointError('evaluation aborted', 'aborted', { cause: opts.signal.reason });
  opts.signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    progress();
    await Promise.race([Promise.all(bench.questions.map((q) => runQuestion(q).catch(fail))), fatalP]).catch(() => undefined);
    if (fatal !== undefined) {
      // Let saves already under way land, so the caller's retry resumes from everything finished.
      await Promise.allSettled([...pendingSaves]);
      throw fatal;
    }
  } finally {
    opts.signal?.removeEventListener('abort', onCallerAbort);
  }
  return buildSummary({ opts, mode, answers: [...answers.values()], judged: [...judged.values()], counters: c, wallMs: now() - startedAt });
}
