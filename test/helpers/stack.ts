/**
 * A whole evalhook stack for pipeline tests: fake candidate and judge endpoints over real HTTP,
 * a synthetic benchmark, real Redis, the real producer, and workers either in this process or as
 * child processes running the real CLI (so they can be SIGKILLed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config.js';
import { evaluationIdFor, type EvaluationJobData } from '../../src/jobs/job-data.js';
import { createEvaluationService } from '../../src/jobs/producer.js';
import { redisOptions, serviceOptions, startWorker, type Started } from '../../src/runtime.js';
import type { EvaluateDeps } from '../../src/jobs/evaluate.js';
import { startFakeOpenAI, type FakeOpenAI, type FakeOpenAIOptions } from '../fakes/openai-server.js';
import { startFakeVllm, type FakeVllm, type FakeVllmOptions } from '../fakes/vllm-server.js';
import { uniquePrefix } from './redis.js';
import { writeSyntheticBench } from './synthetic-bench.js';

export const REPO = resolve(import.meta.dirname, '../..');

export interface StackOptions {
  redisUrl: string;
  env?: Record<string, string>;
  candidate?: FakeOpenAIOptions;
  /** Serve the candidate from the vLLM fake (runtime LoRA); its served name is INFERENCE_MODEL unless given. */
  vllm?: FakeVllmOptions;
  judge?: FakeOpenAIOptions;
}

export interface ChildWorker {
  proc: ChildProcess;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface Stack {
  env: Record<string, string>;
  config: Config;
  redis: Redis;
  candidate: FakeOpenAI;
  /** Set when the stack was started with `vllm`. */
  vllm?: FakeVllm;
  judge: FakeOpenAI;
  service: ReturnType<typeof createEvaluationService>;
  events: QueueEvents;
  startWorker(overrides?: Partial<EvaluateDeps>, env?: Record<string, string>): Promise<Started>;
  spawnWorker(env?: Record<string, string>): Promise<ChildWorker>;
  enqueue(artifact?: string, profile?: string): Promise<string>;
  /** Resolves with the final state once the job completes or fails for good. */
  finished(id: string): Promise<'completed' | 'failed'>;
  close(): Promise<void>;
}

const silent = pino({ level: 'silent' });

export async function startStack(opts: StackOptions): Promise<Stack> {
  const respond: FakeOpenAIOptions['respond'] = (b) => `answer: ${b.messages.at(-1)?.content ?? ''}`;
  const vllm = opts.vllm
    ? await startFakeVllm({
        respond,
        served: opts.env?.INFERENCE_MODEL ?? 'candidate-model',
        ...opts.candidate,
        ...opts.vllm,
      })
    : undefined;
  const candidate = vllm?.openai ?? (await startFakeOpenAI({ respond, ...opts.candidate }));
  const judge = await startFakeOpenAI({ respond: () => 'Fine work. Rating: [[7]]', ...opts.judge });
  const dataDir = mkdtempSync(join(tmpdir(), 'evalhook-stack-'));
  // Only what the stack made is removed on close: a caller's MTBENCH_DATA_DIR is never touched.
  const syntheticDir = writeSyntheticBench();
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    REDIS_URL: opts.redisUrl,
    QUEUE_PREFIX: uniquePrefix('stack'),
    WEBHOOK_TOKEN: 'webhook-token-0123456789',
    ADMIN_TOKEN: 'admin-token-0123456789ab',
    JUDGE_BASE_URL: judge.url,
    JUDGE_API_KEY: 'sk-judge-secret-key',
    JUDGE_MODEL: 'judge-model-2025-01-01',
    INFERENCE_BASE_URL: candidate.url,
    INFERENCE_MODEL: 'candidate-model',
    LORA_DIR: join(dataDir, 'lora'),
    MTBENCH_DATA_DIR: syntheticDir,
    EVALHOOK_DATA_DIR: dataDir,
    JOB_ATTEMPTS: '4',
    JOB_BACKOFF_MS: '50',
    JOB_LOCK_MS: '2000',
    JOB_STALLED_INTERVAL_MS: '1000',
    CALL_ATTEMPTS: '6',
    CALL_BACKOFF_MS: '5',
    CALL_TIMEOUT_MS: '5000',
    SHUTDOWN_GRACE_MS: '2000',
    ...opts.env,
  };
  const config = loadConfig(env);
  const redis = new Redis(redisOptions(opts.redisUrl));
  redis.on('error', () => undefined); // tests that kill Redis see the outage through the code under test
  const service = createEvaluationService(serviceOptions(config, silent));
  const events = new QueueEvents('evaluations', { connection: redisOptions(opts.redisUrl), prefix: env.QUEUE_PREFIX });
  events.on('error', () => undefined); // a test that kills Redis checks the outage through the code under test
  await events.waitUntilReady();
  const started: Started[] = [];
  const children: ChildWorker[] = [];

  return {
    env,
    config,
    redis,
    candidate,
    ...(vllm ? { vllm } : {}),
    judge,
    service,
    events,
    async startWorker(overrides = {}, extraEnv = {}) {
      const w = await startWorker(loadConfig({ ...env, ...extraEnv }), silent, overrides);
      started.push(w);
      return w;
    },
    async spawnWorker(extraEnv = {}) {
      const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'worker'], {
        cwd: REPO,
        env: { ...process.env, ...env, LOG_LEVEL: 'info', ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
      proc.stderr?.on('data', (b: Buffer) => (out += b.toString()));
      await new Promise<void>((res, rej) => {
        const onData = () => {
          if (out.includes('evalhook worker started')) res();
        };
        proc.stdout?.on('data', onData);
        proc.once('exit', (code) => rej(new Error(`worker exited early (${code}): ${out}`)));
      });
      const child: ChildWorker = {
        proc,
        output: () => out,
        async kill(signal = 'SIGKILL') {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          const exited = once(proc, 'exit');
          proc.kill(signal);
          await exited;
        },
      };
      children.push(child);
      return child;
    },
    async enqueue(artifact = 'acme/wandb-registry-model/llama-ft:v1', profile = 'default') {
      const artifactRef = { name: artifact };
      const data: EvaluationJobData = {
        evaluationId: evaluationIdFor(artifactRef, profile),
        profile,
        artifact: artifactRef,
        trigger: { source: 'manual', eventType: 'MANUAL', receivedAt: Date.now() },
      };
      const r = await service.enqueue(data, {});
      return r.evaluationId;
    },
    async finished(id) {
      // Looked up at once: callers start waiting before they break Redis.
      const job = await service.queue.getJob(id);
      if (!job) throw new Error(`no job ${id}`);
      try {
        await job.waitUntilFinished(events);
        return 'completed';
      } catch {
        return 'failed';
      }
    },
    async close() {
      for (const c of children) await c.kill();
      for (const w of started) await w.close().catch(() => undefined);
      // QueueEvents' blocking read may never notice a Redis that was killed and restarted: bounded.
      await Promise.race([events.close(), new Promise((r) => setTimeout(r, 2_000).unref())]);
      await service.queue.obliterate({ force: true }).catch(() => undefined);
      await service.close();
      await redis.quit();
      await candidate.close();
      await judge.close();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(syntheticDir, { recursive: true, force: true });
    },
  };
}

/** How many times each distinct judge prompt reached the judge. */
export function judgePromptCounts(stack: Stack): Map<string, number> {
  const seen = new Map<string, number>();
  for (const r of stack.judge.requests) {
    const key = JSON.stringify(r.body.messages);
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}

/** Judge prompts sent more than once: calls paid twice (or retried after a fault). */
export function repeatedJudgeCalls(stack: Stack): number {
  return [...judgePromptCounts(stack).values()].reduce((n, c) => n + c - 1, 0);
}

/** Enqueue one evaluation and wait for its end; returns the admin view. */
export async function evaluateOnce(stack: Stack, artifact?: string) {
  const id = await stack.enqueue(artifact);
  const outcome = await stack.finished(id);
  return { id, outcome, view: await stack.service.get(id) };
}
