import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';

/** The run's shared Redis (see global-setup). */
export function redisUrl(): string {
  return inject('redisUrl');
}

/** A BullMQ/key prefix unique to one test, so tests share one Redis without seeing each other. */
export function uniquePrefix(name = 't'): string {
  return `${name}-${randomUUID().slice(0, 8)}`;
}
