/**
 * One error policy for the whole app: client mistakes keep their 4xx and a message naming the
 * problem, Redis trouble is a 503, and anything else is our fault: logged, answered with a generic
 * 500 that leaks nothing.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../types.js';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { EvalhookError, isEvalhookError, type ErrorCode } from '../../errors.js';
import type { ErrorReply } from '../schemas/common.js';

export function errorReply(statusCode: number, message: string, code?: ErrorCode): ErrorReply {
  const body: ErrorReply = { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
  if (code) body.code = code;
  return body;
}

/**
 * fastify's own client errors (FST_ERR_CTP_*: media type, body size, malformed JSON) are the
 * client's mistake; they enter the catalog as EVALHOOK_ERR_BAD_REQUEST with their status.
 * Everything else outside the catalog is a bug.
 */
function asCatalogError(err: FastifyError | Error): EvalhookError | undefined {
  if (isEvalhookError(err)) return err;
  const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : undefined;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : '';
  if (status !== undefined && status >= 400 && status < 500 && code.startsWith('FST_')) {
    return new EvalhookError('EVALHOOK_ERR_BAD_REQUEST', err.message, { statusCode: status, cause: err });
  }
  return undefined;
}

export function registerErrorHandler(app: App): void {
  app.setErrorHandler((err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where =
        'validationContext' in err && typeof err.validationContext === 'string' ? err.validationContext : 'request';
      const details = err.validation.map(
        (v) => `${where}${v.instancePath ? v.instancePath.replace(/\//g, '.') : ''}: ${v.message}`,
      );
      return reply.code(400).send(errorReply(400, details.join('; '), 'EVALHOOK_ERR_VALIDATION'));
    }
    const known = isResponseSerializationError(err) ? undefined : asCatalogError(err);
    const status = known?.statusCode;
    if (known && status !== undefined && status !== 500) {
      if (known.code === 'EVALHOOK_ERR_QUEUE_UNAVAILABLE') {
        req.log.warn({ err: { message: known.message, cause: String(known.cause) } }, 'queue unavailable');
        reply.header('retry-after', '5');
      } else if (status >= 500) {
        req.log.warn({ code: known.code }, known.message);
      }
      const retryAfter =
        'retryAfterSeconds' in known && typeof known.retryAfterSeconds === 'number'
          ? known.retryAfterSeconds
          : undefined;
      if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
      return reply.code(status).send(errorReply(status, known.message, known.code));
    }
    // Outside the catalog (or a reply that broke its own schema): a bug. Logged with its stack, no detail leaks.
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send(errorReply(500, 'internal error', 'EVALHOOK_ERR_INTERNAL'));
  });

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(errorReply(404, `no route ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}`)),
  );
}
