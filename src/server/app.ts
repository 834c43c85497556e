/**
 * buildApp(deps): the whole HTTP surface, built from explicit dependencies and never listening
 * (the CLI calls listen; tests use inject or listen on port 0). Closing the app closes the service.
 */
import type { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { EvaluationService } from '../jobs/producer.js';
import { registerBullBoard } from './plugins/bull-board.js';
import { registerErrorHandler } from './plugins/error-handler.js';
import { createMetrics, registerMetricsRoute } from './plugins/metrics.js';
import { registerSwagger } from './plugins/swagger.js';
import type { App } from './types.js';

export type { App } from './types.js';
import { adminRoutes } from './routes/admin.js';
import { dashboardRoutes, type DashboardSyncer } from './routes/dashboards.js';
import { healthRoutes } from './routes/health.js';
import { API_PREFIX } from './routes/trigger.js';
import { WEBHOOK_BODY_LIMIT, webhookRoutes } from './routes/webhooks.js';

export interface AppDeps {
  config: Config;
  service: EvaluationService;
  logger: Logger;
  /** Checked by /readyz; defaults to the service's own connection. */
  redis?: { ping(): Promise<unknown> };
  /** Shown by bull-board at /admin/queues (BULL_BOARD=true); defaults to the service's queue. */
  queueForBoard?: Queue;
  /** W&B dashboard sync for POST /api/v1/dashboards/sync; absent when offline (409). */
  dashboards?: DashboardSyncer;
}

/**
 * How often Node looks for requests past requestTimeout/headersTimeout. Its default (30 s) would
 * let a trickled body live up to twice the timeout.
 */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

function createFastify(config: Config, logger: Logger): App {
  const { env } = config;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Stop taking new requests during shutdown while in-flight ones finish.
    return503OnClosing: true,
    bodyLimit: WEBHOOK_BODY_LIMIT,
    // Request ids come from us, not the caller (a header could inject anything into logs).
    requestIdHeader: false,
    // Huge or odd URLs from scanners must not cost much.
    routerOptions: { maxParamLength: 200 },
    // Slow clients cannot hold sockets: whole request, headers, idle socket, idle keep-alive.
    requestTimeout: env.HTTP_REQUEST_TIMEOUT_MS,
    connectionTimeout: env.HTTP_CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    http: {
      requestTimeout: env.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeout: Math.min(env.HTTP_HEADERS_TIMEOUT_MS, env.HTTP_REQUEST_TIMEOUT_MS),
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandler(app);
  return app;
}

export interface Apps {
  /** PORT: webhook, admin API, board, docs (and /metrics, /healthz, /readyz without METRICS_PORT). */
  app: App;
  /** METRICS_PORT: /metrics, /healthz and /readyz only. */
  internal?: App;
}

/** Synchronous: plugins load in order on ready()/listen()/inject(); boot errors surface there. */
export function buildApps(deps: AppDeps): Apps {
  const { config, service } = deps;
  const app = createFastify(config, deps.logger);
  const internal = config.env.METRICS_PORT !== undefined ? createFastify(config, deps.logger) : undefined;
  const ops = internal ?? app;

  const metrics = createMetrics(app, service);
  registerMetricsRoute(ops, metrics, config.env.METRICS_TOKEN);
  registerSwagger(app);

  ops.register(healthRoutes, { ping: () => (deps.redis ? deps.redis.ping() : service.ping()) });
  app.register(webhookRoutes, { config, service });
  app.register(adminRoutes, { config, service, prefix: API_PREFIX });
  app.register(dashboardRoutes, { config, dashboards: deps.dashboards, prefix: API_PREFIX });
  if (config.env.BULL_BOARD)
    registerBullBoard(app, {
      queue: deps.queueForBoard ?? service.queue,
      adminToken: config.env.ADMIN_TOKEN,
      publicUrl: config.env.PUBLIC_URL,
    });

  app.addHook('onClose', async () => {
    await internal?.close();
    await service.close();
  });
  return internal ? { app, internal } : { app };
}

/** The public app alone (tests, benches); with METRICS_PORT its internal app must be listened on separately: use buildApps. */
export function buildApp(deps: AppDeps): App {
  return buildApps(deps).app;
}
