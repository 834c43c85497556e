/**
 * Shared-secret checks. Every comparison hashes both sides first so timingSafeEqual always sees
 * equal lengths and the time taken says nothing about the expected value.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const digest = (s: string | Buffer) => createHash('sha256').update(s).digest();

export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive), else undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}

/** The password of `Authorization: Basic` (browsers prompt for it on bull-board); user is ignored. */
export function basicPassword(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? undefined : decoded.slice(i + 1);
}

export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * X-Wandb-Signature = HMAC-SHA256(secret, raw body). W&B documents base64; hex, with or without a
 * `sha256=` prefix, is accepted too since the real encoding was never confirmed (reference §3.3).
 */
export function verifySignature(secret: string, rawBody: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || header.length > 256) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const value = header.trim().replace(/^sha256=/i, '');
  const given = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  // Length differs => cannot match; the length of a digest is public, so no timing leak here.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface Unauthorized {
  statusCode: 401;
  error: 'Unauthorized';
  message: string;
}

/** One reply for every auth failure, so it never tells which part was wrong. */
export function unauthorized(reply: FastifyReply, realm?: string): FastifyReply {
  if (realm) reply.header('www-authenticate', `Basic realm="${realm}", charset="UTF-8"`);
  const body: Unauthorized = { statusCode: 401, error: 'Unauthorized', message: 'missing or invalid credentials' };
  return reply.code(401).send(body);
}

/** onRequest hook: `Authorization: Bearer <token>`. */
export function requireBearer(token: string) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const given = bearerToken(req.headers.authorization);
    if (given === undefined || !safeEqual(given, token)) return unauthorized(reply);
  };
}
