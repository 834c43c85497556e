/**
 * Prometheus metrics, one registry per app (tests build many apps). A scrape costs O(1) Redis
 * commands whatever the number of jobs: queue counts are cached a few seconds by the service, the
 * worker counters and the duration histogram (written by workers as jobs end) are one HGETALL
 * each, and concurrent scrapes share one rendering (single-flight). METRICS_TOKEN, when set, is
 * demanded as a Bearer token.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DURATION_BUCKETS, renderDurations } from '../../jobs/durations.js';
import { STAT_FIELDS } from '../../jobs/keys.js';
import type { EvaluationService } from '../../jobs/producer.js';
import type { App } from '../types.js';
import { requireBearer } from './auth.js';

export const METRIC_NAMES = {
  httpRequests: 'evalhook_http_requests_total',
  httpDuration: 'evalhook_http_request_duration_seconds',
  queueJobs: 'evalhook_queue_jobs',
  evaluationDuration: 'evalhook_evaluation_duration_seconds',
  stat: (field: string) => `evalhook_${field}_total`,
} as const;

export { DURATION_BUCKETS };

export interface Metrics {
  registry: Registry;
  /** The exposition text; concurrent callers share one rendering. */
  render(): Promise<string>;
}

/** Request counters on `app` (the public listener) and everything a scrape shows. */
export function createMetrics(app: App, service: EvaluationService): Metrics {
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
    help: 'Evaluation jobs by BullMQ state (cached up to 5 s)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await service.countsByState().catch(() => undefined);
      if (!counts) return; // Redis down: no sample rather than a failed scrape
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });

  // One HGETALL per scrape, shared by the per-field collectors.
  let stats: Promise<Record<string, number> | undefined> | undefined;
  for (const field of STAT_FIELDS) {
    new Counter({
      name: METRIC_NAMES.stat(field),
      help: `Worker counter ${field} (Redis hash <prefix>:stats, shared by all workers)`,
      registers: [registry],
      async collect() {
        const v = (await stats)?.[field];
        if (v === undefined) return;
        // Mirror the Redis total: reset then add keeps the Prometheus type "counter".
        this.reset();
        this.inc(v);
      },
    });
  }

  let rendering: Promise<string> | undefined;
  const render = async () => {
    stats = service.stats().catch(() => undefined);
    const [text, durations] = await Promise.all([registry.metrics(), service.durations().catch(() => ({}))]);
    return (
      text +
      renderDurations(
        METRIC_NAMES.evaluationDuration,
        'Evaluation run time (first pickup to finish) by outcome, observed by workers',
        durations,
      )
    );
  };
  return {
    registry,
    render() {
      // Concurrent scrapes share one rendering: N scrapers cost what one does.
      rendering ??= render().finally(() => (rendering = undefined));
      return rendering;
    },
  };
}

/** GET /metrics on `app` (the public listener, or the METRICS_PORT one). */
export function registerMetricsRoute(app: App, metrics: Metrics, token: string | undefined): void {
  app.get(
    '/metrics',
    { schema: { hide: true }, ...(token ? { onRequest: requireBearer(token) } : {}) },
    async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.render()),
  );
}
