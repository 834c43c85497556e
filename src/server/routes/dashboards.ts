/** Admin API (Bearer ADMIN_TOKEN): rebuild a project's dashboard in W&B now. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Config } from '../../config.js';
import type { SyncRequest, SyncResult } from '../../wandb/dashboard/index.js';
import { dashboardOffMessage, projectRequest, syncReply } from '../../wandb/dashboard/index.js';
import { WandbError } from '../../wandb/client.js';
import { requireBearer } from '../plugins/auth.js';
import { errorReply } from '../plugins/error-handler.js';
import { errorReplyFor } from '../schemas/common.js';
import { DashboardSyncBody, DashboardSyncReply } from '../schemas/dashboards.js';

export interface DashboardSyncer {
  sync(req: SyncRequest): Promise<SyncResult>;
}

export const dashboardRoutes: FastifyPluginAsyncZod<{ config: Config; dashboards?: DashboardSyncer }> = async (
  app,
  { config, dashboards },
) => {
  app.addHook('onRequest', requireBearer(config.env.ADMIN_TOKEN));

  app.post(
    '/dashboards/sync',
    {
      schema: {
        summary: "Rebuild one project's dashboard in W&B (workspace view, report, radar preset)",
        tags: ['dashboards'],
        security: [{ adminToken: [] }],
        body: DashboardSyncBody,
        response: { 200: DashboardSyncReply, ...errorReplyFor(400, 401, 409, 502) },
      },
    },
    async (req, reply) => {
      if (!dashboards)
        return reply
          .code(409)
          .send(
            errorReply(
              409,
              'WANDB_API_KEY is not set: there is no W&B dashboard to sync (evalhook dashboard --dry-run prints the specs)',
              'EVALHOOK_ERR_OFFLINE',
            ),
          );
      const request = projectRequest(config, req.body ?? {});
      if (!request.views.length)
        return reply
          .code(409)
          .send(errorReply(409, dashboardOffMessage(request.project), 'EVALHOOK_ERR_DASHBOARD_OFF'));
      try {
        const r = await dashboards.sync({ ...request, signal: AbortSignal.timeout(120_000) });
        return syncReply(r);
      } catch (err) {
        if (!(err instanceof WandbError)) throw err;
        return reply.code(502).send(errorReply(502, `W&B: ${err.message}`, 'EVALHOOK_ERR_WANDB'));
      }
    },
  );
};
