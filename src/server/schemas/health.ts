import { z } from 'zod';

export const HealthReply = z.object({ status: z.literal('ok') });
export const ReadyReply = z.object({ status: z.enum(['ready', 'unavailable']), redis: z.enum(['up', 'down']) });
