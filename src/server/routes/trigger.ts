/** Delivery -> profiles -> jobs: the part the webhook and the manual trigger share. */
import type { FastifyBaseLogger } from 'fastify';
import type { z } from 'zod';
import type { Config } from '../../config.js';
import { PRIORITY, type EvaluationService } from '../../jobs/producer.js';
import { isUrgent, route } from '../routing.js';
import type { EvaluationRef, TriggerAccepted, TriggerDuplicate } from '../schemas/evaluations.js';
import type { Delivery } from '../wandb-payload.js';

export const API_PREFIX = '/api/v1';

export function statusUrl(config: Config, id: string): string {
  return `${(config.env.PUBLIC_URL ?? '').replace(/\/+$/, '')}${API_PREFIX}/evaluations/${id}`;
}

export type TriggerOutcome =
  { kind: 'no-profile' } | { kind: 'ok'; reply: z.infer<typeof TriggerAccepted> | z.infer<typeof TriggerDuplicate> };

export async function triggerEvaluations(args: {
  config: Config;
  service: EvaluationService;
  delivery: Delivery;
  source: 'webhook' | 'manual';
  /** An explicit profile (manual trigger) skips the routing rules. */
  profile?: string | undefined;
  /** The request's logger, so job lines carry its reqId. */
  log?: FastifyBaseLogger;
}): Promise<TriggerOutcome> {
  const { config, service, delivery, source } = args;
  let profiles = args.profile ? [args.profile] : route(config, delivery);
  // An operator asking for an evaluation gets one even when no rule covers the artifact.
  if (profiles.length === 0 && source === 'manual') profiles = [config.defaultProfile];
  if (profiles.length === 0) return { kind: 'no-profile' };

  const priority = isUrgent(delivery) ? PRIORITY.urgent : PRIORITY.normal;
  const artifact: { id?: string; name?: string } = {};
  if (delivery.artifactId) artifact.id = delivery.artifactId;
  if (delivery.artifactName) artifact.name = delivery.artifactName;
  const receivedAt = Date.now();
  const refs: EvaluationRef[] = await Promise.all(
    profiles.map(async (profile) => {
      const r = await service.enqueue(
        {
          evaluationId: '', // derived by the service from artifact + profile
          profile,
          artifact,
          trigger: {
            source,
            eventType: delivery.eventType,
            alias: delivery.aliases[0],
            author: delivery.author,
            receivedAt,
          },
        },
        { priority, log: args.log },
      );
      return {
        evaluationId: r.evaluationId,
        profile,
        status: r.status,
        duplicate: r.duplicate,
        statusUrl: statusUrl(config, r.evaluationId),
      };
    }),
  );
  const first = refs.find((r) => !r.duplicate) ?? refs[0];
  if (!first) return { kind: 'no-profile' };
  const extra = refs.length > 1 ? { evaluations: refs } : {};
  const reply = refs.some((r) => !r.duplicate)
    ? {
        evaluationId: first.evaluationId,
        status: first.status,
        statusUrl: first.statusUrl,
        duplicate: false as const,
        ...extra,
      }
    : {
        evaluationId: first.evaluationId,
        status: first.status,
        statusUrl: first.statusUrl,
        duplicate: true as const,
        ...extra,
      };
  return { kind: 'ok', reply };
}
