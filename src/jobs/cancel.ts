/**
 * Live cancellation across processes: the admin API sets a flag and publishes the evaluation id;
 * every worker listens and aborts the controller of that evaluation if it runs it.
 */
import type { Redis } from 'ioredis';
import { EvalhookError } from '../errors.js';
import { keys } from './keys.js';

export interface CancelRegistry {
  /** An AbortController tied to this evaluation; aborted when a cancel arrives. */
  track(evaluationId: string): AbortController;
  untrack(evaluationId: string, controller: AbortController): void;
  isCancelled(evaluationId: string): Promise<boolean>;
  close(): Promise<void>;
}

export class CancelledError extends EvalhookError {
  override name = 'CancelledError';
  constructor() {
    super('EVALHOOK_ERR_CANCELLED', 'cancelled by an operator');
  }
}

export async function createCancelRegistry(subscriber: Redis, redis: Redis, prefix: string): Promise<CancelRegistry> {
  const k = keys(prefix);
  const running = new Map<string, Set<AbortController>>();
  subscriber.on('message', (channel: string, id: string) => {
    if (channel !== k.cancelChannel) return;
    for (const c of running.get(id) ?? []) c.abort(new CancelledError());
  });
  await subscriber.subscribe(k.cancelChannel);
  return {
    track(id) {
      const c = new AbortController();
      let set = running.get(id);
      if (!set) running.set(id, (set = new Set()));
      set.add(c);
      return c;
    },
    untrack(id, c) {
      const set = running.get(id);
      set?.delete(c);
      if (set?.size === 0) running.delete(id);
    },
    async isCancelled(id) {
      return (await redis.hexists(k.cancelled, id)) === 1;
    },
    async close() {
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
