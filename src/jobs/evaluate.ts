/**
 * One evaluation, start to finish: resolve the artifact, get the model served, run MT-Bench through
 * the shared limits with every answer/judgment checkpointed in Redis, report to W&B, write back.
 * A retry resumes: finished calls come from the store, and a finished summary skips to reporting.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { EndpointRole } from '../eval/errors.js';
import type { Benchmark, EvalResult, RunEvaluationOptions } from '../eval/index.js';
import type { ChatClient, EvalStore, JudgeCache } from '../eval/ports.js';
import { EvalRecord, EvalSummary } from '../eval/types.js';
import { JUDGE_START_CONCURRENCY, startConcurrency, type Profile } from '../profile.js';
import type { ArtifactSource, InferenceLauncher, ResolvedArtifact, RunContext, RunHandle, RunReporter, ServedModel } from '../ports.js';
import { CancelledError } from './cancel.js';
import { classifyFailure, FinalError } from './failures.js';
import { EvaluationResult, keys, type EvaluationJobData } from './model.js';
import type { ProgressTracker } from './progress.js';

export interface ChatTarget {
  baseURL: string;
  apiKey?: string;
  headers?: Record<string, string>;
  role: EndpointRole;
}

export interface ChatLimits {
  name: string;
  /** The ceiling of the adaptive limit, which starts at `start`. */
  maxInFlight: number;
  start: number;
  rpm: number;
  tpm: number;
}

/** The inference target's shared limits: adaptive, from the kind's start up to the profile's ceiling. */
export function candidateLimits(profile: Profile, baseURL: string): ChatLimits {
  return { name: `inference:${baseURL}`, maxInFlight: profile.inference.concurrency, start: startConcurrency(profile.inference), rpm: 0, tpm: 0 };
}

/** The judge's shared limits: adaptive up to JUDGE_CONCURRENCY, within JUDGE_RPM and JUDGE_TPM. */
export function judgeLimits(profile: Profile): ChatLimits {
  const { judge } = profile;
  return { name: `judge:${judge.baseURL}`, maxInFlight: judge.concurrency, start: Math.min(JUDGE_START_CONCURRENCY, judge.concurrency), rpm: judge.rpm, tpm: judge.tpm };
}

export interface EvaluateDeps {
  config: Config;
  redis: Redis;
  prefix: string;
  artifacts: ArtifactSource;
  reporter: RunReporter;
  launcher: InferenceLauncher;
  benchmark(name: Profile['benchmark']): Promise<Benchmark>;
  /** Baseline answers for pairwise-baseline profiles (profile.baseline is a file path). */
  baseline(file: string): Promise<NonNullable<RunEvaluationOptions['baseline']>>;
  /** A chat client for an endpoint, already wrapped in the shared limits. */
  chat(target: ChatTarget, limits: ChatLimits): ChatClient;
  store(evaluationId: string): EvalStore;
  cache: JudgeCache;
  runEvaluation(opts: RunEvaluationOptions): Promise<EvalResult>;
  /** How long checkpoints of a finished evaluation stay in Redis (0 = forever). */
  checkpointTtlSeconds?: number;
  /** Engine retry policy and per-call timeout (tests shrink them). */
  retry?: RunEvaluationOptions['retry'];
  callTimeoutMs?: number;
}

export interface EvaluateContext {
  data: EvaluationJobData;
  signal: AbortSignal;
  progress: ProgressTracker;
  log: Logger;
  /** No retry follows a failure of this attempt. */
  lastAttempt: boolean;
}

/** What the preparing stage settled, handed to the later stages. */
interface Resolved {
  profile: Profile;
  bench: Benchmark;
  artifact: ResolvedArtifact;
  runCtx: RunContext;
}

export async function evaluate(deps: EvaluateDeps, ctx: EvaluateContext): Promise<EvaluationResult> {
  const { data, signal, progress, log } = ctx;
  const profile = deps.config.profiles.get(data.profile);
  if (!profile) throw new FinalError(`profile "${data.profile}" is not configured on this worker`);

  await progress.stage('preparing');
  const artifact = await deps.artifacts.resolve(data.artifact, signal);
  await progress.set({ artifactFullName: artifact.fullName });
  const bench = await deps.benchmark(profile.benchmark);
  const runCtx: RunContext = { evaluationId: data.evaluationId, profile, artifact, config: runConfig(profile, bench, artifact) };
  try {
    return await evaluateResolved(deps, ctx, { profile, bench, artifact, runCtx });
  } catch (err) {
    const cancelled = signal.reason instanceof CancelledError;
    // A shutdown hands the job back to the queue: nothing to record in W&B.
    if (signal.aborted && !cancelled) throw err;
    const failure = classifyFailure(cancelled ? signal.reason : err);
    // The last word in W&B: a run that will not be retried is finished as failed, with the reason.
    if (!failure.retryable || ctx.lastAttempt) {
      await deps.reporter
        .open(runCtx)
        .then((h) => h.fail(failure.reason))
        .catch((e: unknown) => log.warn({ err: e }, 'could not mark the W&B run failed'));
    }
    throw err;
  }
}

async function evaluateResolved(deps: EvaluateDeps, ctx: EvaluateContext, r: Resolved): Promise<EvaluationResult> {
  const { data, signal, progress, log } = ctx;
  const { profile, bench, runCtx } = r;
  let summary = await loadSummary(deps, data.evaluationId);
  let records: EvalRecord[] | undefined;
  if (!summary) {
    const result = await generateAndJudge(deps, ctx, r);
    summary = result.summary;
    records = result.records;
    // Checkpoint the outcome: a reporting failure now retries reporting alone.
    await deps.redis.set(keys(deps.prefix).summary(data.evaluationId), JSON.stringify(summary));
  } else {
    log.info('summary checkpoint found: retrying reporting only');
  }
  records ??= await deps.store(data.evaluationId).load();

  const invalidShare = summary.counts.judgments ? summary.counts.invalid / summary.counts.judgments : 0;
  const tooManyInvalid = invalidShare > profile.maxInvalidShare;

  await progress.stage('reporting');
  const handle = await deps.reporter.open(runCtx, signal);
  await progress.set({ runUrl: handle.url, localDir: handle.localDir });
  await handle.finish({ summary, records, questions: bench.questions });
  if (tooManyInvalid) {
    const reason = `${summary.counts.invalid} of ${summary.counts.judgments} judgments had no parsable score (${pct(invalidShare)} > allowed ${pct(profile.maxInvalidShare)}); check the judge model and prompts`;
    throw new FinalError(reason);
  }
  const writeBack = await deps.reporter.writeBack(runCtx, { score: summary.scores.average, runUrl: handle.url }, signal);
  await expireCheckpoints(deps, data.evaluationId);
  await progress.stage('done');
  return {
    scores: {
      average: summary.scores.average,
      turn1: summary.scores.turn1,
      turn2: summary.scores.turn2,
      categories: summary.scores.categories,
    },
    invalid: summary.counts.invalid,
    judgeCalls: summary.counts.judgeCalls,
    runUrl: handle.url,
    localDir: handle.localDir,
    writeBack,
  };
}

async function generateAndJudge(deps: EvaluateDeps, ctx: EvaluateContext, r: Resolved): Promise<EvalResult> {
  const { data, signal, progress, log } = ctx;
  const { profile, bench, artifact, runCtx } = r;
  const judgeKey = deps.config.secrets[profile.judge.apiKeyEnv];
  if (!judgeKey) throw new FinalError(`${profile.judge.apiKeyEnv} is not set: the judge at ${profile.judge.baseURL} needs an API key`);

  await progress.stage('launching');
  const served = await deps.launcher.launch({
    evaluationId: data.evaluationId,
    profile,
    artifact,
    download: () => deps.artifacts.download(artifact, signal),
    signal,
    log: (line) => log.info({ inference: line }, 'inference'),
  });
  try {
    runCtx.config.inference = served.describe;
    // Open the run early so progress curves fill in; W&B trouble here must not stop the evaluation.
    const handle = await deps.reporter.open(runCtx, signal).catch((err: unknown) => {
      log.warn({ err }, 'W&B run not opened yet; progress will not be logged');
      return undefined;
    });
    if (handle) await progress.set({ runUrl: handle.url, localDir: handle.localDir });
    await progress.stage('generating');
    // A launched server that dies mid-run ends the attempt at once, with its last log lines as the reason.
    const died = new AbortController();
    const run = deps.runEvaluation({
      benchmark: bench,
      candidate: {
        client: deps.chat(candidateTarget(served), candidateLimits(profile, served.baseURL)),
        model: served.model,
        concurrency: profile.inference.concurrency,
        systemPrompt: profile.systemPrompt,
      },
      judge: {
        client: deps.chat(
          { baseURL: profile.judge.baseURL, apiKey: judgeKey, role: 'judge' },
          judgeLimits(profile),
        ),
        model: profile.judge.model,
        concurrency: profile.judge.concurrency,
        structured: profile.judge.structured,
        parseRetries: profile.judge.parseRetries,
      },
      mode: profile.mode,
      baseline: profile.mode === 'pairwise-baseline' && profile.baseline ? await deps.baseline(profile.baseline) : undefined,
      store: deps.store(data.evaluationId),
      cache: deps.cache,
      signal: AbortSignal.any([signal, died.signal]),
      retry: deps.retry,
      callTimeoutMs: deps.callTimeoutMs,
      onProgress: (p) => {
        progress.counts(p);
        if (handle) void logStep(handle, p);
      },
    });
    if (!served.exited) return await run;
    const exited = served.exited.then((reason) => {
      died.abort();
      throw new InferenceServerExited(reason);
    });
    run.catch(() => undefined); // when the server's exit wins the race, the aborted run's rejection is expected
    return await Promise.race([run, exited]);
  } finally {
    await served.release().catch((err: unknown) => log.error({ err }, 'releasing the inference target failed'));
  }
}

function candidateTarget(served: ServedModel): ChatTarget {
  return { baseURL: served.baseURL, apiKey: served.apiKey, headers: served.headers, role: 'candidate' };
}

/** Progress curves: one W&B history step per ~5 % of the work. */
const lastLogged = new WeakMap<RunHandle, number>();
async function logStep(handle: RunHandle, p: { answersDone: number; answersTotal: number; judgmentsDone: number; judgmentsTotal: number; invalid: number }) {
  const done = p.answersDone + p.judgmentsDone;
  const total = p.answersTotal + p.judgmentsTotal;
  const step = Math.max(1, Math.floor(total / 20));
  const prev = lastLogged.get(handle) ?? -Infinity;
  if (done - prev < step && done !== total) return;
  lastLogged.set(handle, done);
  await handle.logProgress({
    'progress/answers': p.answersDone,
    'progress/judgments': p.judgmentsDone,
    'progress/invalid': p.invalid,
    'progress/fraction': total ? done / total : 0,
  });
}

function runConfig(profile: Profile, bench: Benchmark, artifact: ResolvedArtifact): Record<string, unknown> {
  return {
    evalhook: { profile: profile.name, mode: profile.mode },
    artifact: { name: artifact.fullName, version: artifact.version, digest: artifact.digest, type: artifact.type },
    checkpoint: artifact.checkpoint ?? {},
    benchmark: { name: bench.name, reference_set: bench.referenceSet, prompt_set: bench.promptSet, checksums: bench.dataChecksums },
    judge: { model: profile.judge.model, base_url: profile.judge.baseURL, structured: profile.judge.structured },
    generation: { max_tokens: 1024, system_prompt: profile.systemPrompt ?? null, temperatures: 'fastchat-per-category' },
  };
}

async function loadSummary(deps: EvaluateDeps, id: string): Promise<EvalSummary | undefined> {
  const raw = await deps.redis.get(keys(deps.prefix).summary(id));
  if (!raw) return undefined;
  const parsed = EvalSummary.safeParse(JSON.parse(raw));
  return parsed.success ? parsed.data : undefined;
}

/**
 * Answers and judgments are ~1 MB per evaluation: once reported they only serve a later retry, so
 * they expire instead of growing Redis forever (results live in W&B or the local result directory).
 */
async function expireCheckpoints(deps: EvaluateDeps, evaluationId: string): Promise<void> {
  const ttl = deps.checkpointTtlSeconds;
  if (!ttl) return;
  const k = keys(deps.prefix);
  await deps.redis.multi().expire(k.records(evaluationId), ttl).expire(k.summary(evaluationId), ttl).exec();
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The inference server went away mid-run; retryable (a new attempt launches it again). */
class InferenceServerExited extends Error {
  override readonly name = 'InferenceServerExited';
  readonly retryable = true;
  constructor(reason: string) {
    super(`inference server exited during the evaluation: ${reason}`);
  }
}
