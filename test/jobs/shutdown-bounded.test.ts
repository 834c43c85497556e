/**
 * Shutdown is bounded whatever Redis does (issue 14, item 8): a worker process in the middle of an
 * evaluation, sent SIGTERM after its Redis died, exits by SHUTDOWN_GRACE_MS + 5 s.
 */
import { once } from 'node:events';
import { afterEach, expect, it } from 'vitest';
import { startRedisServer, type OwnedRedis } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack | undefined;
let owned: OwnedRedis | undefined;
afterEach(async () => {
  await stack?.close().catch(() => undefined);
  await owned?.dispose();
  stack = undefined;
  owned = undefined;
});

it('a worker running an evaluation exits within SHUTDOWN_GRACE_MS + 5 s of SIGTERM after Redis died', async () => {
  const GRACE = 1_000;
  owned = await startRedisServer();
  stack = await startStack({
    redisUrl: owned.url,
    env: { SHUTDOWN_GRACE_MS: String(GRACE) },
    judge: { latencyMs: 50 },
  });
  const w = await stack.spawnWorker();
  await stack.enqueue();
  await stack.judge.waitForRequests(20);
  await owned.stop('SIGKILL');
  const t0 = performance.now();
  const exited = once(w.proc, 'exit');
  w.proc.kill('SIGTERM');
  await exited;
  const elapsed = performance.now() - t0;
  await owned.restart(); // the stack's own clean-up needs Redis
  // The bound the issue sets; the process enforces it with a timer, so a busy machine adds only
  // the delay of that timer firing.
  expect(elapsed).toBeLessThan(GRACE + 5_000 + 1_000);
});
