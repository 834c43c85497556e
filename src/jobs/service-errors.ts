/** What the evaluation service (src/jobs/producer.ts) answers with when it cannot do what was asked. */
import { EvalhookError } from '../errors.js';

export class QueueUnavailableError extends EvalhookError {
  override name = 'QueueUnavailableError';
  constructor(cause?: unknown) {
    super('EVALHOOK_ERR_QUEUE_UNAVAILABLE', 'the job queue (Redis) is unavailable', { cause });
  }
}

/** Redis answers, but this operation did not finish in time: 504, never "Redis unavailable". */
export class OperationTimeoutError extends EvalhookError {
  override name = 'OperationTimeoutError';
  constructor(
    readonly operation: string,
    ms: number,
  ) {
    super(
      'EVALHOOK_ERR_TIMEOUT',
      `${operation} did not finish within ${ms} ms (Redis is up; the operation was abandoned)`,
    );
  }
}

/** MAX_QUEUED reached: the sender should come back later; nothing was written. */
export class QueueFullError extends EvalhookError {
  override name = 'QueueFullError';
  readonly retryAfterSeconds = 60;
  constructor(max: number) {
    super(
      'EVALHOOK_ERR_QUEUE_FULL',
      `the evaluation queue is full (${max} waiting evaluations, MAX_QUEUED); try again later`,
    );
  }
}

export class EvaluationNotFoundError extends EvalhookError {
  override name = 'EvaluationNotFoundError';
  constructor(id: string) {
    super('EVALHOOK_ERR_NOT_FOUND', `evaluation ${id} not found`);
  }
}

export class EvaluationConflictError extends EvalhookError {
  override name = 'EvaluationConflictError';
  constructor(message: string) {
    super('EVALHOOK_ERR_CONFLICT', message);
  }
}
