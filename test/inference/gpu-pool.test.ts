/** The Redis GPU pool: atomic leases across workers, renewal while held, expiry after a worker dies. */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpuPool } from '../../src/inference/gpu-pool.js';
import { createInferenceLauncher, InferenceError } from '../../src/inference/index.js';
import type { LaunchRequest } from '../../src/ports.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { artifact, collectLog, fakeCommand, profile, tempDir, writeFull } from './helpers.js';

const GPUS = ['0', '1', '2', '3'];
const connections: Redis[] = [];
function connect(): Redis {
  const r = new Redis(redisUrl());
  connections.push(r);
  return r;
}
let redis: Redis;
beforeAll(() => {
  redis = connect();
});
afterAll(async () => {
  await Promise.all(connections.map((c) => (c.status === 'end' ? undefined : c.quit().catch(() => c.disconnect()))));
});

describe('GPU pool', () => {
  it('never hands one GPU to two workers racing for it', async () => {
    const prefix = uniquePrefix('gpu');
    // Ten "workers", each with its own connection, race for four GPUs; the losers give up after a deadline.
    const attempts = Array.from({ length: 10 }, (_, i) =>
      createGpuPool({ redis: connect(), prefix, ids: GPUS, pollMs: 50 })
        .acquire(1, { holder: `w${i}`, signal: AbortSignal.timeout(1_500) })
        .then(
          (l) => l,
          () => undefined,
        ),
    );
    const leases = (await Promise.all(attempts)).filter((l) => l !== undefined);
    expect(leases).toHaveLength(4);
    expect(new Set(leases.flatMap((l) => l.ids))).toEqual(new Set(GPUS));
    await Promise.all(leases.map((l) => l.release()));
    const pool = createGpuPool({ redis, prefix, ids: GPUS });
    expect(Object.values(await pool.holders())).toEqual([null, null, null, null]);
  });

  it('takes several GPUs at once or none', async () => {
    const prefix = uniquePrefix('gpu');
    const pool = createGpuPool({ redis, prefix, ids: GPUS, pollMs: 50 });
    const a = await pool.acquire(3, { holder: 'a', signal: new AbortController().signal });
    // Two are asked for, one is free: nothing is taken while waiting.
    const waiting = pool.acquire(2, { holder: 'b', signal: AbortSignal.timeout(600) }).then(
      () => 'got',
      () => 'gave up',
    );
    expect(await waiting).toBe('gave up');
    expect(Object.values(await pool.holders()).filter((h) => h?.startsWith('b|'))).toEqual([]);
    const b = pool.acquire(2, { holder: 'b', signal: AbortSignal.timeout(10_000) });
    await a.release();
    const got = await b;
    expect(got.ids).toHaveLength(2);
    await got.release();
  });

  it('keeps a lease alive past its TTL while held', async () => {
    const prefix = uniquePrefix('gpu');
    const holder = createGpuPool({ redis, prefix, ids: ['0'], leaseMs: 300 });
    const lease = await holder.acquire(1, { holder: 'a', signal: new AbortController().signal });
    const rival = createGpuPool({ redis: connect(), prefix, ids: ['0'], pollMs: 50 });
    // Four TTLs pass; renewal must keep the rival out the whole time.
    await expect(rival.acquire(1, { holder: 'b', signal: AbortSignal.timeout(1_200) })).rejects.toThrow();
    await lease.release();
  });

  it("lets a dead worker's lease expire so its GPUs return to the pool", async () => {
    const prefix = uniquePrefix('gpu');
    const doomed = connect();
    const dead = createGpuPool({ redis: doomed, prefix, ids: GPUS, leaseMs: 600 });
    await dead.acquire(4, { holder: 'dead-worker', signal: new AbortController().signal, onLost: () => {} });
    doomed.disconnect(); // the worker is gone: no renewals, no release
    const alive = createGpuPool({ redis, prefix, ids: GPUS, pollMs: 50 });
    const started = Date.now();
    const lease = await alive.acquire(4, { holder: 'alive', signal: AbortSignal.timeout(10_000) });
    expect(lease.ids.sort()).toEqual(GPUS);
    expect(Date.now() - started).toBeLessThan(5_000);
    await lease.release();
  });

  it('rejects at once when a profile asks for more GPUs than the pool has', async () => {
    const pool = createGpuPool({ redis, prefix: uniquePrefix('gpu'), ids: ['0'] });
    const err = await pool.acquire(2, { holder: 'a', signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).retryable).toBe(false);
  });

  it('rejects GPU ids that could smuggle anything into CUDA_VISIBLE_DEVICES', () => {
    expect(() => createGpuPool({ redis, prefix: 'x', ids: ['0', '1;rm'] })).toThrow(/GPU ids/);
  });

  it('gives two concurrent launches disjoint GPUs', async () => {
    const prefix = uniquePrefix('gpu');
    const cache = await tempDir('cache');
    const modelDir = await writeFull(join(cache, 'd'));
    const launcher = createInferenceLauncher({
      redis,
      prefix,
      secrets: {},
      gpuIds: GPUS,
      workDir: await tempDir('work'),
      killGraceMs: 500,
      pollMs: 100,
    });
    const req = (i: number): LaunchRequest => ({
      evaluationId: `ev-${prefix}-${i}`,
      profile: profile({ kind: 'process', command: fakeCommand(), gpus: 2 }),
      artifact: artifact(),
      download: async () => modelDir,
      signal: new AbortController().signal,
      log: collectLog().log,
    });
    const served = await Promise.all([launcher.launch(req(1)), launcher.launch(req(2))]);
    const ids = served.map((s) => s.describe.gpuIds as string[]);
    expect(ids[0]).toHaveLength(2);
    expect(ids[1]).toHaveLength(2);
    expect(new Set([...(ids[0] ?? []), ...(ids[1] ?? [])]).size).toBe(4);
    await Promise.all(served.map((s) => s.release()));
    expect(Object.values(await createGpuPool({ redis, prefix, ids: GPUS }).holders())).toEqual([
      null,
      null,
      null,
      null,
    ]);
  });
});
