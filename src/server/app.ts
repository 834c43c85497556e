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
import { registerMetrics } from './plugins/metrics.js';
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

/** Synchronous: plugins load in order on ready()/listen()/inject(); boot errors surface there. */
export function buildApp(deps: AppDeps): App {
  const { config, service } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Stop taking new requests during shutdown while in-flight ones finish.
    return503OnClosing: true,
    bodyLimit: WEBHOOK_BODY_LIMIT,
    // Request ids come from us, not the caller (a header could inject anything into logs).
    requestIdHeader: false,
    // Huge or odd URLs from scanners must not cost much.
    routerOptions: { maxParamLength: 200 },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  registerErrorHandler(app);
  registerMetrics(app, service);
  registerSwagger(app);

  app.register(healthRoutes, { ping: () => (deps.redis ? deps.redis.ping() : service.ping()) });
  app.register(webhookRoutes, { config, service });
  app.register(adminRoutes, { config, service, prefix: API_PREFIX });
  app.register(dashboardRoutes, { config, dashboards: deps.dashboards, prefix: API_PREFIX });
  if (config.env.BULL_BOARD) registerBullBoard(app, { queue: deps.queueForBoard ?? service.queue, adminToken: config.env.ADMIN_TOKEN });

  app.addHook('onClose', async () => {
    await service.close();
  });
  return app;
}
