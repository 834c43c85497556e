/** Test doubles and data access shared by the eval tests (no benchmark data lives in the repo). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type {
  ChatCallOptions,
  ChatClient,
  ChatRequest,
  ChatResult,
  EvalStore,
  JudgeCache,
} from '../../src/eval/ports.js';
import type { EvalRecord } from '../../src/eval/types.js';

import { SHARED, hasShared } from '../helpers/shared.js';

export { SHARED, hasShared };
export const sharedPath = (...parts: string[]) => path.join(SHARED, ...parts);
export const SKIP_REASON = `benchmark data not found under ${SHARED} (tests that replay real MT-Bench data are skipped)`;

export function readJsonl(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function memoryStore(initial: EvalRecord[] = []): EvalStore & { records: EvalRecord[] } {
  const records = [...initial];
  return {
    records,
    async load() {
      return structuredClone(records);
    },
    async save(r) {
      records.push(structuredClone(r));
    },
  };
}

export function memoryCache(): JudgeCache & { map: Map<string, ChatResult> } {
  const map = new Map<string, ChatResult>();
  return {
    map,
    async get(k) {
      return map.get(k);
    },
    async set(k, v) {
      map.set(k, v);
    },
  };
}

/** In-process ChatClient: `reply` decides per request; records every call with its options. */
export function scriptedClient(
  reply: (req: ChatRequest, opts: ChatCallOptions, n: number) => Promise<string | ChatResult> | string | ChatResult,
) {
  const calls: Array<{ req: ChatRequest; opts: ChatCallOptions }> = [];
  const client: ChatClient = {
    async complete(req, opts = {}) {
      calls.push({ req, opts });
      const out = await reply(req, opts, calls.length);
      return typeof out === 'string' ? { content: out, usage: { promptTokens: 10, completionTokens: 5 } } : out;
    },
  };
  return { client, calls };
}

/** Resolves when the signal aborts (for clients that hang until cancelled). */
export function untilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
}
