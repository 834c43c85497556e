/** Reply shapes shared by every route group. */
import { z } from 'zod';

/** Every error reply, whatever produced it (validation, auth, domain, Fastify itself). */
export const ErrorReply = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
  code: z.string().optional(),
});
export type ErrorReply = z.infer<typeof ErrorReply>;

/** Declared for every route so OpenAPI shows them and the serializer checks them. */
export const errorReplies = {
  400: ErrorReply,
  401: ErrorReply,
  404: ErrorReply,
  409: ErrorReply,
  413: ErrorReply,
  415: ErrorReply,
  429: ErrorReply,
  502: ErrorReply,
  503: ErrorReply,
  504: ErrorReply,
} as const;

export function errorReplyFor(...codes: Array<keyof typeof errorReplies>): Partial<typeof errorReplies> {
  return Object.fromEntries(codes.map((c) => [c, errorReplies[c]]));
}
