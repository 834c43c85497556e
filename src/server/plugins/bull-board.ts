/**
 * The BullMQ UI at /admin/queues, in its own encapsulated context whose onRequest hook demands the
 * admin token before any bull-board route (pages, assets, API) runs. Browsers get a Basic prompt
 * (password = ADMIN_TOKEN) and then a session cookie derived from the token; scripts can send the
 * Bearer header.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { App } from "../app.js";
import { createHmac } from 'node:crypto';
import { basicPassword, bearerToken, cookieValue, safeEqual, unauthorized } from './auth.js';

export const BOARD_PATH = '/admin/queues';
export const BOARD_COOKIE = 'evalhook_admin';
const COOKIE = BOARD_COOKIE;

export function registerBullBoard(app: App, opts: { queue: Queue; adminToken: string }): void {
  const adapter = new FastifyAdapter();
  // @bull-board/api is pinned to the version @bull-board/fastify depends on: one copy, one type.
  createBullBoard({ queues: [new BullMQAdapter(opts.queue)], serverAdapter: adapter });
  adapter.setBasePath(BOARD_PATH);

  app.register(async (board) => {
    // The cookie holds a value derived from the token, never the token itself.
    const session = createHmac('sha256', opts.adminToken).update('evalhook bull-board session v1').digest('base64url');
    board.addHook('onRequest', async (req, reply) => {
      const header = bearerToken(req.headers.authorization) ?? basicPassword(req.headers.authorization);
      if (header !== undefined) {
        if (!safeEqual(header, opts.adminToken)) return unauthorized(reply, 'evalhook admin');
        // Lets the board's own fetches work without re-sending credentials; scoped to the board.
        reply.header('set-cookie', `${COOKIE}=${session}; Path=${BOARD_PATH}; HttpOnly; SameSite=Strict`);
        return;
      }
      const fromCookie = cookieValue(req.headers.cookie, COOKIE);
      if (fromCookie === undefined || !safeEqual(fromCookie, session)) return unauthorized(reply, 'evalhook admin');
    });
    await board.register(adapter.registerPlugin(), { prefix: BOARD_PATH });
  });
}
