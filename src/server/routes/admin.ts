/** The operators' API under /api/v1 (Bearer ADMIN_TOKEN): trigger, list, inspect, cancel, retry. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Config } from '../../config.js';
import type { EvaluationService } from '../../jobs/producer.js';
import { EvaluationNotFoundError } from '../../jobs/producer.js';
import { requireBearer } from '../plugins/auth.js';
import { errorReply } from '../plugins/error-handler.js';
import { errorReplyFor } from '../schemas/common.js';
import {
  EvaluationView,
  IdParams,
  ListQuery,
  ListReply,
  ManualTriggerBody,
  TriggerAccepted,
  TriggerDuplicate,
} from '../schemas/evaluations.js';
import { parseManualArtifact } from '../wandb-payload.js';
import { triggerEvaluations } from './trigger.js';

const tags = ['evaluations'];
const security = [{ adminToken: [] }];

export const adminRoutes: FastifyPluginAsyncZod<{ config: Config; service: EvaluationService }> = async (
  app,
  { config, service },
) => {
  app.addHook('onRequest', requireBearer(config.env.ADMIN_TOKEN));

  app.post(
    '/evaluations',
    {
      schema: {
        summary: 'Start an evaluation by hand',
        tags,
        security,
        body: ManualTriggerBody,
        response: { 202: TriggerAccepted, 200: TriggerDuplicate, ...errorReplyFor(400, 401, 429, 503, 504) },
      },
    },
    async (req, reply) => {
      const { artifact, profile } = req.body;
      if (profile !== undefined && !config.profiles.has(profile)) {
        const known = [...config.profiles.keys()].join(', ');
        return reply
          .code(400)
          .send(
            errorReply(400, `body.profile: unknown profile "${profile}" (known: ${known})`, 'EVALHOOK_ERR_PROFILE'),
          );
      }
      const parsed = parseManualArtifact(artifact);
      if ('error' in parsed)
        return reply.code(400).send(errorReply(400, `body.artifact: ${parsed.error}`, 'EVALHOOK_ERR_VALIDATION'));
      const result = await triggerEvaluations({
        config,
        service,
        delivery: parsed.delivery,
        source: 'manual',
        profile,
        log: req.log,
      });
      if (result.kind !== 'ok') throw new Error('manual trigger resolved no profile'); // cannot happen: manual falls back to default
      return result.reply.duplicate ? reply.code(200).send(result.reply) : reply.code(202).send(result.reply);
    },
  );

  app.get(
    '/evaluations',
    {
      schema: {
        summary: 'List evaluations, newest first',
        tags,
        security,
        querystring: ListQuery,
        response: { 200: ListReply, ...errorReplyFor(400, 401, 503, 504) },
      },
    },
    async (req) => service.list(req.query),
  );

  app.get(
    '/evaluations/:id',
    {
      schema: {
        summary: 'One evaluation',
        tags,
        security,
        params: IdParams,
        response: { 200: EvaluationView, ...errorReplyFor(400, 401, 404, 503, 504) },
      },
    },
    async (req) => {
      const view = await service.get(req.params.id);
      if (!view) throw new EvaluationNotFoundError(req.params.id);
      return view;
    },
  );

  app.post(
    '/evaluations/:id/cancel',
    {
      schema: {
        summary: 'Cancel a queued or running evaluation',
        tags,
        security,
        params: IdParams,
        response: { 200: EvaluationView, ...errorReplyFor(400, 401, 404, 409, 503, 504) },
      },
    },
    async (req) => service.cancel(req.params.id),
  );

  app.post(
    '/evaluations/:id/retry',
    {
      schema: {
        summary: 'Run a failed or cancelled evaluation again',
        tags,
        security,
        params: IdParams,
        response: { 200: EvaluationView, ...errorReplyFor(400, 401, 404, 409, 503, 504) },
      },
    },
    async (req) => service.retry(req.params.id),
  );
};
