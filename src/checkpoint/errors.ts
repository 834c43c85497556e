import { EvalhookError } from '../errors.js';

/**
 * Every refusal of a checkpoint file. A checkpoint does not change between attempts, so these are
 * final: the launchers turn them into non-retryable failures with this message as the reason.
 */
export class CheckpointError extends EvalhookError {
  override name = 'CheckpointError';
  constructor(message: string, opts?: { cause?: unknown }) {
    super('EVALHOOK_ERR_CHECKPOINT', message, opts);
  }
}
