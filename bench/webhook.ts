/**
 * npm run bench:webhook — throughput and latency of authenticated (Bearer + HMAC), deduplicated
 * webhook deliveries against real Redis, next to a bare Fastify route in the same run, over real
 * loopback HTTP; then the same deliveries with BENCH_RETAINED jobs in Redis while
 * BENCH_ADMIN_CLIENTS clients scrape /metrics and list the admin API (the figure: signed
 * deliveries' p99 and 5xx count; target 0 5xx); and the cost of one routing decision with a
 * many-star glob on a long name. Bounded in count and time; prints JSON only.
 *
 * Env: REDIS_URL (default redis://127.0.0.1:6379), BENCH_REQUESTS (4000), BENCH_CONCURRENCY (32),
 * BENCH_MAX_SECONDS (60), BENCH_RETAINED (20000), BENCH_ADMIN_CLIENTS (32). Keys go under a unique
 * prefix and are deleted afterwards.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { Agent, get, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { createEvaluationService } from '../src/jobs/producer.js';
import { serviceOptions } from '../src/runtime.js';
import { buildApp } from '../src/server/app.js';
import { route } from '../src/server/routing.js';
import { parseWebhookBody } from '../src/server/wandb-payload.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const N = Math.max(100, Number(process.env.BENCH_REQUESTS ?? 4000));
const CONCURRENCY = Math.max(1, Number(process.env.BENCH_CONCURRENCY ?? 32));
const MAX_MS = Math.max(5, Number(process.env.BENCH_MAX_SECONDS ?? 60)) * 1000;
const RETAINED = Math.max(0, Number(process.env.BENCH_RETAINED ?? 20_000));
const ADMIN_CLIENTS = Math.max(0, Number(process.env.BENCH_ADMIN_CLIENTS ?? 32));
const WARMUP = 200;
const DUPLICATE_SHARE = 0.5;

interface Target {
  port: number;
  path: string;
  headers: (body: string) => Record<string, string>;
}

interface Stats {
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const round = (x: number) => Math.round(x * 100) / 100;

function post(agent: Agent, t: Target, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: t.port,
        path: t.path,
        method: 'POST',
        agent,
        headers: { ...t.headers(body), 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Fire bodies with at most CONCURRENCY in flight; stops at the deadline. */
async function run(t: Target, bodies: string[], deadline: number): Promise<Stats> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < bodies.length && Date.now() < deadline) {
      const body = bodies[next++] ?? '';
      const start = performance.now();
      try {
        const status = await post(agent, t, body);
        latencies.push(performance.now() - start);
        statuses[status] = (statuses[status] ?? 0) + 1;
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds: round(seconds),
    reqPerSec: round(latencies.length / seconds),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies.at(-1) ?? 0),
    statuses,
    errors,
  };
}

function getStatus(agent: Agent, port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

/** Admin clients alternating a /metrics scrape and a first-page list until `stop` resolves. */
async function adminLoad(
  port: number,
  adminToken: string,
  stop: Promise<void>,
): Promise<{ requests: number; p99Ms: number; statuses: Record<string, number> }> {
  const agent = new Agent({ keepAlive: true, maxSockets: ADMIN_CLIENTS });
  let done = false;
  void stop.then(() => (done = true));
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const client = async (i: number) => {
    for (let n = i; !done; n++) {
      const path = n % 2 === 0 ? '/metrics' : '/api/v1/evaluations?limit=50';
      const start = performance.now();
      const status = await getStatus(agent, port, path, { authorization: `Bearer ${adminToken}` }).catch(() => 0);
      latencies.push(performance.now() - start);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: ADMIN_CLIENTS }, (_, i) => client(i)));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, p99Ms: round(percentile(latencies, 99)), statuses };
}

/** Enqueue `count` distinct evaluations straight through the service (the retained backlog). */
async function retain(service: ReturnType<typeof createEvaluationService>, count: number): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, (_, j) =>
        service.enqueue({
          evaluationId: '',
          profile: 'default',
          artifact: { name: `bench-org/wandb-registry-model/retained:v${i + j}` },
          trigger: { source: 'manual', eventType: 'MANUAL', receivedAt: Date.now() },
        }),
      ),
    );
  }
}

/** One routing decision with a many-star rule on a W&B-maximal name (the regex matcher took seconds). */
function routingCost(): { decisions: number; p99Us: number; maxUs: number } {
  const config = loadConfig(
    { WEBHOOK_TOKEN: 'x'.repeat(16), ADMIN_TOKEN: 'y'.repeat(16), EVALHOOK_CONFIG: 'rules.json' },
    () => JSON.stringify({ profiles: [{ name: 'ja' }], rules: [{ profile: 'ja', collections: ['*-*-*-*-*-*-ja'] }] }),
  );
  const name = `${'a-'.repeat(63)}x`;
  const parsed = parseWebhookBody({
    event_type: 'LINK_ARTIFACT',
    artifact_version_string: `acme/wandb-registry-model/${name}:v1`,
  });
  if (parsed.kind !== 'delivery') throw new Error('routing bench: delivery did not parse');
  const times: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    const t0 = performance.now();
    route(config, parsed.delivery);
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return { decisions: times.length, p99Us: round(percentile(times, 99)), maxUs: round(times.at(-1) ?? 0) };
}

/** About half the deliveries repeat an earlier version (W&B redeliveries), mixed in a fixed order. */
function deliveries(count: number, tag: string): { bodies: string[]; distinct: number } {
  const body = (v: number) =>
    JSON.stringify({
      source: 'wandb-automation',
      event_type: 'LINK_ARTIFACT',
      event_author: 'bench',
      entity_name: 'bench-org',
      project_name: 'wandb-registry-model',
      artifact_collection_name: `bench ${tag}`,
      artifact_version: `wandb-artifact://_id/${Buffer.from(`Artifact:${tag.length}${v + 1}`).toString('base64')}`,
      artifact_version_string: `bench-org/wandb-registry-model/bench ${tag}:v${v}`,
      alias: '',
    });
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const bodies: string[] = [];
  let fresh = 0;
  for (let i = 0; i < count; i++)
    bodies.push(fresh === 0 || rand() >= DUPLICATE_SHARE ? body(fresh++) : body(Math.floor(rand() * fresh)));
  return { bodies, distinct: fresh };
}

async function deleteKeys(url: string, prefix: string): Promise<number> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [nextCursor, batch] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (batch.length) deleted += await r.del(...batch);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return deleted;
}

async function main(): Promise<void> {
  const deadline = Date.now() + MAX_MS;
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const token = randomUUID() + randomUUID();
  const secret = randomUUID();
  const adminToken = randomUUID() + randomUUID();
  // MAX_QUEUED above the retained backlog plus the run, so the figure measures load, not the cap.
  const config = loadConfig({
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    WEBHOOK_TOKEN: token,
    WEBHOOK_SECRET: secret,
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'info',
    MAX_QUEUED: String(RETAINED + 3 * N + 1_000),
  });
  // Real JSON logging at info, written to /dev/null: the cost is measured, the output is not kept.
  const logger = pino(
    { level: process.env.BENCH_LOG_LEVEL ?? 'info' },
    pino.destination({ dest: '/dev/null', sync: false }),
  );
  const service = createEvaluationService(serviceOptions(config, logger));
  const app = buildApp({ config, service, logger });
  const bare = Fastify({ logger: false });
  bare.post('/bare', async () => ({ ok: true }));

  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    await bare.listen({ host: '127.0.0.1', port: 0 });
    const webhook: Target = {
      port: (app.server.address() as AddressInfo).port,
      path: '/webhooks/wandb',
      headers: (body) => ({
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        'x-wandb-signature': createHmac('sha256', secret).update(body).digest('base64'),
      }),
    };
    const bareTarget: Target = {
      port: (bare.server.address() as AddressInfo).port,
      path: '/bare',
      headers: () => ({ 'content-type': 'application/json' }),
    };

    const warm = deliveries(WARMUP, 'warmup');
    await run(webhook, warm.bodies, deadline);
    await run(bareTarget, warm.bodies, deadline);
    const { bodies, distinct } = deliveries(N, 'run');
    const webhookStats = await run(webhook, bodies, deadline);
    const bareStats = await run(bareTarget, bodies, deadline);
    const counts = await service.queue.getJobCounts(
      'waiting',
      'prioritized',
      'delayed',
      'waiting-children',
      'active',
      'completed',
      'failed',
    );
    const jobs = Object.values(counts).reduce((a, b) => a + b, 0);

    // Under load: a retained backlog, admin clients scraping and listing, fresh signed deliveries.
    const t0 = performance.now();
    await retain(service, RETAINED);
    const retainSeconds = round((performance.now() - t0) / 1000);
    const loaded = deliveries(N, 'loaded');
    let stopAdmin!: () => void;
    const adminDone = adminLoad(webhook.port, adminToken, new Promise<void>((r) => (stopAdmin = r)));
    const loadedStats = await run(webhook, loaded.bodies, deadline + 30_000);
    stopAdmin();
    const admin = await adminDone;
    const fiveXX = (st: Record<string, number>) =>
      Object.entries(st).reduce((n, [code, c]) => n + (Number(code) >= 500 || code === '0' ? c : 0), 0);

    process.stdout.write(
      `${JSON.stringify(
        {
          node: process.version,
          redis: new URL(REDIS_URL).host,
          requests: N,
          concurrency: CONCURRENCY,
          duplicateShare: DUPLICATE_SHARE,
          distinctVersions: distinct,
          // Every distinct version (run + warmup) became exactly one job.
          jobsInRedis: jobs,
          jobsExpected: distinct + warm.distinct,
          webhook: webhookStats,
          bareFastify: bareStats,
          webhookVsBare: {
            throughputRatio: round(webhookStats.reqPerSec / Math.max(1, bareStats.reqPerSec)),
            p50AddedMs: round(webhookStats.p50Ms - bareStats.p50Ms),
          },
          truncatedByDeadline: webhookStats.requests + bareStats.requests < 2 * N,
          underLoad: {
            retainedJobs: RETAINED,
            retainSeconds,
            adminClients: ADMIN_CLIENTS,
            webhook: { ...loadedStats, fiveXX: fiveXX(loadedStats.statuses) + loadedStats.errors },
            admin: { ...admin, fiveXX: fiveXX(admin.statuses) },
          },
          routing: routingCost(),
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await app.close();
    await bare.close();
    await deleteKeys(REDIS_URL, prefix);
  }
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
  process.exitCode = 1;
});
