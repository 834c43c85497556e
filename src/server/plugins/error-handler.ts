/**
 * One error policy for the whole app: client mistakes keep their 4xx and a message naming the
 * problem, Redis trouble is a 503, and anything else is our fault: logged, answered with a generic
 * 500 that leaks nothing.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../types.js';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { OperationTimeoutError, QueueUnavailableError } from '../../jobs/producer.js';
import type { ErrorReply } from '../schemas/common.js';

export function errorReply(statusCode: number, message: string, code?: string): ErrorReply {
  const body: ErrorReply = { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
  if (code) body.code = code;
  return body;
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('statusCode' in err)) return undefined;
  const s = (err as { statusCode: unknown }).statusCode;
  return typeof s === 'number' && Number.isInteger(s) ? s : undefined;
}

function codeOf(err: unknown): string | undefined {
  const c = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : undefined;
  return typeof c === 'string' ? c : undefined;
}

export function registerErrorHandler(app: App): void {
  app.setErrorHandler((err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = 'validationContext' in err && typeof err.validationContext === 'string' ? err.validationContext : 'request';
      const details = err.validation.map((v) => `${where}${v.instancePath ? v.instancePath.replace(/\//g, '.') : ''}: ${v.message}`);
      return reply.code(400).send(errorReply(400, details.join('; '), 'EVALHOOK_ERR_VALIDATION'));
    }
    if (err instanceof QueueUnavailableError) {
      req.log.warn({ err: { message: err.message, cause: String(err.cause) } }, 'queue unavailable');
      return reply.code(503).header('retry-after', '5').send(errorReply(503, err.message, err.code));
    }
    if (err instanceof OperationTimeoutError) {
      req.log.warn({ operation: err.operation }, err.message);
      return reply.code(504).send(errorReply(504, err.message, err.code));
    }
    const status = statusOf(err);
    if (!isResponseSerializationError(err) && status !== undefined && status >= 400 && status < 500) {
      const retryAfter = 'retryAfterSeconds' in err && typeof err.retryAfterSeconds === 'number' ? err.retryAfterSeconds : undefined;
      if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
      return reply.code(status).send(errorReply(status, err.message, codeOf(err)));
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send(errorReply(500, 'internal error'));
  });

  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorReply(404, `no route ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}`)));
}
