/**
 * npm run bench:eval — full MT-Bench runs (80 questions, 160 answers, 160 judgments) against fake
 * endpoints in child processes (bench/endpoints.ts), printed as JSON:
 *
 * 1. continuousBatching: the default configuration (the worker's wiring: shared Redis limits that
 *    adapt from their defaults) against a candidate modelled as an 8B model on one H100 under vLLM
 *    and a hosted judge (test/fakes/batching.ts), compared with that model's optimum (everything in
 *    flight as early as dependencies allow) and FastChat's schedule at --parallel 16 (bench/schedules.ts).
 *    Durations are scaled by BENCH_TIME_SCALE (default 0.25) so the run stays short; INFERENCE_CONCURRENCY
 *    and JUDGE_CONCURRENCY, when set, replace the default ceilings (to compare).
 * 2. fixedLatencyCli: `evalhook eval` from the build (process start included) at 16 in flight each
 *    against fixed-latency endpoints (1 s each), compared with the lower bound those caps allow and
 *    FastChat's phase-by-phase schedule; plus how soon its first request leaves and `eval --help` time.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadBenchmark } from '../src/benchdata/index.js';
import { loadConfig } from '../src/config.js';
import type { Benchmark } from '../src/eval/index.js';
import { runEvaluation } from '../src/eval/index.js';
import { candidateLimits, judgeLimits } from '../src/jobs/chat-limits.js';
import { createOpenAIChatClient } from '../src/llm/openai-chat.js';
import { workerDeps } from '../src/runtime.js';
import { H100_8B, scaled, type BatchingParams } from '../test/fakes/batching.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { candidateTokens, JUDGE_TOKENS, spawnEndpoint, type EndpointSpec } from './endpoints.js';
import { fastChatMs, optimumMs } from './schedules.js';

const SCALE = Number(process.env.BENCH_TIME_SCALE ?? 0.25);
/** A hosted judge (GPT-4.1-class): ~0.5 s to the first token, ~80 tokens/s, no slowdown from our load. */
const HOSTED_JUDGE: BatchingParams = { ttftMs: 500, perTokenMs: 12, saturation: 1e9, maxBatch: 1e9 };
const FASTCHAT_PARALLEL = 16;
const FIXED_LATENCY_MS = Number(process.env.BENCH_FIXED_LATENCY_MS ?? 1000);
const FIXED_CAP = 16;
const TARGETS = { vsOptimum: 1.15, vsBound: 1.1, vsFastChat: 0.6, helpSeconds: 0.3, firstRequestSeconds: 0.5 };

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = path.resolve(repo, '../shared/mt-bench');
const cli = path.join(repo, 'dist/cli/main.js');
const r3 = (ms: number) => +(ms / 1000).toFixed(3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function withEndpoints<T>(
  specs: [EndpointSpec, EndpointSpec],
  fn: (c: Awaited<ReturnType<typeof spawnEndpoint>>, j: Awaited<ReturnType<typeof spawnEndpoint>>) => Promise<T>,
): Promise<T> {
  const [c, j] = await Promise.all([spawnEndpoint('candidate', specs[0]), spawnEndpoint('judge', specs[1])]);
  try {
    return await fn(c, j);
  } finally {
    c.close();
    j.close();
  }
}

async function continuousBatching(benchmark: Benchmark) {
  const candidateModel = scaled(H100_8B, SCALE);
  const judgeModel = scaled(HOSTED_JUDGE, SCALE);
  const owned = process.env.REDIS_URL ? undefined : await startRedisServer();
  const redisUrl = process.env.REDIS_URL ?? owned!.url;
  const dir = mkdtempSync(path.join(tmpdir(), 'evalhook-bench-'));
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  try {
    return await withEndpoints([{ batching: candidateModel }, { batching: judgeModel }], async (candidate, judge) => {
      // The defaults: nothing but the endpoints is configured; a fresh prefix starts the adaptive limits from scratch.
      const config = loadConfig({
        WEBHOOK_TOKEN: 'bench-webhook-token-0000',
        ADMIN_TOKEN: 'bench-admin-token-00000',
        REDIS_URL: redisUrl,
        QUEUE_PREFIX: `bench-${process.pid}-${Date.now()}`,
        INFERENCE_BASE_URL: candidate.url,
        JUDGE_BASE_URL: judge.url,
        JUDGE_API_KEY: 'bench',
        EVALHOOK_DATA_DIR: dir,
        // to compare other ceilings (e.g. the old fixed 8 / 16): INFERENCE_CONCURRENCY=8 JUDGE_CONCURRENCY=16 npm run bench:eval
        ...Object.fromEntries(
          ['INFERENCE_CONCURRENCY', 'JUDGE_CONCURRENCY'].flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])),
        ),
      });
      const profile = config.profiles.get(config.defaultProfile)!;
      const deps = workerDeps(config, pino({ level: 'silent' }), redis);
      // Untimed warm-up outside the shared limits: module compilation and first connects are start-up costs.
      const warm = {
        model: 'warmup',
        messages: [{ role: 'user' as const, content: 'warm up' }],
        temperature: 0,
        max_tokens: 1,
      };
      await Promise.all(
        [candidate.url, judge.url].map((baseURL) =>
          createOpenAIChatClient({ baseURL, apiKey: 'bench', role: 'candidate' }).complete(warm),
        ),
      );
      const started = performance.now();
      try {
        const result = await runEvaluation({
          benchmark,
          candidate: {
            client: deps.chat({ baseURL: candidate.url, role: 'candidate' }, candidateLimits(profile, candidate.url)),
            model: 'bench-candidate',
            concurrency: profile.inference.concurrency,
          },
          judge: {
            client: deps.chat({ baseURL: judge.url, apiKey: 'bench', role: 'judge' }, judgeLimits(profile)),
            model: 'bench-judge',
            concurrency: profile.judge.concurrency,
            parseRetries: profile.judge.parseRetries,
          },
        });
        const wallMs = performance.now() - started;
        const input = {
          questions: benchmark.questions.map((q) => q.turns),
          candidate: candidateModel,
          judge: judgeModel,
          candidateTokens,
          judgeTokens: JUDGE_TOKENS,
        };
        const optimum = optimumMs(input);
        const fastchat = fastChatMs(input, FASTCHAT_PARALLEL);
        const [cs, js] = await Promise.all([candidate.stats(), judge.stats()]);
        return {
          wallSeconds: r3(wallMs),
          optimumSeconds: r3(optimum),
          ratioToOptimum: +(wallMs / optimum).toFixed(3),
          fastchatParallel16Seconds: r3(fastchat),
          ratioToFastChat: +(wallMs / fastchat).toFixed(3),
          maxInFlight: { candidate: cs.maxInFlight, judge: js.maxInFlight },
          calls: {
            candidate: cs.requests - 1,
            judge: js.requests - 1,
            engineCandidateCalls: result.summary.counts.candidateCalls,
            engineJudgeCalls: result.summary.counts.judgeCalls,
          },
          setup: {
            timeScale: SCALE,
            candidateModel: { ...H100_8B, outputTokens: '64..900 per turn (stable hash of the question)' },
            judgeModel: { ...HOSTED_JUDGE, outputTokens: JUDGE_TOKENS },
            limits: { candidate: candidateLimits(profile, 'x'), judge: judgeLimits(profile) },
          },
        };
      } finally {
        await deps.shutdown();
      }
    });
  } finally {
    await redis.quit().catch(() => redis.disconnect());
    await owned?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

function runCli(
  args: string[],
): Promise<{ code: number | null; startedAt: number; endedAt: number; engineWallMs?: number }> {
  const startedAt = Date.now();
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, JUDGE_API_KEY: 'bench' },
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = out.trim().split('\n').at(-1);
      const summary = last?.startsWith('{') ? (JSON.parse(last) as { wallMs?: number }) : undefined;
      resolve({ code, startedAt, endedAt: Date.now(), engineWallMs: summary?.wallMs });
    });
  });
}

async function fixedLatencyCli() {
  const help: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await runCli(['eval', '--help']);
    help.push(r.endedAt - r.startedAt);
  }
  return withEndpoints([{ latencyMs: FIXED_LATENCY_MS }, { latencyMs: FIXED_LATENCY_MS }], async (candidate, judge) => {
    const cache = mkdtempSync(path.join(tmpdir(), 'evalhook-bench-cache-'));
    try {
      const r = await runCli([
        'eval',
        '--model-base-url',
        candidate.url,
        '--model',
        'bench-candidate',
        '--judge-base-url',
        judge.url,
        '--judge-model',
        'bench-judge',
        '--data-dir',
        dataDir,
        '--cache-dir',
        cache,
        '--concurrency',
        String(FIXED_CAP),
        '--judge-concurrency',
        String(FIXED_CAP),
      ]);
      if (r.code !== 0) throw new Error(`evalhook eval exited with ${String(r.code)}`);
      const [cs, js] = await Promise.all([candidate.stats(), judge.stats()]);
      const wallMs = r.endedAt - r.startedAt;
      // lower bound at these caps: 160 answers in waves of 16, then the last judgment (judge side alike)
      const bound = Math.ceil(160 / FIXED_CAP) * FIXED_LATENCY_MS + FIXED_LATENCY_MS;
      const fastchat = Math.ceil(80 / FIXED_CAP) * 2 * FIXED_LATENCY_MS + Math.ceil(160 / FIXED_CAP) * FIXED_LATENCY_MS;
      return {
        wallSecondsFromProcessStart: r3(wallMs),
        lowerBoundSeconds: r3(bound),
        ratioToBound: +(wallMs / bound).toFixed(3),
        fastchatScheduleSeconds: r3(fastchat),
        ratioToFastChat: +(wallMs / fastchat).toFixed(3),
        firstRequestSeconds: r3(cs.firstRequestAt - r.startedAt),
        engineWallSeconds: r.engineWallMs === undefined ? null : r3(r.engineWallMs),
        evalHelpSecondsMedianOf5: r3(median(help)),
        calls: { candidate: cs.requests, judge: js.requests },
        setup: { latencyMs: FIXED_LATENCY_MS, concurrency: FIXED_CAP, judgeConcurrency: FIXED_CAP },
      };
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
}

async function main(): Promise<number> {
  if (!existsSync(path.join(dataDir, 'question.jsonl'))) {
    process.stderr.write(`bench:eval needs the MT-Bench data in ${dataDir} (not found); nothing was run\n`);
    return 2;
  }
  if (!existsSync(cli)) {
    process.stderr.write(`bench:eval needs the build (${cli}); run npm run build\n`);
    return 2;
  }
  const benchmark = await loadBenchmark('mt-bench', { dataDir, cacheDir: path.join(tmpdir(), 'evalhook-bench-cache') });
  const batching = await continuousBatching(benchmark);
  const fixed = await fixedLatencyCli();
  const met = {
    ratioToOptimum: batching.ratioToOptimum <= TARGETS.vsOptimum,
    ratioToBound: fixed.ratioToBound <= TARGETS.vsBound,
    ratioToFastChat: fixed.ratioToFastChat <= TARGETS.vsFastChat,
    evalHelp: fixed.evalHelpSecondsMedianOf5 <= TARGETS.helpSeconds,
    firstRequest: fixed.firstRequestSeconds <= TARGETS.firstRequestSeconds,
  };
  const report = { continuousBatching: batching, fixedLatencyCli: fixed, targets: { ...TARGETS, met } };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return Object.values(met).every(Boolean) ? 0 : 1;
}

process.exitCode = await main();
