/**
 * The BullMQ UI at /admin/queues, in its own encapsulated context whose onRequest hook demands the
 * admin token before any bull-board route (pages, assets, API) runs. Browsers get a Basic prompt
 * (password = ADMIN_TOKEN) and then a signed session cookie that expires (HttpOnly,
 * SameSite=Strict, Secure behind HTTPS); scripts can send the Bearer header. Mutating requests
 * authenticated by a browser (cookie or Basic, which browsers resend cross-site) must carry an
 * Origin of this server.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import { createHmac } from 'node:crypto';
import { errorReply } from './error-handler.js';
import { basicPassword, bearerToken, cookieValue, safeEqual, unauthorized } from './auth.js';

export const BOARD_PATH = '/admin/queues';
export const BOARD_COOKIE = 'evalhook_admin';
/** A board session lasts a working day; then the browser asks for the token again. */
export const BOARD_SESSION_SECONDS = 8 * 3600;
const COOKIE = BOARD_COOKIE;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `<expiry s>.<HMAC(token, expiry)>`: the token never leaves the server, and a session ends. */
export function boardSession(adminToken: string, expiresAt: number): string {
  return `${expiresAt}.${sessionMac(adminToken, expiresAt)}`;
}

function sessionMac(adminToken: string, expiresAt: number): string {
  return createHmac('sha256', adminToken).update(`evalhook bull-board session v2 ${expiresAt}`).digest('base64url');
}

function validSession(adminToken: string, value: string, nowS: number): boolean {
  const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!m?.[1] || !m[2]) return false;
  const exp = Number(m[1]);
  return exp > nowS && safeEqual(m[2], sessionMac(adminToken, exp));
}

/** Same origin as this server (its Host, or PUBLIC_URL when set). */
function sameOrigin(req: FastifyRequest, publicUrl: string | undefined): boolean {
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return false;
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false;
  }
  if (publicUrl && o.origin === new URL(publicUrl).origin) return true;
  if (o.protocol !== 'https:' && o.protocol !== 'http:') return false;
  try {
    // Through URL on both sides so a default port (":80") compares equal to none.
    return o.host === new URL(`${o.protocol}//${req.headers.host ?? ''}`).host;
  } catch {
    return false;
  }
}

export function registerBullBoard(
  app: App,
  opts: { queue: Queue; adminToken: string; publicUrl?: string | undefined },
): void {
  const adapter = new FastifyAdapter();
  // @bull-board/api is pinned to the version @bull-board/fastify depends on: one copy, one type.
  createBullBoard({ queues: [new BullMQAdapter(opts.queue)], serverAdapter: adapter });
  adapter.setBasePath(BOARD_PATH);
  const behindHttps = (req: FastifyRequest) =>
    req.protocol === 'https' || (opts.publicUrl?.startsWith('https:') ?? false);

  app.register(async (board) => {
    board.addHook('onRequest', async (req, reply) => {
      const bearer = bearerToken(req.headers.authorization);
      const basic = bearer === undefined ? basicPassword(req.headers.authorization) : undefined;
      const given = bearer ?? basic;
      if (given !== undefined) {
        if (!safeEqual(given, opts.adminToken)) return unauthorized(reply, 'evalhook admin');
      } else {
        const fromCookie = cookieValue(req.headers.cookie, COOKIE);
        if (fromCookie === undefined || !validSession(opts.adminToken, fromCookie, Math.floor(Date.now() / 1000)))
          return unauthorized(reply, 'evalhook admin');
      }
      // A browser sends cookies and Basic credentials with cross-site requests too; a script's Bearer it does not.
      if (bearer === undefined && !SAFE_METHODS.has(req.method) && !sameOrigin(req, opts.publicUrl)) {
        return reply
          .code(403)
          .send(
            errorReply(
              403,
              'origin: a board change must come from the board itself (Origin header of this server)',
              'EVALHOOK_ERR_ORIGIN',
            ),
          );
      }
      if (given !== undefined) {
        // Lets the board's own fetches work without re-sending credentials; scoped to the board.
        const exp = Math.floor(Date.now() / 1000) + BOARD_SESSION_SECONDS;
        const secure = behindHttps(req) ? '; Secure' : '';
        reply.header(
          'set-cookie',
          `${COOKIE}=${boardSession(opts.adminToken, exp)}; Path=${BOARD_PATH}; Max-Age=${BOARD_SESSION_SECONDS}; HttpOnly; SameSite=Strict${secure}`,
        );
      }
    });
    await board.register(adapter.registerPlugin(), { prefix: BOARD_PATH });
  });
}
