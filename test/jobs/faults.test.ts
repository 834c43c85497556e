import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type OwnedRedis } from '../helpers/redis-server.js';
import { redisUrl } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';

function judgePromptCounts(stack: Stack): Map<string, number> {
  const seen = new Map<string, number>();
  for (const r of stack.judge.requests) {
    const key = JSON.stringify(r.body.messages);
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}
const repeated = (s: Stack) => [...judgePromptCounts(s).values()].reduce((n, c) => n + c - 1, 0);

describe('pipeline faults across processes and Redis restarts', () => {
  let stack: Stack | undefined;
  let owned: OwnedRedis | undefined;
  afterEach(async () => {
    await stack?.close();
    await owned?.dispose();
    stack = undefined;
    owned = undefined;
  });

  it('worker SIGKILL mid-judging: another worker resumes; repeated judge calls <= those in flight at the kill', async () => {
    stack = await startStack({ redisUrl: redisUrl(), judge: { latencyMs: 25 } });
    const a = await stack.spawnWorker();
    const id = await stack.enqueue();
    await stack.judge.waitForRequests(60);
    const inFlightAtKill = stack.judge.inFlight;
    await a.kill('SIGKILL');
    await stack.spawnWorker();
    expect(await stack.finished(id)).toBe('completed');
    expect((await stack.service.get(id))?.status).toBe('succeeded');
    expect(judgePromptCounts(stack).size).toBe(160);
    expect(repeated(stack)).toBeLessThanOrEqual(inFlightAtKill);
  });

  it('judge 429 storm with Retry-After: completes, and two worker processes together never exceed the rate', async () => {
    // 2 evaluations on 2 workers against one judge limited to 4 in flight and 600 rpm.
    stack = await startStack({
      redisUrl: redisUrl(),
      env: { JUDGE_CONCURRENCY: '4', JUDGE_RPM: '600', WORKER_CONCURRENCY: '1' },
      judge: { latencyMs: 5 },
    });
    let n = 0;
    stack.judge.failWhen(() => (++n % 7 === 0 && n < 200 ? { status: 429, retryAfter: '1' } : undefined));
    await stack.spawnWorker();
    await stack.spawnWorker();
    const ids = [await stack.enqueue('acme/proj/model-a:v1'), await stack.enqueue('acme/proj/model-b:v1')];
    expect(await Promise.all(ids.map((id) => stack!.finished(id)))).toEqual(['completed', 'completed']);
    expect(stack.judge.maxInFlight).toBeLessThanOrEqual(4);
    // No 60 s window holds more than 600 judge requests (the whole run is far shorter than a window).
    expect(stack.judge.requests.length).toBeLessThanOrEqual(600);
    expect(judgePromptCounts(stack).size).toBe(320);
  });

  it('Redis (AOF) restarted mid-run: the evaluation completes and keeps what was acknowledged', async () => {
    owned = await startRedisServer({ appendonly: true });
    stack = await startStack({ redisUrl: owned.url, judge: { latencyMs: 10 } });
    await stack.startWorker();
    const id = await stack.enqueue();
    await stack.judge.waitForRequests(50);
    await owned.stop('SIGKILL');
    await owned.restart();
    expect(await stack.finished(id)).toBe('completed');
    expect((await stack.service.get(id))?.status).toBe('succeeded');
    expect(judgePromptCounts(stack).size).toBe(160);
  });
});
