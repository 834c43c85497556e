/**
 * npm run bench:jobs — pushes N evaluations (default 200) of a synthetic 80-question MT-Bench through
 * the real queue and real worker processes (`evalhook worker`), once with one worker process and
 * once with two, against fast simulated endpoints in their own processes. Prints JSON:
 * evaluations/minute for each, and the service's own time per evaluation: the worker processes' CPU
 * time per evaluation (endpoint latency and endpoint CPU excluded by construction).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QueueEvents } from 'bullmq';
import pino from 'pino';
import { evaluationIdFor } from '../src/jobs/job-data.js';
import { createEvaluationService } from '../src/jobs/producer.js';
import { redisOptions } from '../src/runtime.js';
import { writeSyntheticBench } from '../test/helpers/synthetic-bench.js';
import { spawnEndpoint } from './endpoints.js';

const N = Number(process.env.BENCH_EVALUATIONS ?? 200);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 5);
const WORKER_CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 4);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLK_TCK = 100; // Linux USER_HZ

/** utime + stime of a live process, in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'src/cli/main.ts'), 'worker'], {
    cwd: repo,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('evalhook worker started')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${out}`)));
  });
  child.stdout!.resume();
  return child;
}

async function run(workers: number, endpoints: { candidate: string; judge: string }, dataDir: string) {
  const prefix = `bench-jobs-${process.pid}-${workers}`;
  const stateDir = mkdtempSync(path.join(tmpdir(), 'evalhook-bench-jobs-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    WEBHOOK_TOKEN: 'bench-webhook-token-000000',
    ADMIN_TOKEN: 'bench-admin-token-0000000',
    JUDGE_BASE_URL: endpoints.judge,
    JUDGE_API_KEY: 'bench',
    JUDGE_CONCURRENCY: '64',
    INFERENCE_BASE_URL: endpoints.candidate,
    INFERENCE_MODEL: 'bench-candidate',
    INFERENCE_CONCURRENCY: '64',
    MTBENCH_DATA_DIR: dataDir,
    EVALHOOK_DATA_DIR: stateDir,
    WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
  };
  const logger = pino({ level: 'silent' });
  const service = createEvaluationService({ connection: REDIS_URL, prefix, logger });
  const events = new QueueEvents('evaluations', { connection: redisOptions(REDIS_URL), prefix });
  await events.waitUntilReady();
  const procs = await Promise.all(Array.from({ length: workers }, () => startWorkerProcess(env)));
  const cpuBefore = procs.reduce((s, p) => s + cpuSeconds(p.pid!), 0);
  let done = 0;
  let failed = 0;
  const allDone = new Promise<void>((resolve) => {
    const tick = (ok: boolean) => {
      done++;
      if (!ok) failed++;
      if (done === N) resolve();
    };
    events.on('completed', () => tick(true));
    events.on('failed', () => tick(false));
  });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const artifact = { name: `bench/proj/model-${i}:v${i}` };
    await service.enqueue({
      evaluationId: evaluationIdFor(artifact, 'default'),
      profile: 'default',
      artifact,
      trigger: { source: 'manual', eventType: 'MANUAL', receivedAt: Date.now() },
    });
  }
  await allDone;
  const wallS = (performance.now() - t0) / 1000;
  const cpu = procs.reduce((s, p) => s + cpuSeconds(p.pid!), 0) - cpuBefore;
  for (const p of procs) {
    const exited = once(p, 'exit');
    p.kill('SIGTERM');
    await exited;
  }
  // Read after the workers exited: each flushes its last counter increments on shutdown.
  const stats = await service.stats();
  await service.queue.obliterate({ force: true });
  await events.close();
  await service.close();
  rmSync(stateDir, { recursive: true, force: true });
  return {
    workerProcesses: workers,
    evaluations: N,
    failed,
    wallSeconds: +wallS.toFixed(2),
    evaluationsPerMinute: +((N / wallS) * 60).toFixed(1),
    ownCpuSecondsPerEvaluation: +(cpu / N).toFixed(3),
    judgeCalls: stats.judge_calls ?? 0,
    judgeCacheHits: stats.judge_cache_hits ?? 0,
    candidateCalls: stats.candidate_calls ?? 0,
  };
}

async function main() {
  const [candidate, judge] = await Promise.all([
    spawnEndpoint('candidate', { latencyMs: LATENCY_MS }),
    spawnEndpoint('judge', { latencyMs: LATENCY_MS }),
  ]);
  const dataDir = writeSyntheticBench();
  try {
    const endpoints = { candidate: candidate.url, judge: judge.url };
    const one = await run(1, endpoints, dataDir);
    const two = await run(2, endpoints, dataDir);
    const report = {
      node: process.version,
      setup: {
        evaluations: N,
        callsPerEvaluation: 320,
        endpointLatencyMs: LATENCY_MS,
        workerConcurrency: WORKER_CONCURRENCY,
        cores: (await import('node:os')).availableParallelism(),
      },
      oneWorker: one,
      twoWorkers: two,
      target: {
        ownSecondsPerEvaluation: '<= 2',
        met: Math.max(one.ownCpuSecondsPerEvaluation, two.ownCpuSecondsPerEvaluation) <= 2,
      },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    candidate.close();
    judge.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
