/** What the evaluation service's parts (listing, lifecycle, queue metrics) share: the admin connection and its queue. */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EvaluationQueue } from './job-data.js';
import type { keys } from './keys.js';
import type { Guard } from './redis-guard.js';
import type { StatusIndex } from './status-index.js';

export interface ServiceContext {
  /** The admin + metrics connection (the webhook intake has its own). */
  client: Redis;
  queue: EvaluationQueue;
  index: StatusIndex;
  k: ReturnType<typeof keys>;
  log: Logger;
  guard: Guard;
}
