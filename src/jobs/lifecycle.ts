/** The admin API's actions on an evaluation: cancel (flag + broadcast) and retry (failed or cancelled only). */
import type { EvaluationReads } from './listing.js';
import type { ServiceContext } from './service-context.js';
import { EvaluationConflictError, EvaluationNotFoundError } from './service-errors.js';
import { toView, type EvaluationView } from './views.js';

export function createLifecycleActions(
  { client, queue, k, log, guard }: ServiceContext,
  { cancelFlag, load, mustView, reindex }: EvaluationReads,
) {
  return {
    cancel: (id: string, by = 'admin'): Promise<EvaluationView> =>
      guard('cancel evaluation', client, queue, async () => {
        const view = await mustView(id);
        if (view.status === 'cancelled') return view;
        if (view.status === 'succeeded' || view.status === 'failed') {
          throw new EvaluationConflictError(`evaluation ${id} is already ${view.status}; nothing to cancel`);
        }
        // Flag first (workers check it at pickup), then broadcast so a running worker aborts now.
        await client
          .multi()
          .hset(k.cancelled, id, JSON.stringify({ at: Date.now(), by }))
          .publish(k.cancelChannel, id)
          .exec();
        log.info({ evaluationId: id, by }, 'evaluation cancelled');
        const after = await mustView(id);
        await reindex(after);
        return after;
      }),

    retry: (id: string): Promise<EvaluationView> =>
      guard('retry evaluation', client, queue, async () => {
        const found = await load(id);
        const flag = await cancelFlag(id);
        const view = found ? toView(found.job, found.state, flag) : undefined;
        if (!found || !view) throw new EvaluationNotFoundError(id);
        if (view.status !== 'failed' && view.status !== 'cancelled') {
          throw new EvaluationConflictError(
            `evaluation ${id} is ${view.status}; only failed or cancelled evaluations can be retried`,
          );
        }
        await client.hdel(k.cancelled, id);
        // A cancelled job that never ran is still queued: clearing the flag is the whole retry.
        if (found.state === 'failed')
          await found.job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        log.info({ evaluationId: id }, 'evaluation retried');
        const after = await mustView(id);
        await reindex(after);
        return after;
      }),
  };
}
