/**
 * Slow clients cannot hold sockets (issue 14, item 6): a body trickled slower than the request
 * timeout is cut off, because Node checks for overdue requests every second rather than every 30 s.
 */
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { WEBHOOK_TOKEN, makeFixture, type Fixture } from './fixture.js';

let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

it('a trickled body is cut off at HTTP_REQUEST_TIMEOUT_MS, long before it completes', async () => {
  f = await makeFixture({ env: { HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '1000' } });
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = f.app.server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  const total = 200; // one byte per 50 ms: 10 s to send it all, far past the 1 s timeout
  let sent = 0;
  let reply = '';
  socket.on('data', (b) => (reply += b.toString()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    `POST /webhooks/wandb HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${WEBHOOK_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`,
  );
  const timer = setInterval(() => {
    if (sent < total && !socket.destroyed) {
      socket.write(' ');
      sent++;
    }
  }, 50);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  clearInterval(timer);
  // Cut off mid-body (with Node's default 30 s check interval all 200 bytes would have gone through).
  expect(sent).toBeLessThan(total);
  expect(reply).toMatch(/^HTTP\/1\.1 408/);
});

it('the defaults bound every phase: request 25 s (so a trickle is cut within 30 s), headers 10 s, idle socket 60 s, keep-alive 5 s', async () => {
  const { env } = loadConfig({ WEBHOOK_TOKEN: 'w'.repeat(16), ADMIN_TOKEN: 'a'.repeat(16) });
  expect(env.HTTP_REQUEST_TIMEOUT_MS + 1_000).toBeLessThanOrEqual(30_000);
  f = await makeFixture();
  const server = f.app.server;
  expect(server.requestTimeout).toBe(25_000);
  expect(server.headersTimeout).toBe(10_000);
  expect(server.keepAliveTimeout).toBe(5_000);
  expect(server.timeout).toBe(60_000);
});
