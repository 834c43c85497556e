/**
 * Prometheus metrics, one registry per app (tests build many apps). Queue depth and the worker's
 * Redis counters are read at scrape time; evaluation durations are observed from finished jobs the
 * first time a scrape sees them, so no extra blocking Redis connection (QueueEvents) is needed.
 */
import type { App } from "../app.js";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { STAT_FIELDS } from '../../jobs/model.js';
import type { EvaluationService } from '../../jobs/producer.js';

export const METRIC_NAMES = {
  httpRequests: 'evalhook_http_requests_total',
  httpDuration: 'evalhook_http_request_duration_seconds',
  queueJobs: 'evalhook_queue_jobs',
  evaluationDuration: 'evalhook_evaluation_duration_seconds',
  stat: (field: string) => `evalhook_${field}_total`,
} as const;

/** How many finished jobs a scrape looks at for durations; older ones were seen by earlier scrapes. */
const RECENT = 200;

export function registerMetrics(app: App, service: EvaluationService): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'evalhook_' });

  const requests = new Counter({
    name: METRIC_NAMES.httpRequests,
    help: 'HTTP requests by route pattern, method and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: METRIC_NAMES.httpDuration,
    help: 'HTTP request latency',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    // The pattern, not the URL: unmatched paths share one label so scanners cannot explode cardinality.
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  new Gauge({
    name: METRIC_NAMES.queueJobs,
    help: 'Evaluation jobs by BullMQ state (read at scrape time)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await service.countsByState().catch(() => undefined);
      if (!counts) return; // Redis down: no sample rather than a failed scrape
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });

  const durations = new Histogram({
    name: METRIC_NAMES.evaluationDuration,
    help: 'Evaluation run time (first pickup to finish) by outcome',
    labelNames: ['outcome'] as const,
    buckets: [60, 300, 600, 1200, 1800, 3600, 7200, 14400],
    registers: [registry],
  });
  const seen = new Map<string, number>(); // job id -> finishedOn, bounded to the recent window
  const observeFinished = async () => {
    const rows = await service.recentlyFinished(RECENT).catch(() => []);
    for (const r of rows) {
      const key = `${r.id}@${r.finishedAt}`; // a retried job finishes again: count it again
      if (seen.has(key)) continue;
      seen.set(key, r.finishedAt);
      durations.observe({ outcome: r.outcome }, Math.max(0, r.finishedAt - r.startedAt) / 1000);
    }
    if (seen.size > RECENT * 4) {
      const oldest = [...seen.entries()].sort((a, b) => a[1] - b[1]).slice(0, seen.size - RECENT * 2);
      for (const [k] of oldest) seen.delete(k);
    }
  };

  for (const field of STAT_FIELDS) {
    new Counter({
      name: METRIC_NAMES.stat(field),
      help: `Worker counter ${field} (Redis hash <prefix>:stats, shared by all workers)`,
      registers: [registry],
      async collect() {
        const stats = await statsOnce();
        const v = stats?.[field];
        if (v === undefined) return;
        // Mirror the Redis total: reset then add keeps the Prometheus type "counter".
        this.reset();
        this.inc(v);
      },
    });
  }
  // One HGETALL per scrape, shared by the per-field collectors.
  let pending: Promise<Record<string, number> | undefined> | undefined;
  const statsOnce = () => (pending ??= service.stats().catch(() => undefined));

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    pending = undefined;
    await observeFinished();
    const text = await registry.metrics();
    pending = undefined;
    return reply.type(registry.contentType).send(text);
  });
  return registry;
}
