import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type OwnedRedis } from '../helpers/redis-server.js';
import { redisUrl } from '../helpers/redis.js';
import { judgePromptCounts, repeatedJudgeCalls, startStack, type Stack } from '../helpers/stack.js';

const repeated = repeatedJudgeCalls;

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
    await a.kill('SIGKILL');
    // The dead worker can start and save nothing more: judge calls it started minus the judgments it
    // checkpointed are exactly the calls in flight at the kill (sent, result not yet durable).
    const started = stack.judge.requests.length;
    const saved = (await stack.redis.hkeys(`${stack.env.QUEUE_PREFIX}:records:${id}`)).filter((k) =>
      k.startsWith('judgment'),
    ).length;
    const inFlightAtKill = started - saved;
    expect(inFlightAtKill).toBeLessThanOrEqual(Number(stack.config.env.JUDGE_CONCURRENCY));
    await stack.spawnWorker();
    expect(await stack.finished(id)).toBe('completed');
    expect((await stack.service.get(id))?.status).toBe('succeeded');
    expect(judgePromptCounts(stack).size).toBe(160);
    expect(repeated(stack)).toBeLessThanOrEqual(inFlightAtKill);
  });

  it('judge 429 storm with Retry-After: completes, and two worker processes together never exceed the rate', async () => {
    // 2 evaluations on 2 worker processes against one judge limited to 4 in flight and 2400 rpm,
    // enforced over a 1 s sliding window: at most 40 requests in any second.
    stack = await startStack({
      redisUrl: redisUrl(),
      env: { JUDGE_CONCURRENCY: '4', JUDGE_RPM: '2400', RATE_WINDOW_MS: '1000', WORKER_CONCURRENCY: '1' },
      // Every answer unique, so the second evaluation cannot be served from the judge cache.
      candidate: { respond: () => `answer ${randomUUID()}` },
    });
    const arrivals: number[] = [];
    let n = 0;
    stack.judge.failWhen(() => {
      arrivals.push(performance.now());
      return ++n % 7 === 0 && n < 60 ? { status: 429, retryAfter: '1' } : undefined;
    });
    await stack.spawnWorker();
    await stack.spawnWorker();
    const ids = [await stack.enqueue('acme/proj/model-a:v1'), await stack.enqueue('acme/proj/model-b:v1')];
    expect(await Promise.all(ids.map((id) => stack!.finished(id)))).toEqual(['completed', 'completed']);
    expect(stack.judge.maxInFlight).toBeLessThanOrEqual(4);
    expect(judgePromptCounts(stack).size).toBe(320);
    // What the limiter guarantees: at most 40 grants in any 1 s window of Redis time. The fake sees
    // arrivals, not grants: a request granted before a window may arrive inside it, but it holds one
    // of the 4 in-flight leases from grant to reply, so at most 4 such stragglers. Hence at most
    // 40 + 4 = 44 arrivals in any 1 s window, i.e. any 45 consecutive arrivals span at least 1 s
    // (less 2 ms: Redis TIME is read at ms resolution on a clock other than the fake's).
    const RATE_PER_WINDOW = 40;
    const MAX_IN_FLIGHT = 4;
    const span = RATE_PER_WINDOW + MAX_IN_FLIGHT;
    let tightest = Infinity;
    for (let i = 0; i + span < arrivals.length; i++) tightest = Math.min(tightest, arrivals[i + span]! - arrivals[i]!);
    expect(arrivals.length).toBeGreaterThan(320);
    expect(tightest).toBeGreaterThanOrEqual(998);
  });

  it('Redis (AOF) restarted mid-run: the evaluation completes and keeps what was acknowledged', async () => {
    owned = await startRedisServer({ appendonly: true });
    stack = await startStack({ redisUrl: owned.url, judge: { latencyMs: 10 } });
    await stack.startWorker();
    const id = await stack.enqueue();
    const done = stack.finished(id);
    await stack.judge.waitForRequests(50);
    await owned.stop('SIGKILL');
    await owned.restart();
    expect(await done).toBe('completed');
    expect((await stack.service.get(id))?.status).toBe('succeeded');
    expect(judgePromptCounts(stack).size).toBe(160);
  });
});

describe('graceful shutdown', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('SIGTERM past the grace period hands the running evaluation back without spending an attempt; another worker finishes it', async () => {
    // The old fixed limits keep the run longer than the grace period (adaptive ones finish it inside).
    stack = await startStack({
      redisUrl: redisUrl(),
      env: { SHUTDOWN_GRACE_MS: '300', INFERENCE_CONCURRENCY: '8', JUDGE_CONCURRENCY: '16' },
      judge: { latencyMs: 40 },
    });
    const a = await stack.spawnWorker();
    const id = await stack.enqueue();
    const done = stack.finished(id);
    await stack.judge.waitForRequests(30);
    await a.kill('SIGTERM');
    expect(a.proc.exitCode).toBe(0);
    expect(a.output()).toContain('handed back to the queue');
    const job = await stack.service.queue.getJob(id);
    expect(job?.attemptsMade).toBe(0);
    await stack.spawnWorker();
    expect(await done).toBe('completed');
    expect(judgePromptCounts(stack).size).toBe(160);
  });
});
