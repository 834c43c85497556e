/**
 * POST /webhooks/wandb: verify (Bearer token, optional HMAC over the raw bytes), parse, route, and
 * enqueue; 202 only after the job is stored. Encapsulated: its raw-body parser and token hook do not
 * leak to the admin API.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { EvalhookError } from '../../errors.js';
import type { Config } from '../../config.js';
import type { EvaluationService } from '../../jobs/producer.js';
import { requireBearer, unauthorized, verifySignature } from '../plugins/auth.js';
import { errorReply } from '../plugins/error-handler.js';
import { keys } from '../../jobs/keys.js';
import { errorReplyFor } from '../schemas/common.js';
import { WandbWebhookBody, WebhookReplies } from '../schemas/webhook.js';
import { parseWebhookBody } from '../wandb-payload.js';
import { triggerEvaluations } from './trigger.js';

export const WEBHOOK_PATH = '/webhooks/wandb';
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

/** JSON.parse that drops prototype-polluting keys instead of carrying them into later copies. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text, (k, v: unknown) => (k === '__proto__' ? undefined : v)) };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message.slice(0, 200) : 'unparseable' };
  }
}

export const webhookRoutes: FastifyPluginAsyncZod<{ config: Config; service: EvaluationService }> = async (
  app,
  { config, service },
) => {
  // Raw bytes for the signature; any content type, since W&B's is not guaranteed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  );
  // The body schema documents the template; the handler validates it itself, after the signature.
  app.setValidatorCompiler((route) =>
    route.httpPart === 'body'
      ? (data: unknown) => ({ value: data })
      : validatorCompiler(route as Parameters<typeof validatorCompiler>[0]),
  );
  const perMinute = config.env.WEBHOOK_RATE_LIMIT;
  if (perMinute !== undefined) {
    // Per client address, counted in Redis so every API replica shares one budget. Before the token
    // check, so guessing tokens is limited too. A Redis error lets the request through: the enqueue
    // then answers for Redis itself.
    await app.register(rateLimit, {
      global: false,
      redis: service.intakeRedis,
      nameSpace: keys(config.env.QUEUE_PREFIX).rateLimit,
      skipOnError: true,
    });
    app.addHook(
      'onRequest',
      app.rateLimit({
        max: perMinute,
        timeWindow: 60_000,
        // Thrown by the plugin; the error handler answers it like any catalog error (429 + Retry-After).
        errorResponseBuilder: (_req, ctx) =>
          new EvalhookError(
            'EVALHOOK_ERR_RATE_LIMIT',
            `rate limit: at most ${ctx.max} requests per minute per client address (WEBHOOK_RATE_LIMIT); retry in ${ctx.after}`,
          ),
      }),
    );
  }
  app.addHook('onRequest', requireBearer(config.env.WEBHOOK_TOKEN));

  app.post(
    WEBHOOK_PATH,
    {
      bodyLimit: WEBHOOK_BODY_LIMIT,
      schema: {
        summary: 'W&B Automation webhook',
        description:
          'Point a W&B webhook automation here (Authorization: Bearer WEBHOOK_TOKEN; X-Wandb-Signature when WEBHOOK_SECRET is set). ' +
          '202 = queued, 200 = duplicate or ignored.',
        tags: ['webhook'],
        security: [{ webhookToken: [] }],
        body: WandbWebhookBody,
        response: { ...WebhookReplies, ...errorReplyFor(400, 401, 413, 415, 429, 503, 504) },
      },
    },
    async (req, reply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const secret = config.env.WEBHOOK_SECRET;
      if (secret && !verifySignature(secret, raw, req.headers['x-wandb-signature'])) return unauthorized(reply);

      // An empty body is what W&B's Test button sends without a payload: acknowledge it.
      const parsed = raw.length === 0 ? ({ ok: true, value: {} } as const) : parseJson(raw.toString('utf8'));
      if (!parsed.ok)
        return reply.code(400).send(errorReply(400, `body: invalid JSON (${parsed.message})`, 'EVALHOOK_ERR_JSON'));
      if (typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
        const kind =
          parsed.value === null ? 'null' : Array.isArray(parsed.value) ? 'an array' : `a ${typeof parsed.value}`;
        return reply.code(400).send(errorReply(400, `body: expected a JSON object, got ${kind}`, 'EVALHOOK_ERR_BODY'));
      }
      const body = WandbWebhookBody.safeParse(parsed.value);
      if (!body.success) {
        const msg = body.error.issues.map((i) => `body.${i.path.map(String).join('.')}: ${i.message}`).join('; ');
        return reply.code(400).send(errorReply(400, msg.slice(0, 1000), 'EVALHOOK_ERR_BODY'));
      }

      const outcome = parseWebhookBody(body.data);
      if (outcome.kind === 'ignored') {
        req.log.info({ reason: outcome.reason }, 'webhook ignored');
        return reply.code(200).send({ ignored: true, reason: outcome.reason });
      }
      if (outcome.kind === 'invalid') {
        return reply.code(400).send(errorReply(400, `body.${outcome.field}: ${outcome.message}`, 'EVALHOOK_ERR_BODY'));
      }
      const result = await triggerEvaluations({
        config,
        service,
        delivery: outcome.delivery,
        source: 'webhook',
        log: req.log,
      });
      if (result.kind === 'no-profile') {
        req.log.info({ artifact: outcome.delivery.artifactName }, 'no routing rule matches');
        return reply.code(200).send({ ignored: true, reason: 'no routing rule matches this delivery' });
      }
      req.log.info({ evaluationId: result.reply.evaluationId, duplicate: result.reply.duplicate }, 'webhook accepted');
      return result.reply.duplicate ? reply.code(200).send(result.reply) : reply.code(202).send(result.reply);
    },
  );
};
