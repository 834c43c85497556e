/**
 * One evaluation, start to finish: resolve the artifact, get the model served, run MT-Bench through
 * the shared limits with every answer/judgment checkpointed in Redis, report to W&B, write back.
 * A retry resumes: finished calls come from the store, and a finished summary skips to reporting.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Benchmark, EvalResult, RunEvaluationOptions } from '../eval/index.js';
import type { ChatClient, EvalStore, JudgeCache } from '../eval/ports.js';
import { type EvalRecord, EvalSummary, type EvalProgress } from '../eval/types.js';
import { judgePrices } from '../judge-prices.js';
import type { Profile } from '../profile.js';
import type {
  ArtifactSource,
  DashboardUpdater,
  InferenceLauncher,
  ResolvedArtifact,
  RunContext,
  RunHandle,
  RunReporter,
  ServedModel,
} from '../ports.js';
import { adapterFiles } from '../inference/adapter-files.js';
import { checkpointFileEpoch } from '../inference/torch-adapter.js';
import { checkpointOf } from '../wandb/names.js';
import { CancelledError } from './cancel.js';
import { withAdapterReload } from './adapter-reload.js';
import { classifyFailure } from './failures.js';
import { EvalhookError, FinalError } from '../errors.js';
import { type EvaluationResult, ServedFacts, type EvaluationJobData } from './job-data.js';
import { keys } from './keys.js';
import type { ProgressTracker } from './progress.js';
import { payloadMismatch } from './trigger-check.js';
import { candidateLimits, judgeLimits, type ChatLimits, type ChatTarget } from './chat-limits.js';
import { expireCheckpoints, readCheckpoint } from './checkpoints.js';

export interface EvaluateDeps {
  config: Config;
  redis: Redis;
  prefix: string;
  artifacts: ArtifactSource;
  reporter: RunReporter;
  /** Keeps the project's W&B dashboard current after each report; absent = no dashboard. */
  dashboard?: DashboardUpdater;
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
  /** Bytes the preparing stage already fetched (a torchtune .pt read for its epoch), for the download report. */
  bytesDownloaded: number;
}

export async function evaluate(deps: EvaluateDeps, ctx: EvaluateContext): Promise<EvaluationResult> {
  const { data, signal, progress, log } = ctx;
  const profile = deps.config.profiles.get(data.profile);
  if (!profile) throw new FinalError(`profile "${data.profile}" is not configured on this worker`);

  const startedAt = progress.current.startedAt ?? Date.now();
  await progress.stage('preparing', { startedAt });
  const artifact = await deps.artifacts.resolve(data.artifact, signal);
  await progress.set({ artifactFullName: artifact.fullName });
  // Before any inference, W&B run or write-back: the version must be the one the rule accepted.
  const mismatch = payloadMismatch(deps.config, data, artifact);
  if (mismatch) throw new FinalError(mismatch);
  // wandb-inference never downloads (and refuses a .pt): no file to read the epoch from.
  const prefetched =
    profile.inference.kind === 'wandb-inference' ? 0 : await withFileEpoch(deps, artifact, signal, log);
  const bench = await deps.benchmark(profile.benchmark);
  const runCtx: RunContext = {
    evaluationId: data.evaluationId,
    profile,
    artifact,
    config: runConfig(profile, bench, artifact),
    startedAt,
  };
  try {
    return await evaluateResolved(deps, ctx, { profile, bench, artifact, runCtx, bytesDownloaded: prefetched });
  } catch (err) {
    const cancelled = signal.reason instanceof CancelledError;
    // A shutdown hands the job back to the queue: nothing to record in W&B.
    if (signal.aborted && !cancelled) throw err;
    const failure = classifyFailure(cancelled ? signal.reason : err);
    // The last word in W&B: a run that will not be retried is finished as failed, with the reason,
    // unless its one exit already carried the outcome.
    if ((!failure.retryable || ctx.lastAttempt) && !(err instanceof ReportedFailure)) {
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
  let summary = await readCheckpoint(deps.redis, keys(deps.prefix).summary(data.evaluationId), EvalSummary, log);
  let records: EvalRecord[] | undefined;
  let facts: ServedFacts | undefined;
  if (!summary) {
    const result = await generateAndJudge(deps, ctx, r);
    summary = result.summary;
    records = result.records;
    facts = result.facts;
    // Checkpoint the outcome: a reporting failure now retries reporting alone.
    const k = keys(deps.prefix);
    await deps.redis
      .multi()
      .set(k.served(data.evaluationId), JSON.stringify(facts))
      .set(k.summary(data.evaluationId), JSON.stringify(summary))
      .exec();
  } else {
    log.info('summary checkpoint found: retrying reporting only');
    facts = await readCheckpoint(deps.redis, keys(deps.prefix).served(data.evaluationId), ServedFacts, log);
    if (facts) applyFacts(runCtx, facts);
  }
  records ??= await deps.store(data.evaluationId).load();

  // The outcome is decided before the run is finished: the run gets exactly one exit.
  const invalidShare = summary.counts.judgments ? summary.counts.invalid / summary.counts.judgments : 0;
  const failure =
    invalidShare > profile.maxInvalidShare
      ? `${summary.counts.invalid} of ${summary.counts.judgments} judgments are invalid (${invalidReasons(records)}; ${pct(invalidShare)} > allowed ${pct(profile.maxInvalidShare)} maxInvalidShare); check the judge model and prompts, and the candidate's context length`
      : undefined;

  await progress.stage('reporting');
  const handle = await deps.reporter.open(runCtx, signal);
  try {
    await progress.set({ runUrl: handle.url, localDir: handle.localDir });
    await handle.finish({ summary, records, questions: bench.questions }, failure ? { failure } : undefined);
  } finally {
    handle.release?.();
  }
  if (failure) throw new ReportedFailure(failure);
  // Before the write-back, so the registry metadata can link the report; trouble is only a warning.
  const dash = (await deps.dashboard?.afterEvaluation(
    runCtx,
    { score: summary.scores.average, runUrl: handle.url },
    signal,
  )) ?? { warnings: [] };
  for (const warning of dash.warnings)
    log.warn({ warning }, 'dashboard not fully updated; the evaluation itself succeeded');
  // A fallback's score is the configured model's: it never lands on the checkpoint.
  const writeBack = facts?.fallback
    ? [
        `nothing written back to ${r.artifact.fullName}: the configured model ${facts.fallback.evaluatedModel} was evaluated instead (inference.fallbackToModel: ${facts.fallback.reason})`,
      ]
    : await deps.reporter.writeBack(
        runCtx,
        { score: summary.scores.average, runUrl: handle.url, reportUrl: dash.reportUrl },
        signal,
      );
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
    dashboard:
      dash.workspaceUrl || dash.reportUrl || dash.localDir
        ? { workspaceUrl: dash.workspaceUrl, reportUrl: dash.reportUrl, localDir: dash.localDir }
        : undefined,
    warnings: dash.warnings,
  };
}

async function generateAndJudge(
  deps: EvaluateDeps,
  ctx: EvaluateContext,
  r: Resolved,
): Promise<EvalResult & { facts: ServedFacts }> {
  const { data, signal, progress, log } = ctx;
  const { profile, bench, artifact, runCtx } = r;
  const judgeKey = deps.config.secrets[profile.judge.apiKeyEnv];
  if (!judgeKey)
    throw new FinalError(
      `${profile.judge.apiKeyEnv} is not set: the judge at ${profile.judge.baseURL} needs an API key`,
    );

  await progress.stage('launching');
  let bytesDownloaded = r.bytesDownloaded;
  let releaseRun = () => {};
  const served = await deps.launcher.launch({
    evaluationId: data.evaluationId,
    profile,
    artifact,
    download: (files) =>
      deps.artifacts.download(artifact, signal, {
        ...(files ? { files } : {}),
        onBytes: (n) => (bytesDownloaded += n),
      }),
    trainingConfig: async () => deps.artifacts.trainingConfig?.(artifact, signal),
    signal,
    log: (line) => log.info({ inference: line }, 'inference'),
  });
  try {
    const facts: ServedFacts = {
      inference: served.describe,
      bytesDownloaded,
      ...(served.fallback ? { fallback: served.fallback } : {}),
    };
    applyFacts(runCtx, facts);
    await progress.set({
      bytesDownloaded,
      ...(served.fallback
        ? { evaluatedModel: served.fallback.evaluatedModel, fallbackReason: served.fallback.reason }
        : {}),
    });
    // Open the run early so progress curves fill in; W&B trouble here must not stop the evaluation:
    // the wait is bounded like the SDK's init_timeout (W&B's retry budget alone is minutes).
    const handle = await deps.reporter
      .open(runCtx, AbortSignal.any([signal, AbortSignal.timeout(EARLY_OPEN_TIMEOUT_MS)]))
      .catch((err: unknown) => {
        log.warn({ err }, 'W&B run not opened yet; progress will not be logged');
        return undefined;
      });
    if (handle) await progress.set({ runUrl: handle.url, localDir: handle.localDir });
    releaseRun = () => handle?.release?.();
    await progress.stage('generating');
    // A launched server that dies mid-run ends the attempt at once, with its last log lines as the reason.
    const died = new AbortController();
    const run = deps.runEvaluation({
      benchmark: bench,
      candidate: {
        client: withAdapterReload(
          deps.chat(candidateTarget(served), candidateLimits(profile, served.baseURL)),
          served,
          (m) => log.warn({ inference: m }, 'inference'),
        ),
        model: served.model,
        concurrency: profile.inference.concurrency,
        systemPrompt: profile.systemPrompt,
      },
      judge: {
        client: deps.chat({ baseURL: profile.judge.baseURL, apiKey: judgeKey, role: 'judge' }, judgeLimits(profile)),
        model: profile.judge.model,
        concurrency: profile.judge.concurrency,
        structured: profile.judge.structured,
        parseRetries: profile.judge.parseRetries,
        prices: judgePrices(profile.judge),
        maxCostUsd: profile.judge.maxCostUsd,
      },
      mode: profile.mode,
      baseline:
        profile.mode === 'pairwise-baseline' && profile.baseline ? await deps.baseline(profile.baseline) : undefined,
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
    if (!served.exited) return { ...(await run), facts };
    const exited = served.exited.then((reason) => {
      died.abort();
      throw new InferenceServerExited(reason);
    });
    run.catch(() => undefined); // when the server's exit wins the race, the aborted run's rejection is expected
    return { ...(await Promise.race([run, exited])), facts };
  } finally {
    // This attempt's hold on the W&B run ends here; its queued progress rows go before the final report's.
    releaseRun();
    await served.release().catch((err: unknown) => log.error({ err }, 'releasing the inference target failed'));
  }
}

function candidateTarget(served: ServedModel): ChatTarget {
  return { baseURL: served.baseURL, apiKey: served.apiKey, headers: served.headers, role: 'candidate' };
}

/** wandb.init's default init_timeout (wandb_settings.py): how long the evaluation waits for its run to open. */
const EARLY_OPEN_TIMEOUT_MS = 90_000;

/** Progress curves: one W&B history step per ~5 % of the work. */
const lastLogged = new WeakMap<RunHandle, number>();
async function logStep(handle: RunHandle, p: EvalProgress) {
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

/**
 * A torchtune `.pt` knows its own epoch (`epoch`, or `epochs_run` - 1); it ranks after the metadata
 * and before the names (checkpointOf). Read in the preparing stage, so every attempt, a reporting-only
 * retry included, records the same position. The download is cached by digest and reused by the launch.
 */
/**
 * Reads a torchtune .pt's own epoch into `artifact.checkpoint`; returns the bytes fetched for it. It
 * downloads the same selection the launchers ask for (the adapter file alone, never merged weights
 * beside it), so their download is a cache hit.
 */
async function withFileEpoch(
  deps: EvaluateDeps,
  artifact: ResolvedArtifact,
  signal: AbortSignal,
  log: Logger,
): Promise<number> {
  let bytes = 0;
  const files = adapterFiles(artifact.files.map((f) => f.path));
  const download = () =>
    deps.artifacts.download(artifact, signal, { ...(files ? { files } : {}), onBytes: (n) => (bytes += n) });
  // Best effort: a download failing here fails again in the launch, where it is reported properly.
  const epoch = await checkpointFileEpoch(artifact, download).catch((err: unknown) => {
    log.warn({ err }, "could not read the checkpoint file's epoch");
    return undefined;
  });
  if (epoch !== undefined)
    artifact.checkpoint = checkpointOf(artifact.metadata, artifact.checkpointNames ?? [artifact.collection], epoch);
  return bytes;
}

function runConfig(profile: Profile, bench: Benchmark, artifact: ResolvedArtifact): Record<string, unknown> {
  return {
    evalhook: { profile: profile.name, mode: profile.mode },
    artifact: { name: artifact.fullName, version: artifact.version, digest: artifact.digest, type: artifact.type },
    checkpoint: artifact.checkpoint ?? {},
    benchmark: {
      name: bench.name,
      reference_set: bench.referenceSet,
      prompt_set: bench.promptSet,
      checksums: bench.dataChecksums,
    },
    // The price behind cost/usd, so a run's cost can be read (and redone) later.
    judge: {
      model: profile.judge.model,
      base_url: profile.judge.baseURL,
      structured: profile.judge.structured,
      prices_usd_per_mtok: judgePrices(profile.judge) ?? null,
      max_cost_usd: profile.judge.maxCostUsd ?? null,
    },
    generation: {
      max_tokens: 1024,
      system_prompt: profile.systemPrompt ?? null,
      temperatures: 'fastchat-per-category',
    },
  };
}

/** What was served goes into the W&B config: the target, bytes downloaded, and a fallback's real model. */
function applyFacts(runCtx: RunContext, facts: ServedFacts): void {
  runCtx.config.inference = facts.inference;
  runCtx.config.bytes_downloaded = facts.bytesDownloaded;
  if (facts.fallback) {
    runCtx.config.evaluated_model = facts.fallback.evaluatedModel;
    runCtx.config.fallback_reason = facts.fallback.reason;
  }
}

/** "3 answer errors, 2 no parsable score": the reasons behind the -1s, most frequent first. */
function invalidReasons(records: readonly EvalRecord[]): string {
  const counts = new Map<string, number>();
  for (const r of records) {
    if (r.kind !== 'judgment' || r.score !== -1) continue;
    const why = r.invalidReason?.startsWith('answer error')
      ? 'answer error'
      : r.invalidReason?.startsWith('score ')
        ? 'score out of range'
        : 'no parsable score';
    counts.set(why, (counts.get(why) ?? 0) + 1);
  }
  const parts = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([w, n]) => `${n} ${w}`);
  return parts.length ? parts.join(', ') : 'pairwise verdicts without a winner';
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** A failure the W&B run's one exit already recorded: nothing more to write there. */
class ReportedFailure extends FinalError {}

/** The inference server went away mid-run; retryable (a new attempt launches it again). */
class InferenceServerExited extends EvalhookError {
  override name = 'InferenceServerExited';
  constructor(reason: string) {
    super('EVALHOOK_ERR_INFERENCE_EXITED', `inference server exited during the evaluation: ${reason}`);
  }
}
