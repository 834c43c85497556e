/**
 * Every refusal of a checkpoint file. A checkpoint does not change between attempts, so these are
 * final: the launchers turn them into non-retryable failures with this message as the reason.
 */
export class CheckpointError extends Error {
  override readonly name: string = 'CheckpointError';
}
