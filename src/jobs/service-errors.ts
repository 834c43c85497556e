/** What the evaluation service (src/jobs/producer.ts) answers with when it cannot do what was asked. */

export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
  readonly statusCode = 503;
  readonly code = 'EVALHOOK_ERR_QUEUE_UNAVAILABLE';
  constructor(cause?: unknown) {
    super('the job queue (Redis) is unavailable', { cause });
  }
}

/** Redis answers, but this operation did not finish in time: 504, never "Redis unavailable". */
export class OperationTimeoutError extends Error {
  override readonly name = 'OperationTimeoutError';
  readonly statusCode = 504;
  readonly code = 'EVALHOOK_ERR_TIMEOUT';
  constructor(
    readonly operation: string,
    ms: number,
  ) {
    super(`${operation} did not finish within ${ms} ms (Redis is up; the operation was abandoned)`);
  }
}

/** MAX_QUEUED reached: the sender should come back later; nothing was written. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  readonly statusCode = 429;
  readonly code = 'EVALHOOK_ERR_QUEUE_FULL';
  readonly retryAfterSeconds = 60;
  constructor(max: number) {
    super(`the evaluation queue is full (${max} waiting evaluations, MAX_QUEUED); try again later`);
  }
}

export class EvaluationNotFoundError extends Error {
  override readonly name = 'EvaluationNotFoundError';
  readonly statusCode = 404;
  readonly code = 'EVALHOOK_ERR_NOT_FOUND';
  constructor(id: string) {
    super(`evaluation ${id} not found`);
  }
}

export class EvaluationConflictError extends Error {
  override readonly name = 'EvaluationConflictError';
  readonly statusCode = 409;
  readonly code = 'EVALHOOK_ERR_CONFLICT';
}
