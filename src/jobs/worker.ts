/**
 * The BullMQ worker around `evaluate`: payload validation, live cancel, progress, failure
 * classification (final vs retry), and a shutdown that hands running evaluations back to the queue
 * (their checkpoints stay in Redis) instead of burning an attempt.
 */
import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { CancelRegistry } from './cancel.js';
import { CancelledError } from './cancel.js';
import { evaluate, type EvaluateDeps } from './evaluate.js';
import { classifyFailure } from './failures.js';
import { EvaluationJobData, EvaluationProgress, QUEUE_NAME, type EvaluationResult } from './model.js';
import { ProgressTracker } from './progress.js';

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
  worker: Worker;
  close(): Promise<void>;
}

class ShutdownError extends Error {
  override readonly name = 'ShutdownError';
}

export function createEvaluationWorker(deps: EvaluateDeps, opts: WorkerOptions): EvaluationWorker {
  const shutdown = new AbortController();
  const processor = async (job: Job, token?: string, bullSignal?: AbortSignal): Promise<EvaluationResult> => {
    const parsed = EvaluationJobData.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid job data: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
    const data = parsed.data;
    const log = opts.logger.child({ evaluationId: data.evaluationId, attempt: job.attemptsMade + 1 });
    if (await opts.cancels.isCancelled(data.evaluationId)) throw new UnrecoverableError(new CancelledError().message);

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
        log.warn('shutdown: evaluation handed back to the queue');
        throw new DelayedError();
      }
      const failure = cancel.signal.aborted ? classifyFailure(new CancelledError()) : classifyFailure(err);
      const attempts = job.opts.attempts ?? 1;
      const final = !failure.retryable || job.attemptsMade + 1 >= attempts;
      log[final ? 'error' : 'warn']({ err, reason: failure.reason, final }, 'evaluation attempt failed');
      if (!failure.retryable) throw new UnrecoverableError(failure.reason);
      throw new Error(failure.reason);
    } finally {
      opts.cancels.untrack(data.evaluationId, cancel);
      await progress.flush();
    }
  };

  const worker = new Worker(QUEUE_NAME, processor, {
    connection: opts.connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    // A killed worker is a stall; allow a few before giving up on the evaluation.
    maxStalledCount: 3,
  });
  worker.on('error', (err) => opts.logger.error({ err }, 'worker error'));

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
