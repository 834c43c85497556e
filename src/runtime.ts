/**
 * Wiring: turns a Config into running parts (server, workers) with every adapter chosen here and
 * passed down explicitly. Entry points call startServer/startWorker; tests call them too.
 */
import { join, resolve } from 'node:path';
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { loadBaselineAnswers, loadBenchmark } from './benchdata/index.js';
import type { Config } from './config.js';
import { runEvaluation, type Benchmark } from './eval/index.js';
import type { JudgeCache } from './eval/ports.js';
import { createInferenceLauncher } from './inference/index.js';
import { createActivityCheck } from './jobs/active.js';
import { createCancelRegistry } from './jobs/cancel.js';
import type { EvaluateDeps } from './jobs/evaluate.js';
import { createRedisJudgeCache } from './jobs/judge-cache.js';
import { limitChatClient } from './jobs/limited-chat.js';
import { createLimiter } from './jobs/limiter.js';
import { createOfflineArtifacts } from './jobs/offline-artifacts.js';
import { createEvaluationService, type EvaluationServiceOptions } from './jobs/producer.js';
import { createRedisEvalStore } from './jobs/redis-store.js';
import { createStats, type Stats } from './jobs/stats.js';
import { startSweeper } from './jobs/sweep.js';
import { createEvaluationWorker } from './jobs/worker.js';
import { createOpenAIChatClient } from './llm/openai-chat.js';
import { buildApps } from './server/app.js';
import { createRedisDashboardStore } from './jobs/dashboard-store.js';
import { createDashboardUpdater, createOfflineDashboard, DashboardSync } from './wandb/dashboard/index.js';
import { createOfflineReporter, createWandb, WandbClient } from './wandb/index.js';

/**
 * The adaptive limits grow while a call's time per generated token stays within this multiple of the
 * best recently seen: continuous batching makes a full batch a few times slower per request than a
 * lone one, while queueing past the server's max batch makes it grow without bound.
 */
const ADAPTIVE_TOLERANCE = 3;

/** Connection options both ioredis and BullMQ accept (BullMQ types its own RedisOptions). */
export function redisOptions(url: string): RedisOptions & BullRedisOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    // BullMQ workers need blocking commands to wait forever rather than fail.
    maxRetriesPerRequest: null,
  };
}

export interface Started {
  close(): Promise<void>;
}

/** The producer's settings from the config (server, tests and benches build it the same way). */
export function serviceOptions(config: Config, logger: Logger): EvaluationServiceOptions {
  const { env } = config;
  return {
    connection: env.REDIS_URL,
    prefix: env.QUEUE_PREFIX,
    logger,
    attempts: env.JOB_ATTEMPTS,
    backoffMs: env.JOB_BACKOFF_MS,
    deadlineMs: env.REDIS_DEADLINE_MS,
    maxQueued: env.MAX_QUEUED,
  };
}

export async function startServer(
  config: Config,
  logger: Logger,
): Promise<Started & { url: string; internalUrl?: string }> {
  const service = createEvaluationService(serviceOptions(config, logger));
  // The dashboard rebuild endpoint needs W&B and the dashboards' Redis state and lock.
  const redis = config.env.WANDB_API_KEY ? new Redis(redisOptions(config.env.REDIS_URL)) : undefined;
  redis?.on('error', throttledLog(logger, 'redis connection error'));
  const dashboards =
    redis && config.env.WANDB_API_KEY
      ? new DashboardSync(
          new WandbClient({
            apiKey: config.env.WANDB_API_KEY,
            baseURL: config.env.WANDB_BASE_URL,
            appURL: config.env.WANDB_APP_URL,
            logger,
          }),
          createRedisDashboardStore(redis, config.env.QUEUE_PREFIX),
        )
      : undefined;
  const { app, internal } = buildApps({ config, service, logger, dashboards });
  const url = await app.listen({ port: config.env.PORT, host: config.env.HOST });
  const internalUrl = internal
    ? await internal.listen({ port: config.env.METRICS_PORT, host: config.env.HOST })
    : undefined;
  logger.info({ url, internalUrl }, 'evalhook API listening');
  return {
    url,
    ...(internalUrl ? { internalUrl } : {}),
    async close() {
      // Closes the internal listener and the service too; in-flight requests end by REDIS_DEADLINE_MS.
      await bounded('http server', config.env.REDIS_DEADLINE_MS + 2_000, () => app.close(), logger);
      await bounded(
        'dashboard redis',
        2_000,
        () => redis?.quit().catch(() => redis.disconnect()) ?? Promise.resolve(),
        logger,
      );
    },
  };
}

export function workerDeps(config: Config, logger: Logger, redis: Redis): EvaluateDeps & { shutdown(): Promise<void> } {
  const { env } = config;
  const prefix = env.QUEUE_PREFIX;
  const dataDir = resolve(env.EVALHOOK_DATA_DIR);
  const wandb = env.WANDB_API_KEY
    ? createWandb({
        apiKey: env.WANDB_API_KEY,
        baseURL: env.WANDB_BASE_URL,
        appURL: env.WANDB_APP_URL,
        // Registry paths without an org prefix resolve in the configured entity's / organisation's org.
        entity: env.WANDB_ENTITY,
        organization: env.WANDB_ORGANIZATION,
        cacheDir: join(dataDir, 'cache'),
        logger,
        artifactMaxBytes: env.ARTIFACT_MAX_GB * 1024 ** 3,
        artifactCacheMaxBytes: env.ARTIFACT_CACHE_MAX_GB * 1024 ** 3,
      })
    : undefined;
  if (!wandb) logger.warn({ dir: join(dataDir, 'results') }, 'WANDB_API_KEY not set: results go to a local directory');
  const limiter = createLimiter(redis, prefix, { onError: throttledLog(logger, 'limiter error') });
  const stats = createStats(redis, prefix);
  const benchmarks = new Map<string, Promise<Benchmark>>();
  const kubeProfiles = [...config.profiles.values()].flatMap((p) =>
    p.inference.kind === 'kubernetes' ? [p.inference] : [],
  );
  const activity = kubeProfiles.length ? createActivityCheck(redis, prefix) : undefined;
  const launcher = createInferenceLauncher({
    redis,
    prefix,
    secrets: config.secrets,
    wandbApiKey: env.WANDB_API_KEY,
    gpuIds: (env.GPU_IDS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    workDir: join(dataDir, 'inference'),
    // What a launched server is handed must come out of the W&B download cache (createWandb's cacheDir).
    cacheRoot: wandb ? join(dataDir, 'cache') : undefined,
    logger,
    kubernetes: activity && {
      namespaces: kubeProfiles.map((k) => k.namespace),
      isActive: activity.isActive,
      evalhookImage: env.EVALHOOK_IMAGE,
      wandbBaseURL: env.WANDB_BASE_URL,
    },
  });

  return {
    config,
    redis,
    prefix,
    artifacts: wandb?.artifacts ?? createOfflineArtifacts(),
    reporter: wandb?.reporter ?? createOfflineReporter({ dir: join(dataDir, 'results') }),
    dashboard: wandb
      ? createDashboardUpdater(new DashboardSync(wandb.client, createRedisDashboardStore(redis, prefix)))
      : createOfflineDashboard(join(dataDir, 'results')),
    launcher,
    async shutdown() {
      // Kill launched inference servers and return GPU leases; flush counters.
      await launcher.shutdownAll();
      await activity?.close();
      await stats.close();
      await limiter.close();
    },
    benchmark(name) {
      let p = benchmarks.get(name);
      if (!p) {
        p = loadBenchmark(name, { dataDir: env.MTBENCH_DATA_DIR, cacheDir: join(dataDir, 'benchmarks') });
        // A failed load (network, checksum) must not be cached forever.
        p.catch(() => benchmarks.delete(name));
        benchmarks.set(name, p);
      }
      return p;
    },
    baseline: (file) => loadBaselineAnswers(file),
    chat(target, limits) {
      const inner = createOpenAIChatClient({
        baseURL: target.baseURL,
        apiKey: target.apiKey ?? 'none',
        headers: target.headers,
        role: target.role,
      });
      // RATE_WINDOW_MS < 60 s enforces the same rate over a shorter sliding window (smoother, stricter).
      const window = env.RATE_WINDOW_MS;
      const perWindow = (perMinute: number) =>
        perMinute ? Math.max(1, Math.floor((perMinute * window) / 60_000)) : undefined;
      return limitChatClient(inner, {
        limiter,
        name: limits.name,
        maxInFlight: limits.maxInFlight,
        adaptive: { start: limits.start, tolerance: ADAPTIVE_TOLERANCE },
        grantsPerWindow: perWindow(limits.rpm),
        tpm: perWindow(limits.tpm),
        windowMs: window,
        stats: { stats, role: target.role },
      });
    },
    store: (id) => createRedisEvalStore(redis, prefix, id),
    cache: countHits(
      createRedisJudgeCache(
        redis,
        prefix,
        env.JUDGE_CACHE_TTL_DAYS > 0 ? { ttlSeconds: env.JUDGE_CACHE_TTL_DAYS * 86_400 } : {},
      ),
      stats,
    ),
    runEvaluation,
    retry: {
      attempts: env.CALL_ATTEMPTS,
      baseDelayMs: env.CALL_BACKOFF_MS,
      maxDelayMs: Math.max(env.CALL_BACKOFF_MS, 60_000),
    },
    callTimeoutMs: env.CALL_TIMEOUT_MS,
    checkpointTtlSeconds: Math.round(env.CHECKPOINT_TTL_DAYS * 86_400),
  };
}

export async function startWorker(
  config: Config,
  logger: Logger,
  overrides: Partial<EvaluateDeps> = {},
): Promise<Started> {
  const opts = redisOptions(config.env.REDIS_URL);
  const redis = new Redis(opts);
  const subscriber = new Redis(opts);
  // ioredis reconnects by itself; an outage is logged (once per 10 s), never an unhandled error.
  const onRedisError = throttledLog(logger, 'redis connection error');
  redis.on('error', onRedisError);
  subscriber.on('error', onRedisError);
  const cancels = await createCancelRegistry(subscriber, redis, config.env.QUEUE_PREFIX);
  const base = workerDeps(config, logger, redis);
  const deps = { ...base, ...overrides };
  const w = createEvaluationWorker(deps, {
    connection: opts,
    prefix: config.env.QUEUE_PREFIX,
    concurrency: config.env.WORKER_CONCURRENCY,
    logger,
    cancels,
    graceMs: config.env.SHUTDOWN_GRACE_MS,
    lockDurationMs: config.env.JOB_LOCK_MS,
    stalledIntervalMs: config.env.JOB_STALLED_INTERVAL_MS,
  });
  const sweeper = await startSweeper({
    connection: opts,
    redis,
    prefix: config.env.QUEUE_PREFIX,
    everyMs: config.env.SWEEP_INTERVAL_MS,
    logger,
  });
  logger.info({ concurrency: config.env.WORKER_CONCURRENCY }, 'evalhook worker started');
  let closing: Promise<void> | undefined;
  const grace = config.env.SHUTDOWN_GRACE_MS;
  return {
    close() {
      // Idempotent: SIGTERM handlers and tests may both ask. Every step has its own bound and a
      // failing or hanging step does not stop the next: with Redis gone, the whole close still
      // ends within SHUTDOWN_GRACE_MS + ~4 s (the CLI exits at + 5 s whatever happens).
      closing ??= (async () => {
        await bounded(
          'evaluation worker',
          grace + 2_000,
          () => w.close(),
          logger,
          () => void w.worker.close(true).catch(() => undefined),
        );
        await bounded('maintenance sweeper', 500, () => sweeper.close(), logger);
        await bounded('inference servers, counters, limiter', 1_000, () => base.shutdown(), logger);
        await bounded('redis', 500, () => redis.quit(), logger);
        redis.disconnect();
        subscriber.disconnect();
      })();
      return closing;
    },
  };
}

/** Run one shutdown step for at most `ms`; its failure or overrun is logged, never thrown. */
export async function bounded(
  step: string,
  ms: number,
  fn: () => Promise<unknown>,
  logger: Logger,
  onOverrun?: () => void,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    fn().then(
      () => 'done' as const,
      (err: unknown) => {
        logger.warn({ err, step }, 'shutdown step failed');
        return 'failed' as const;
      },
    ),
    new Promise<'overrun'>((r) => (timer = setTimeout(() => r('overrun'), ms))),
  ]);
  clearTimeout(timer);
  if (outcome === 'overrun') {
    logger.warn({ step, ms }, 'shutdown step overran its bound; moving on');
    onOverrun?.();
  }
}

function throttledLog(logger: Logger, msg: string): (err: unknown) => void {
  let last = 0;
  return (err) => {
    if (Date.now() - last < 10_000) return;
    last = Date.now();
    logger.warn({ err }, msg);
  };
}

/** Judge-cache hits are judge calls not paid for: counted for /metrics next to the real calls. */
function countHits(cache: JudgeCache, stats: Stats): JudgeCache {
  return {
    async get(key) {
      const hit = await cache.get(key);
      if (hit) stats.add('judge_cache_hits');
      return hit;
    },
    set: (key, value) => cache.set(key, value),
  };
}
