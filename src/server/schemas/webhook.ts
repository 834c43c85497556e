/** Webhook contracts. The body schema lives with its parser (wandb-payload.ts). */
import { z } from 'zod';
import { TriggerAccepted, TriggerDuplicate } from './evaluations.js';

export { WandbWebhookBody } from '../wandb-payload.js';

/** 200 for a delivery we acknowledge but do not act on (other event, test delivery, no rule). */
export const WebhookIgnored = z.object({ ignored: z.literal(true), reason: z.string() });

export const WebhookReplies = {
  202: TriggerAccepted,
  200: z.union([TriggerDuplicate, WebhookIgnored]),
} as const;
