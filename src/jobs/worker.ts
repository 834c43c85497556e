/**
 * The BullMQ worker around `evaluate`: payload validation, live cancel, progress, failure
 * classification (final vs retry), and a shutdown that hands running evaluations back to the queue
 * (their checkpoints stay in Redis) instead of burning an attempt.
 */
import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions } from 'bullmq';
import type { Logger } from 'pino';
import { createError } from '../errors.js';
import type { CancelRegistry } from './cancel.js';
import { CancelledError } from './cancel.js';
import { recordDuration } from './durations.js';
import { expireCheckpoints, keepCheckpoints } from './checkpoints.js';
import { evaluate, type EvaluateDeps } from './evaluate.js';
import { classifyFailure } from './failures.js';
import {
  EvaluationJobData,
  EvaluationProgress,
  type EvaluationBullWorker,
  type EvaluationJob,
  type EvaluationResult,
} from './job-data.js';
import { QUEUE_NAME } from './keys.js';
import { ProgressTracker } from './progress.js';
import { createStatusIndex } from './status-index.js';
import { statusOf, type QueueState } from './views.js';

export interface WorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  logger: Logger;
  cancels: CancelRegistry;
  /** How long a SIGTERM waits for running evaluations before handing them back. */
  graceMs: number;
  /** Stalled-job check (a SIGKILLed worker's job goes to another worker after ~lockDuration). */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface EvaluationWorker {
  worker: EvaluationBullWorker;
  close(): Promise<void>;
}

const ShutdownError = createError('EVALHOOK_ERR_SHUTDOWN', 'ShutdownError');

export function createEvaluationWorker(deps: EvaluateDeps, opts: WorkerOptions): EvaluationWorker {
  const shutdown = new AbortController();
  const processor = async (job: EvaluationJob, token?: string, bullSignal?: AbortSignal): Promise<EvaluationResult> => {
    const parsed = EvaluationJobData.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(`invalid job data: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
    const data = parsed.data;
    const log = opts.logger.child({ evaluationId: data.evaluationId, attempt: job.attemptsMade + 1 });
    if (await opts.cancels.isCancelled(data.evaluationId)) throw new UnrecoverableError(new CancelledError().message);

    await keepCheckpoints(deps, data.evaluationId);
    const cancel = opts.cancels.track(data.evaluationId);
    const signals = [cancel.signal, shutdown.signal, ...(bullSignal ? [bullSignal] : [])];
    const signal = AbortSignal.any(signals);
    const prior = EvaluationProgress.safeParse(job.progress);
    const progress = new ProgressTracker(job, prior.success ? prior.data : { stage: 'queued' });
    log.info({ artifact: data.artifact, profile: data.profile }, 'evaluation started');
    try {
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const result = await evaluate(deps, { data, signal, progress, log, lastAttempt });
      log.info({ score: result.scores.average, judgeCalls: result.judgeCalls }, 'evaluation succeeded');
      return result;
    } catch (err) {
      if (shutdown.signal.aborted && !cancel.signal.aborted && token) {
        // Back to the queue without spending an attempt; another worker resumes from the checkpoints.
        await job.moveToDelayed(Date.now(), token);
        await index.move(data.evaluationId, 'queued').catch(() => undefined);
        log.warn('shutdown: evaluation handed back to the queue');
        throw new DelayedError();
      }
      const failure = cancel.signal.aborted ? classifyFailure(new CancelledError()) : classifyFailure(err);
      const attempts = job.opts.attempts ?? 1;
      const final = !failure.retryable || job.attemptsMade + 1 >= attempts;
      // pino's err serializer keeps the stack: a bug (failure.bug) is found from this line.
      log[final ? 'error' : 'warn'](
        { err, reason: failure.reason, final, bug: failure.bug },
        failure.bug ? 'evaluation attempt failed on an error outside the catalog (a bug)' : 'evaluation attempt failed',
      );
      if (final)
        await expireCheckpoints(deps, data.evaluationId).catch((e: unknown) =>
          log.warn({ err: e }, 'could not set checkpoint expiry'),
        );
      if (!failure.retryable) throw new UnrecoverableError(failure.reason);
      throw new Error(failure.reason);
    } finally {
      opts.cancels.untrack(data.evaluationId, cancel);
      await progress.flush();
    }
  };

  const worker: EvaluationBullWorker = new Worker(QUEUE_NAME, processor, {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    // A killed worker is a stall; allow a few before giving up on the evaluation.
    maxStalledCount: 3,
  });
  worker.on('error', (err) => opts.logger.error({ err }, 'worker error'));

  // The admin list's index follows each job as it moves; durations are observed here, once per end.
  const index = createStatusIndex(deps.redis, opts.prefix);
  const refile = async (job: EvaluationJob) => {
    if (!job.id) return;
    const [state, cancelled] = await Promise.all([
      job.getState() as Promise<QueueState>,
      opts.cancels.isCancelled(job.id),
    ]);
    await index.move(job.id, statusOf(state, cancelled));
    if ((state === 'completed' || state === 'failed') && job.processedOn && job.finishedOn) {
      await recordDuration(
        deps.redis,
        opts.prefix,
        state === 'completed' ? 'succeeded' : 'failed',
        Math.max(0, job.finishedOn - job.processedOn) / 1000,
      );
    }
  };
  const onRefileError = (err: unknown) => opts.logger.warn({ err }, 'could not update the evaluation index');
  worker.on('active', (job) => void index.move(job.id ?? '', 'running').catch(onRefileError));
  worker.on('completed', (job) => void refile(job).catch(onRefileError));
  worker.on('failed', (job) => void (job ? refile(job).catch(onRefileError) : undefined));

  let closing: Promise<void> | undefined;
  return {
    worker,
    close() {
      closing ??= (async () => {
        const timer = setTimeout(() => shutdown.abort(new ShutdownError('worker shutting down')), opts.graceMs);
        try {
          await worker.close();
        } finally {
          clearTimeout(timer);
          await opts.cancels.close();
        }
      })();
      return closing;
    },
  };
}
