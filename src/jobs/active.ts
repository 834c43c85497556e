/**
 * Whether an evaluation is still alive in the queue (waiting, running, or delayed for a retry): what
 * the Kubernetes sweep asks before deleting a Job it finds. Read through BullMQ on the worker's
 * connection, not by peeking at BullMQ's keys.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EvaluationQueue } from './job-data.js';
import { QUEUE_NAME } from './keys.js';

const ALIVE = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

export function createActivityCheck(redis: Redis, prefix: string) {
  const queue: EvaluationQueue = new Queue(QUEUE_NAME, { connection: redis, prefix });
  return {
    isActive: async (evaluationId: string) => ALIVE.has(await queue.getJobState(evaluationId)),
    close: () => queue.close(),
  };
}
