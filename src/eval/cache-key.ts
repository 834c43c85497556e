/** Content address of a judge call: identical prompt + parameters to the same judge = same answer. */
import { createHash } from 'node:crypto';
import type { ChatRequest } from './ports.js';

export function cacheKey(req: ChatRequest): string {
  // Explicit field order so the key does not depend on how the request object was assembled.
  const canonical = JSON.stringify([
    req.model,
    req.messages.map((m) => [m.role, m.content]),
    req.temperature,
    req.max_tokens,
    req.response_format ?? null,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}
