/**
 * Shared fixtures for the W&B adapter tests: a profile, an evaluation outcome (summary, records,
 * questions), a fake server with a seeded registry version, and the adapter wired to it.
 */
import { afterEach } from 'vitest';
import { skipWithoutShared } from '../helpers/shared.js';
import type { Stack } from '../helpers/stack.js';
import type { BenchmarkQuestion, EvalRecord, EvalSummary } from '../../src/eval/types.js';
import type { RunContext, ResolvedArtifact } from '../../src/ports.js';
import { Profile, type ProfileInput } from '../../src/profile.js';
import { createWandb, type WandbOptions } from '../../src/wandb/index.js';
import {
  startFakeWandb,
  WANDB_SCHEMA_DIR,
  wandbSchemaAvailable,
  type FakeWandb,
  type FakeWandbOptions,
} from '../fakes/wandb-server.js';
import { tempDir } from '../helpers/tmp.js';

export const schemaMissing = skipWithoutShared(
  wandbSchemaAvailable(),
  'the W&B GraphQL schema (reference/wandb-schema*.graphql)',
);
export const SKIP_REASON = `W&B schema files not found (${WANDB_SCHEMA_DIR}): skipping tests that need the fake W&B server`;
if (schemaMissing) console.warn(SKIP_REASON);

export function profile(over: Partial<ProfileInput> = {}): Profile {
  return Profile.parse({
    name: 'default',
    judge: { baseURL: 'http://judge.local/v1', model: 'judge-model-1' },
    inference: { kind: 'endpoint', baseURL: 'http://infer.local/v1' },
    wandb: { project: 'evals' },
    ...over,
  });
}

export const questions: BenchmarkQuestion[] = [
  { questionId: 81, category: 'writing', turns: ['Write a blog post.', 'Rewrite it in rhymes.'] },
  { questionId: 111, category: 'math', turns: ['What is 2+2?', 'And 3+3?'], reference: ['4', '6'] },
];

export function records(): EvalRecord[] {
  const usage = { promptTokens: 10, completionTokens: 5 };
  const params = { model: 'cand', temperature: 0.7, max_tokens: 1024 };
  const out: EvalRecord[] = [];
  for (const q of questions) {
    for (const turn of [1, 2]) {
      out.push({
        kind: 'answer',
        key: `answer/${q.questionId}/${turn}`,
        questionId: q.questionId,
        turn,
        model: 'cand',
        content: `answer ${q.questionId}.${turn}`,
        params,
        usage,
        tstamp: 1700000000 + turn,
      });
    }
  }
  for (const q of questions) {
    for (const turn of [1, 2]) {
      out.push({
        kind: 'judgment',
        key: `judgment/${q.questionId}/${turn}`,
        questionId: q.questionId,
        turn,
        model: 'cand',
        judgeModel: 'judge-model-1',
        promptName: turn === 1 ? 'single-v1' : 'single-v1-multi-turn',
        userPrompt: `judge ${q.questionId}.${turn}`,
        judgment: 'Rating: [[7]]',
        score: 7,
        usage,
        cached: false,
        tstamp: 1700000100 + turn,
      });
    }
  }
  return out;
}

export function summary(average = 7): EvalSummary {
  return {
    benchmark: 'mt-bench',
    referenceSet: 'fastchat/gpt-4',
    promptSet: 'fastchat',
    dataChecksums: { 'question.jsonl': 'abc' },
    model: 'cand',
    judgeModel: 'judge-model-1',
    mode: 'single',
    generation: { max_tokens: 1024 },
    scores: {
      turn1: average,
      turn2: average,
      average,
      categories: { writing: average, math: average },
      ci95: { average: [average - 0.5, average + 0.5], categories: { writing: [6, 8] } },
    },
    counts: {
      questions: 2,
      answers: 4,
      judgments: 4,
      invalid: 0,
      duplicates: 0,
      judgeCalls: 4,
      cacheHits: 0,
      resumed: 0,
    },
    tokens: {
      candidate: { promptTokens: 40, completionTokens: 20 },
      judge: { promptTokens: 40, completionTokens: 20 },
    },
    costUsd: 0.01,
    wallMs: 1234,
  };
}

export function outcome(average = 7) {
  return { summary: summary(average), records: records(), questions };
}

export async function setup(fakeOpts: FakeWandbOptions = {}, wandbOpts: Partial<WandbOptions> = {}) {
  const wb = await startFakeWandb(fakeOpts);
  const cacheDir = tempDir('wandb');
  const wandb = createWandb({
    apiKey: wb.apiKey,
    baseURL: wb.url,
    cacheDir,
    heartbeatMs: 0,
    sleep: async () => {},
    ...wandbOpts,
  });
  const source = wb.seedArtifact({
    entity: 'acme-team',
    project: 'llama-sft',
    collection: 'llama ft',
    files: {
      'adapter_config.json': '{"base_model_name_or_path":"meta-llama/Llama-3.1-8B"}',
      'adapter_model.safetensors': Buffer.alloc(4096, 7),
    },
    metadata: { epoch: 3, lr: 1e-4 },
    sourceRun: { name: 'train-abc123', displayName: 'llama sft run' },
  });
  const linked = wb.linkToRegistry(source, { collection: 'llama-ft', aliases: ['candidate'] });
  return { wb, wandb, cacheDir, source, linked };
}

export function runContext(artifact: ResolvedArtifact, p: Profile = profile(), evaluationId = 'eval-1'): RunContext {
  return {
    evaluationId,
    profile: p,
    artifact,
    config: {
      benchmark: { name: 'mt-bench', checksums: { 'question.jsonl': 'abc' } },
      judge: { model: p.judge.model },
      generation: { max_tokens: 1024 },
      inference: {
        kind: 'endpoint',
        apiKey: 'sk-should-never-appear',
        headers: { Authorization: 'Bearer sk-should-never-appear' },
      },
    },
  };
}

/**
 * A virtual clock for W&B outages: `sleep` returns at once and moves the clock on by what was asked,
 * so a 30-second outage costs no wall time; `now` is real time plus everything slept. Share it with
 * the fake (`now`) and the adapter (`now`, `sleep`). `sleeps` records every wait the adapter asked for.
 */
export function virtualClock() {
  let slept = 0;
  const sleeps: Array<{ ms: number; at: number }> = [];
  return {
    now: () => Date.now() + slept,
    sleeps,
    async sleep(ms: number): Promise<void> {
      sleeps.push({ ms, at: Date.now() + slept });
      slept += ms;
      await new Promise((r) => setImmediate(r));
    },
  };
}

/**
 * What an end-to-end test starts: the fake W&B and the evalhook stack. Call inside a describe; after
 * each test both are closed (the stack first, it talks to W&B) and forgotten.
 */
export function e2eFixture() {
  const f: { stack?: Stack; wb?: FakeWandb } = {};
  afterEach(async () => {
    await f.stack?.close();
    await f.wb?.close();
    f.stack = f.wb = undefined;
  });
  return f;
}

/** The environment that points evalhook at a fake W&B, logging to the project `evals`. */
export const wandbEnv = (w: FakeWandb, extra: Record<string, string> = {}) => ({
  WANDB_API_KEY: w.apiKey,
  WANDB_BASE_URL: w.url,
  WANDB_PROJECT: 'evals',
  ...extra,
});

/** A small PEFT LoRA adapter (what the endpoint kind hot-loads into vLLM); `fill` tells checkpoints apart. */
export const peftAdapter = (bytes: number, fill: number, config: Record<string, unknown> = {}) => ({
  'adapter_config.json': JSON.stringify({
    peft_type: 'LORA',
    r: 8,
    lora_alpha: 16,
    target_modules: ['q_proj', 'v_proj'],
    ...config,
  }),
  'adapter_model.safetensors': Buffer.alloc(bytes, fill),
});

/** The adapter with two tries per W&B call and no backoff, so what recovers from more failures is the job's own retry. */
export const twoTryWandb = (w: FakeWandb) =>
  createWandb({
    apiKey: w.apiKey,
    baseURL: w.url,
    cacheDir: tempDir('e2e'),
    retry: { retries: 1 },
    sleep: async () => {},
    heartbeatMs: 0,
  });
