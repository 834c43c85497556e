/** Liveness (process answers) and readiness (Redis answers within a second). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { HealthReply, ReadyReply } from '../schemas/health.js';

const READY_TIMEOUT_MS = 1_000;

export const healthRoutes: FastifyPluginAsyncZod<{ ping: () => Promise<unknown> }> = async (app, { ping }) => {
  app.get('/healthz', { schema: { tags: ['health'], response: { 200: HealthReply } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/readyz',
    { schema: { tags: ['health'], response: { 200: ReadyReply, 503: ReadyReply } } },
    async (_req, reply) => {
      let timer: NodeJS.Timeout | undefined;
      const up = await Promise.race([
        ping().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), READY_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      return up
        ? reply.code(200).send({ status: 'ready', redis: 'up' })
        : reply.code(503).send({ status: 'unavailable', redis: 'down' });
    },
  );
};
